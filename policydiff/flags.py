"""The enforcement switch: the runbook's three flags and the modes they name.

`RBAC_V1_ENFORCE`, `RBAC_V2_SHADOW` and `RBAC_V2_ENFORCE` (docs/design.md, Enforcement switch)
say which policy's decision stands and whether the other one is evaluated beside it.
Three combinations mean something; every other one is refused with the flags named,
never guessed: an authorizer that silently picks a policy is the switch failing open.

Once v2 enforces, v1 stays in shadow, so comparisons go on after promotion and a
rollback has current evidence behind it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from policydiff.errors import Code, InputError

V1_ENFORCE = "RBAC_V1_ENFORCE"
V2_SHADOW = "RBAC_V2_SHADOW"
V2_ENFORCE = "RBAC_V2_ENFORCE"
FLAGS: tuple[str, ...] = (V1_ENFORCE, V2_SHADOW, V2_ENFORCE)
# Unset flags: the state before a track starts (v1 enforces alone).
DEFAULTS: Mapping[str, bool] = {V1_ENFORCE: True, V2_SHADOW: False, V2_ENFORCE: False}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class Mode(enum.Enum):
    """Which policy enforces, and which (if any) runs in shadow."""

    V1_ENFORCE = "v1_enforce"  # v1 alone
    V1_ENFORCE_V2_SHADOW = "v1_enforce_v2_shadow"  # the runbook's shadow phase
    V2_ENFORCE_V1_SHADOW = "v2_enforce_v1_shadow"  # after promotion

    @property
    def enforcing(self) -> str:
        """`"v1"` or `"v2"`: whose decision stands."""
        return "v2" if self is Mode.V2_ENFORCE_V1_SHADOW else "v1"

    @property
    def shadow(self) -> str | None:
        """`"v1"`, `"v2"` or None: which policy is evaluated beside the enforcing one."""
        return {Mode.V1_ENFORCE: None, Mode.V1_ENFORCE_V2_SHADOW: "v2",
                Mode.V2_ENFORCE_V1_SHADOW: "v1"}[self]

    def flags(self) -> dict[str, bool]:
        """The three flags that select this mode."""
        return {
            V1_ENFORCE: self.enforcing == "v1",
            V2_SHADOW: self is Mode.V1_ENFORCE_V2_SHADOW,
            V2_ENFORCE: self.enforcing == "v2",
        }

    def exports(self) -> str:
        """Shell lines that apply this mode: `export RBAC_V1_ENFORCE=true`, ..."""
        return "\n".join(f"export {k}={'true' if v else 'false'}" for k, v in self.flags().items())


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name)
    if raw is None:
        return DEFAULTS[name]
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InputError.at(Code.BAD_FLAG, f"`{name}` must be true or false, not `{raw}`")


def mode_from_flags(env: Mapping[str, str]) -> Mode:
    """The mode the flags in `env` (e.g. `os.environ`) select; an inconsistent
    combination raises `InputError` (`inconsistent_flags`) naming the flags."""
    v1, shadow, v2 = (_flag(env, name) for name in FLAGS)
    if v1 and v2:
        why = f"`{V1_ENFORCE}` and `{V2_ENFORCE}` are both true: only one policy can enforce"
    elif not v1 and not v2:
        why = f"`{V1_ENFORCE}` and `{V2_ENFORCE}` are both false: no policy would enforce"
    elif v2 and shadow:
        why = f"`{V2_SHADOW}` is true while `{V2_ENFORCE}` is: v2 cannot be its own shadow"
    else:
        return Mode.V2_ENFORCE_V1_SHADOW if v2 else (
            Mode.V1_ENFORCE_V2_SHADOW if shadow else Mode.V1_ENFORCE)
    raise InputError.at(Code.INCONSISTENT_FLAGS, why,
                        help="set exactly one of the enforce flags; "
                             f"`{V2_SHADOW}` only while v1 enforces")
