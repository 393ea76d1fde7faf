"""The enforcement switch: every combination of the three flags, and their spelling."""

from __future__ import annotations

import itertools

import pytest

from policydiff.errors import InputError
from policydiff.flags import FLAGS, Mode, mode_from_flags

VALID = {
    (True, False, False): Mode.V1_ENFORCE,
    (True, True, False): Mode.V1_ENFORCE_V2_SHADOW,
    (False, False, True): Mode.V2_ENFORCE_V1_SHADOW,
}


@pytest.mark.parametrize("combo", list(itertools.product([True, False], repeat=3)))
def test_every_combination_is_a_mode_or_refused(combo):
    env = {name: "true" if on else "false" for name, on in zip(FLAGS, combo, strict=True)}
    if combo in VALID:
        mode = mode_from_flags(env)
        assert mode is VALID[combo]
        assert tuple(mode.flags().values()) == combo  # flags() selects the same mode
    else:
        with pytest.raises(InputError) as err:
            mode_from_flags(env)
        assert err.value.code == "inconsistent_flags"


def test_unset_flags_mean_v1_enforcing_alone():
    assert mode_from_flags({}) is Mode.V1_ENFORCE
    assert mode_from_flags({"RBAC_V2_SHADOW": "1"}) is Mode.V1_ENFORCE_V2_SHADOW


def test_spellings_and_a_bad_value():
    assert mode_from_flags({"RBAC_V1_ENFORCE": " OFF ", "RBAC_V2_ENFORCE": "Yes"}) is Mode.V2_ENFORCE_V1_SHADOW
    with pytest.raises(InputError) as err:
        mode_from_flags({"RBAC_V2_SHADOW": "maybe"})
    assert err.value.code == "bad_flag" and "RBAC_V2_SHADOW" in str(err.value)


def test_exports_round_trip_through_the_environment():
    for mode in Mode:
        env = dict(line.removeprefix("export ").split("=", 1) for line in mode.exports().splitlines())
        assert mode_from_flags(env) is mode
    assert Mode.V2_ENFORCE_V1_SHADOW.enforcing == "v2" and Mode.V2_ENFORCE_V1_SHADOW.shadow == "v1"
    assert Mode.V1_ENFORCE.shadow is None
