"""Errors whose report depends on OPA's rule index (policydiff.compile.raising).

Generated rules of several bodies, some using a rule that conflicts for some inputs or a
builtin that fails in strict mode, are evaluated by OPA and by policydiff. Whatever
order OPA's index picks, policydiff never answers where OPA fails and never fails
where OPA answers; it gives OPA's own error or refuses `unsupported`. Rules none of
whose bodies can fail must not be guarded at all: that is what keeps them fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from engines import EngineError, OpaEngine, PolicydiffEngine, Refused
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policydiff import load_policy
from policydiff.compile import Ctx

POLICIES = Path(__file__).resolve().parents[1] / "policies"

# `val` conflicts when the role is admin and the flag is set; `pick(x)` when x is "b".
HELPERS = """
val := "a" if input.role == "admin"

val := "b" if {
	input.role == "admin"
	input.flag == true
}

pick(x) := 1 if x == "b"

pick(x) := 2 if startswith(x, "b")
"""

LITERALS = (
    'input.role == "admin"',
    'input.role == "viewer"',
    "input.flag == true",
    "input.flag",
    "not input.flag",
    'val == "a"',
    'pick(input.role) == 1',
    "input.n % 2 == 1",  # fails in strict mode for a non-integer n
    'startswith(input.role, "ad")',
)

INPUTS = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["admin", "viewer", "b", "bob"]),
        "flag": st.booleans(),
        "n": st.sampled_from([1, 2, 2.5, "x"]),
    },
)


@st.composite
def guarded_policies(draw) -> str:
    """`allow`, or a rule of two values, of 1 to 4 bodies of 1 to 3 literals."""
    kind = draw(st.sampled_from(["allow", "values", "set"]))
    rules = []
    for i in range(draw(st.integers(1, 4))):
        body = draw(st.lists(st.sampled_from(LITERALS), min_size=1, max_size=3, unique=True))
        inner = "\n\t".join(body)
        if kind == "allow":
            rules.append(f"allow if {{\n\t{inner}\n}}")
        elif kind == "values":
            rules.append(f"allow := {draw(st.sampled_from(['true', 'false']))} if {{\n\t{inner}\n}}")
        else:
            rules.append(f"allow contains {i} if {{\n\t{inner}\n}}")
    return "package g\n\nimport rego.v1\n\n" + "\n\n".join(rules) + "\n" + HELPERS


def _outcome(engine, inp):
    try:
        return "value", engine.evaluate("data.g.allow", inp)
    except (EngineError, Refused) as e:
        return "error", e


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=guarded_policies(), inputs=st.lists(INPUTS, min_size=1, max_size=4), strict=st.booleans())
def test_policydiff_never_answers_otherwise_than_opa_on_errors(source, inputs, strict):
    modules = {"g.rego": source}
    opa = OpaEngine(modules)  # strict builtin errors, always
    ours = PolicydiffEngine(modules, strict=strict)
    for inp in inputs:
        opa_kind, opa_out = _outcome(opa, inp)
        kind, out = _outcome(ours, inp)
        # OPA runs with strict builtin errors; policydiff without them answers as OPA's
        # default mode does, where a failing builtin only makes its expression undefined.
        modes_differ = not strict and opa_kind == "error" and "eval_conflict_error" not in str(opa_out)
        if kind == "error":
            assert isinstance(out, Refused), out
            if out.code == "unsupported":
                event("policydiff: unsupported, OPA's index decides")
            elif modes_differ:
                event("OPA strict builtin error; policydiff in default mode")
            else:
                assert opa_kind == "error" and out.code in str(opa_out), \
                    f"policydiff: {out}; OPA: {opa_out!r}\n{source}\n{inp}"
                event(f"both fail: {out.code}")
        elif modes_differ:
            event("OPA strict builtin error; policydiff in default mode")
        else:
            assert opa_kind == "value", f"OPA failed ({opa_out}), policydiff answered {out!r}\n{source}\n{inp}"
            assert out == opa_out, f"policydiff {out!r} != OPA {opa_out!r}\n{source}\n{inp}"
            event("both answer")


@pytest.mark.parametrize("name", ["rbac_v1.rego", "rbac_v2.rego"])
def test_example_policies_need_no_guard_by_default(name):
    # No body of the example policies can fail without strict builtin errors (rbac_v2's
    # graph.reachable can with them), so in the default mode no rule checks for errors.
    policy = load_policy(POLICIES / name)
    guards = [f for r in policy.program.rules.values() for f in vars(r).values() if hasattr(f, "fails")]
    assert all(not f.fails[False] for f in guards)
    assert len(guards) == (0 if name == "rbac_v1.rego" else 2)  # v2: allow and subject_roles, strict only
    allow = next(r for r in policy.program.rules.values() if r.name.endswith(".allow"))
    assert allow.value(Ctx({"subject": {}})) is False


def test_a_conflict_opa_surely_meets_is_reported_with_its_code():
    source = "package g\n\nimport rego.v1\n\nallow if {\n\tinput.role == \"admin\"\n\tval == \"a\"\n}\n" + HELPERS
    with pytest.raises(Refused, match="eval_conflict_error") as ours:
        PolicydiffEngine({"g.rego": source}).evaluate("data.g.allow", {"role": "admin", "flag": True})
    assert ours.value.code == "eval_conflict_error"
    with pytest.raises(EngineError, match="eval_conflict_error"):
        OpaEngine({"g.rego": source}).evaluate("data.g.allow", {"role": "admin", "flag": True})


def test_an_error_behind_a_holding_body_is_refused_naming_the_rule():
    source = ("package g\n\nimport rego.v1\n\nallow if input.role == \"admin\"\n\nallow if val == \"a\"\n"
              + HELPERS)
    with pytest.raises(Refused) as ours:
        PolicydiffEngine({"g.rego": source}).evaluate("data.g.allow", {"role": "admin", "flag": True})
    assert ours.value.code == "unsupported"
    assert "data.g.allow" in str(ours.value) and "eval_conflict_error" in str(ours.value)
    # without the conflict, the rule answers as before
    assert PolicydiffEngine({"g.rego": source}).evaluate("data.g.allow", {"role": "admin"}) is True
