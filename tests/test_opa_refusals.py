"""Refusals as OPA makes them: the same module through policydiff and real OPA.

Each module here once diverged: policydiff loaded what OPA refuses, refused with a
different first code, or named something else than OPA's message names. Where OPA
refuses, policydiff must refuse with OPA's first code on OPA's line; where OPA answers,
policydiff answers the same value (or declines the module as `unsupported`).
"""

from __future__ import annotations

import re

import pytest
from engines import EngineError, OpaEngine, PolicydiffEngine, Refused
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policydiff import PolicyError, load_policy


def _module(rules: str) -> dict[str, str]:
    return {"typ.rego": f"package typ\n\nimport rego.v1\n\n{rules}\n"}


def _opa(modules) -> tuple[str, int, str] | None:
    """OPA's first error (code, line, whole message) on `modules`, or None when it loads them."""
    try:
        OpaEngine(modules).close()
    except EngineError as e:
        found = re.search(r"typ\.rego:(\d+): (rego_\w+_error)\b", str(e))
        assert found, f"OPA refused without a rego_*_error code: {e}"
        return found.group(2), int(found.group(1)), str(e)
    return None


def _ours(rules: str) -> PolicyError | None:
    try:
        load_policy(_module(rules)["typ.rego"])
    except PolicyError as e:
        return e
    return None


def _assert_refused_as_opa(rules: str) -> tuple[PolicyError, str]:
    theirs = _opa(_module(rules))
    assert theirs is not None, "OPA loads this module"
    code, line, message = theirs
    ours = _ours(rules)
    assert ours is not None, f"policydiff loads a module OPA refuses with {code}"
    assert (ours.code, ours.diagnostics[0].span.line) == (code, line), f"{ours}\nopa: {message}"
    return ours, message


def _assert_refused_exactly_when_opa_refuses(rules: str) -> None:
    """A drawn module: where OPA loads it, policydiff loads it or declines it as
    unsupported; where OPA refuses it, policydiff refuses it with OPA's first code."""
    theirs, ours = _opa(_module(rules)), _ours(rules)
    event(f"opa {theirs[0] if theirs else 'accepts'}")
    if theirs is None:
        assert ours is None or ours.code == "unsupported", f"{rules}\n{ours}"
    else:
        assert ours is not None and ours.code == theirs[0], f"{rules}\nopa: {theirs}\nours: {ours}"


# ------------------------------------------------------------------- unsafe variables

UNSAFE_IN_A_HEAD = {
    "value-of-a-rule": "p := v",
    "value-bound-by-an-unsafe-assignment": "p := v if { v := w }",
    "value-bound-by-an-unsafe-unification": "p := v if { v = w }",
    "value-inside-an-array": "p := [v] if { v := w }",
    "value-of-a-partial-object": "p[k] := v if { k := 1 }",
    "key-of-a-partial-object": "p[k] := v if { some k; v := 1 }",
    "member-of-a-partial-set": "p contains v if { v := w }",
    "value-of-a-function": "f(a) := v if { v := w }",
    "head-of-a-comprehension": "x if { z := [y | true] }",
}


@pytest.mark.parametrize("case", sorted(UNSAFE_IN_A_HEAD))
def test_an_unsafe_variable_in_a_head_is_named_as_opa_names_it(case):
    """A head's value is unified with a variable of the compiler's own, which is unsafe
    through the author's variable: only the author's is named (it once read `_`)."""
    ours, message = _assert_refused_as_opa(UNSAFE_IN_A_HEAD[case])
    named = {re.search(r"var `([^`]+)`", d.message).group(1) for d in ours.diagnostics}
    assert named <= set(re.findall(r"var (\S+) is unsafe", message)), f"{ours}\nopa: {message}"
    assert "_" not in named


# ------------------------------------------------------- rules and variables named `data`, `input`

ROOT_OVERRIDES = {
    "complete-rule": "data := 1",
    "rule-by-a-reference-head": "data.x := 1",
    "default-rule": "default data := 1",
    "partial-set": "input contains 1",
    "partial-object": "input[x] := 1 if x := 1",
    "function": "data(x) := 1",
    "two-rules": "input := 1\ndata := 2",
    "function-parameter": "f(data) := 1",
    "function-parameter-in-an-array": "f([1, [input]]) := 1",
    "function-parameter-in-an-object": 'f({"a": data}) := 1',
    "assignment-in-a-comprehension": "x := [data | data := 1]",
    "assignment-in-an-every-body": "x if { every y in [1] { data := y } }",
    "assignment-in-an-else-body": "x := 1 if { false } else := 2 if { data := 1 }",
    "before-a-conflict": "p := 1\np contains 2\nx if { input := 2 }",
}


@pytest.mark.parametrize("case", sorted(ROOT_OVERRIDES))
def test_a_name_shadowing_a_root_document_is_refused_first(case):
    """OPA's first compile stage refuses rules, function parameters and `:=` targets
    named `data` or `input`, and stops there: policydiff loaded the rules (and read
    `data` as a rule of the package), and did not look inside comprehensions."""
    ours, message = _assert_refused_as_opa(ROOT_OVERRIDES[case])
    assert "must not shadow" in ours.diagnostics[0].message
    assert len(ours.diagnostics) == message.count("must not shadow")


# ------------------------------------------------------------------------ conflicting rules

RULE_CONFLICTS = {
    "ref-head-with-a-variable-then-the-rule-at-its-root": 'a[x].c := 1 if some x in ["q"]\na := 1',
    "ref-head-then-a-default-at-its-root": 'a[x].c := 1 if some x in ["q"]\ndefault a := 1',
    "ref-head-then-a-partial-set-at-its-root": 'a[x].c := 1 if some x in ["q"]\na contains 1',
    "ref-head-below-a-rule-then-the-rule": 'a.b[x].c := 1 if some x in ["q"]\na.b := 1',
    "function-below-a-ref-head-after-it": 'a.b(x) := 1\na[x].c := 1 if some x in ["q"]',
    "function-with-a-ref-head-below-it": 'a.b(x) := 1\nz := 1\na.b.c[x] := 1 if some x in ["q"]',
    "ref-head-and-function-at-one-path": 'a.b[x] := 1 if some x in ["q"]\na.b(x) := 1',
    "rule-with-rules-below-it-at-a-later-node": 'a.b[x] := 1 if some x in ["q"]\nz := 2\na[y].c := 1 if some y in ["q"]\na := 1',
    "rule-after-the-ref-heads-at-its-node": 'a[y].c := 1 if some y in ["q"]\na.b[x] := 1 if some x in ["q"]\na := 1',
    "rule-with-a-ref-head-below-it-last": 'a.b.c[y] := 1 if some y in ["q"]\na[x] := 1 if some x in ["q"]\na.b := 1',
    "rule-with-a-ref-head-below-it-first": 'a.b := 1\na.b.c[y] := 1 if some y in ["q"]\na[x] := 1 if some x in ["q"]',
    "functions-of-two-arities": "f(x) := 1\nz := 1\nf(x, y) := 2",
    "complete-then-partial-set": "p := 1\nz := 1\np contains 2",
    "partial-set-then-complete": "p contains 2\nz := 1\np := 1",
    "partial-object-and-partial-set": "p[x] := 1 if x := 1\np contains 1",
    "complete-then-function": "p := 1\nz := 1\np(x) := 2",
    "rule-then-a-rule-below-it": "p.q := 1\nz := 1\np.q.r := 2",
    "rule-below-then-the-rule-above": "p.q.r := 1\nz := 1\np.q := 2",
}


@pytest.mark.parametrize("case", sorted(RULE_CONFLICTS))
def test_conflicting_rules_are_reported_at_opa_s_rule(case):
    """OPA reports a conflict at the first rule of the rule-tree node it finds it at (the
    rule's path up to its first variable), not at the later rule: policydiff reported
    the later one."""
    _assert_refused_as_opa(RULE_CONFLICTS[case])


# -------------------------------------------------------------- function parameter patterns

PATTERN_CALLS_REFUSED = {
    "array-pattern-given-a-shorter-array": "f([a, b]) := a\nx := f([1])",
    "array-pattern-given-a-longer-array": "f([a, b]) := a\nx := f([1, 2, 3])",
    "array-pattern-given-an-empty-array": "f([a, b]) := a\nx := f([])",
    "array-pattern-through-a-variable": "f([a, b]) := a\nx if { y := [1]; f(y) }",
    "array-pattern-through-a-rule": "f([a, b]) := a\nr := [1]\nx := f(r)",
    "array-pattern-in-a-comprehension": "f([a, b]) := a\nx := [v | v := f([1])]",
    "array-pattern-negated": "f([a, b]) := a\nx if { not f([1]) }",
    "array-pattern-second-parameter": "f(x, [a, b]) := a\ny := f(1, [2])",
    "nested-array-pattern": "f([a, [b]]) := a\nx := f([1, [1, 2]])",
    "nested-array-pattern-given-an-empty-array": "f([[a]]) := 1\nx := f([[]])",
    "object-pattern-of-other-keys": 'f({"a": a}) := a\nx := f({"b": 1})',
    "object-pattern-of-fewer-keys": 'f({"a": a}) := a\nx := f({"a": 1, "b": 2})',
    "object-pattern-given-an-empty-object": 'f({"a": a}) := a\nx := f({})',
    "object-pattern-given-an-empty-member": 'f({"a": [a]}) := a\nx := f({"a": []})',
    "pattern-variable-typed-by-its-body": 'f([a, b]) := a + 1\nx := f(["s", 1])',
}

PATTERN_CALLS_ACCEPTED = {
    "array-pattern-given-its-length": 'f([a, b]) := a\nx := f(["s", 1])',
    "array-pattern-given-a-comprehension": "f([a, b]) := a\nx := f([y | y := 1])",
    "array-pattern-given-the-input": "f([a, b]) := a\nx := f(input.x)",
    "another-definition-takes-it": "f([a, b]) := a\nf([a]) := a\nx := f([1])",
    "a-definition-of-a-variable-takes-it": "f([a, b]) := a\nf(q) := 1\nx := f([1])",
    "pattern-variable-of-the-right-type": 'f([a, b]) := a + 1\nx := f([1, "s"])',
    "pattern-variable-given-the-input": 'f([a, b]) := a + 1\nx := f([input.x, "s"])',
    "empty-array-through-a-variable": "f([a]) := 1\nx if { y := []; f(y) }",
    "empty-array-through-a-rule": "f([a]) := 1\nr := []\nx := f(r)",
    "empty-pattern-given-an-array": "f([]) := 1\nx := f([1])",
    "empty-patterns-inside-take-any-member": 'f([c, {}, []]) := c\nx := f([1, {"k": 1}, [2]])',
}


@pytest.mark.parametrize("case", sorted(PATTERN_CALLS_REFUSED))
def test_an_argument_no_parameter_pattern_can_match_is_refused(case):
    """OPA types a function's parameter pattern position by position (and key by key),
    with the types its body gives the variables: a call whose argument cannot match is
    a type error at the call. policydiff loaded these, undefined where OPA refuses."""
    _assert_refused_as_opa(PATTERN_CALLS_REFUSED[case])


@pytest.mark.parametrize("case", sorted(PATTERN_CALLS_ACCEPTED))
def test_an_argument_a_parameter_pattern_may_match_is_evaluated_as_opa(case):
    _assert_answered_as_opa(PATTERN_CALLS_ACCEPTED[case])


def _assert_answered_as_opa(rules: str) -> None:
    modules = _module(rules)
    opa = OpaEngine(modules)
    ours = PolicydiffEngine(modules)
    for inp in ({}, {"x": 1}, {"x": [3, 4]}):
        assert _answer(ours, inp) == _answer(opa, inp)


def _answer(engine, inp):
    """The document `data.typ`, or the code of the evaluation error (both engines stop on one)."""
    try:
        return engine.evaluate("data.typ", inp)
    except EngineError as e:
        found = re.search(r"eval_\w+_error", str(e))
        if found is None:  # declined (`unsupported`), no evaluation error
            raise
        return found.group(0)


# ------------------------------------------------------------ one variable, two positions

REPEATED_VARIABLES_REFUSED = {
    "number-and-string": 'x if { [a, a] = [1, "s"] }',
    "pattern-on-the-right": 'x if { [1, "s"] = [a, a] }',
    "three-positions": 'x if { [a, a, a] = [1, 1, "s"] }',
    "null-and-boolean": "x if { [a, a] = [null, false] }",
    "object-pattern": 'x if { {"k": a, "j": a} = {"k": 1, "j": "s"} }',
    "nested-position": 'x if { [a, [a]] = [1, ["s"]] }',
    "arrays-of-two-lengths": "x if { [a, a] = [[1], [2, 3]] }",
    "arrays-of-two-member-types": 'x if { [a, a] = [[1], ["s"]] }',
    "arrays-of-swapped-types": 'x if { [a, a] = [[1, "s"], ["s", 1]] }',
    "objects-of-other-keys": 'x if { [a, a] = [{"k": 1}, {"j": 1}] }',
    "objects-of-other-value-types": 'x if { [a, a] = [{"k": 1}, {"k": "s"}] }',
    "sets-of-two-types": 'x if { [a, a] = [{1}, {"s"}] }',
    "array-and-comprehension": 'x if { [a, a] = [[1], [q | q := "s"]] }',
    "through-a-variable": 'x if { y := [1, "s"]; [a, a] = y }',
    "in-a-comprehension": 'x := [a | [a, a] = [1, "s"]]',
    "iterated": 'x if { some [a, a] in [[1, "s"]] }',
    "bound-then-matched-inside": "x if { [a, [a]] = [1, 1] }",
    "matched-inside-then-bound": "x if { [[a], a] = [1, 1] }",
}

REPEATED_VARIABLES_ACCEPTED = {
    "numbers": "x if { [a, a] = [1, 2] }",
    "integer-and-float": "x if { [a, a] = [1, 1.5] }",
    "a-number-and-the-input": "x if { [a, a] = [1, input.x] }",
    "an-empty-array-first": "x if { [a, a] = [[], [1]] }",
    "an-empty-object-first": 'x if { [a, a] = [{}, {"k": 1}] }',
    "split-and-strings": 'x if { [a, a] = [split("a", ","), ["s", "t"]] }',
    "one-position-fails-another-binds": "x := b if { [b, [a]] = [1, [2]] }",
}

PARTLY_BOUND = {  # where one position cannot match, OPA still binds the others: only its variables are unsafe
    "unify": "x if { [b, [a]] = [1, 1] }",
    "assign": "x if { [b, [a]] := [1, 1] }",
    "assign-of-another-length-inside": "x if { [b, [a]] := [1, [1, 2]] }",
    "object": 'x if { {"k": b, "j": [a]} = {"k": 1, "j": 1} }',
}


@pytest.mark.parametrize("case", sorted(REPEATED_VARIABLES_REFUSED))
def test_a_variable_matched_to_two_types_is_refused(case):
    """OPA types a variable a pattern holds twice by its first position and refuses a
    second of another static type (kind, length, keys): policydiff loaded these."""
    _assert_refused_as_opa(REPEATED_VARIABLES_REFUSED[case])


@pytest.mark.parametrize("case", sorted(REPEATED_VARIABLES_ACCEPTED))
def test_a_variable_matched_to_one_type_is_evaluated_as_opa(case):
    _assert_answered_as_opa(REPEATED_VARIABLES_ACCEPTED[case])


@pytest.mark.parametrize("case", sorted(PARTLY_BOUND))
def test_a_pattern_binds_the_positions_that_match(case):
    """policydiff read the whole unification as a comparison and named every variable
    of the pattern unsafe; OPA names only those of the position that cannot match."""
    ours, message = _assert_refused_as_opa(PARTLY_BOUND[case])
    named = {re.search(r"var `([^`]+)`", d.message).group(1) for d in ours.diagnostics}
    assert named == set(re.findall(r"var (\S+) is unsafe", message)) == {"a"}


# ------------------------------------------------- values a rule gives through a body variable

THROUGH_A_BODY_VARIABLE_REFUSED = {
    "missing-key-of-a-partial-object-value": 'o[k] := v if { some k in ["a"]; v := {"q": 1} }\nx := o.a.z',
    "index-beyond-a-partial-object-value": 'o[k] := v if { some k in ["a"]; v := [1] }\nx := o.a[3]',
    "pattern-of-another-length-over-a-partial-object": 'o[k] := v if { some k in ["a"]; v := ["s"] }\nx if { some [a, b] in o }',
    "key-no-iterated-value-has": 'o[k] := v if { some k in ["a"]; some v in [{"q": 1}, {"z": 2}] }\nx := o.a.w',
    "member-of-a-partial-object-iterated": 'o[k] := v if { some k in ["a"]; v := {"q": 1} }\nx if { some w in o; w.z }',
    "member-of-a-partial-set-iterated": 's contains v if { v := {"q": 1} }\nx if { some w in s; w.z }',
    "member-of-a-partial-set-by-key": 's contains v if { v := {"q": 1} }\nx if { s[w]; w.z }',
    "member-of-a-partial-set-of-an-iteration": 's contains v if { some v in [{"q": 1}] }\nx if { some w in s; w.z }',
    "position-of-a-value-of-two-definitions": 'p[k] := [1, [2]] if { some k in ["a"] }\np[k] := "a" if { some k in ["b"] }\nx if { p.a[1] + 1 }',
    "key-of-a-scalar-or-an-object-of-other-keys": 'p[k] := v if { some k in ["a"]; v := 1 }\n'
                                                  'p[k] := v if { some k in ["c"]; v := {"b": 1} }\nx if { p.a.a }',
    "member-of-a-partial-set-of-a-scalar-or-an-object": 'p contains v if { v = {"b": {1: "a"}} }\n'
                                                        'p contains v if { v = 0 }\nx if { p[w]; count(w[0][1]) }',
}

THROUGH_A_BODY_VARIABLE_ACCEPTED = {
    "key-the-value-has": 'o[k] := v if { some k in ["a"]; v := {"q": 1} }\nx := o.a.q',
    "key-another-definition-gives": 'o[k] := v if { some k in ["a"]; v := {"q": 1} }\no[k] := v if { some k in ["b"]; v := {"w": 1} }\nx := o.a.w',
    "value-of-the-input": 'o[k] := v if { some k in ["a"]; v := input.x }\nx := o.a.w',
    "key-another-member-has": 's contains v if { v := {"q": 1} }\ns contains {"z": 1}\nx if { some w in s; w.z }',
    "member-of-the-input": 's contains v if { v := {"q": 1} }\ns contains input.x\nx if { some w in s; w.z }',
    "member-looked-up": "s contains v if { v := [1] }\nx if { s[[2]] }",
    "scalar-members-by-their-type": 's contains v if { v = 0 }\ns contains v if { v = "s" }\nx if { s[w]; w + 1 }\ny if s[0]',
    "scalar-member-used-as-a-number": "s contains v if { v = 0 }\nx if { s[w]; w + 1 }",
    "key-below-a-ref-head-s-constant": 'o[k].p := {"q": 1} if { some k in ["a"] }\nx := o.a.r',
}


@pytest.mark.parametrize("case", sorted(THROUGH_A_BODY_VARIABLE_REFUSED))
def test_a_rule_s_value_through_a_body_variable_is_typed_as_opa_types_it(case):
    """`p[k] := v` and `s contains v` with `v` bound in the body to a literal: OPA's
    checker knows the literal's keys there, as for a literal in the head; policydiff
    knew them only in the head."""
    _assert_refused_as_opa(THROUGH_A_BODY_VARIABLE_REFUSED[case])


@pytest.mark.parametrize("case", sorted(THROUGH_A_BODY_VARIABLE_ACCEPTED))
def test_a_rule_s_value_through_a_body_variable_that_fits_is_evaluated_as_opa(case):
    _assert_answered_as_opa(THROUGH_A_BODY_VARIABLE_ACCEPTED[case])


# ------------------------------------------------- keys of an object literal not all constant

OBJECT_KEYS_REFUSED = {
    "number-into-a-reference-and-an-array-key": 'p if { c := {input.n: "v1", [input.n]: "v1"}; c[0] }',
    "array-key-written-first": 'p if { c := {[input.n]: "v1", input.n: "v1"}; c[0] }',
    "number-beside-a-constant-key": 'p if { c := {1: "v1", [input.n]: "v1"}; c[0] }',
    "array-and-set-keys": 'p if { c := {{input.n}: 1, [input.m]: 2}; c[0] }',
    "variable-key-used-as-a-number": 'p if { c := {input.n: "v1", [input.n]: "v1"}; x := c[k]; k == 0 }',
    "iterated-key-used-as-a-number": 'p if { c := {input.n: "v1", [input.n]: "v1"}; some k, _ in c; k == 0 }',
    "array-into-an-array-and-a-set-key": 'p if { c := {[input.n]: "v1", {input.n}: 1}; c[[0]] }',
}

OBJECT_KEYS_ACCEPTED = {
    "number-into-a-reference-key": 'p if { c := {input.n: "v1"}; c[0] }',
    "number-beside-a-constant-array-key": 'p if { c := {[1]: "v1", input.n: "v1"}; c[0] }',
    "variable-key-beside-a-number-key": 'p if { c := {input.n: "v1", 3: "v1"}; x := c[k]; k == 0 }',
    "array-into-a-reference-and-an-array-key": 'p if { c := {input.n: "v1", [input.n]: "v1"}; c[[3]] }',
}


@pytest.mark.parametrize("case", sorted(OBJECT_KEYS_REFUSED))
def test_an_object_literal_s_non_constant_keys_are_typed_as_opa_types_them(case):
    """OPA types an object literal by its constant keys and one non-constant key, the
    greatest in its order of terms (an array over a reference), whose type overwrites
    the others': `{input.n: …, [input.n]: …}[0]` is a type error there. policydiff
    took every key's type together and answered."""
    _assert_refused_as_opa(OBJECT_KEYS_REFUSED[case])


@pytest.mark.parametrize("case", sorted(OBJECT_KEYS_ACCEPTED))
def test_an_object_literal_whose_kept_key_fits_is_evaluated_as_opa(case):
    _assert_answered_as_opa(OBJECT_KEYS_ACCEPTED[case])


_KEYS = ["input.n", "[input.n]", "{input.n}", "1", '"a"', "[1]", "x", "[x]", "true", "null"]
_KEY_USES = ["c[0]", 'c["a"]', "c[[0]]", "c[{0}]", "c[true]", "c[null]", "c[1]", "c[k]; k == 0", 'c[k]; k == "a"',
             "c[k]; k == [0]", "some k, _ in c; k == 0"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys=st.lists(st.sampled_from(_KEYS), min_size=1, max_size=3, unique=True), use=st.sampled_from(_KEY_USES))
def test_lookups_in_object_literals_of_mixed_keys_are_refused_exactly_when_opa_refuses(keys, use):
    """An object literal of constant and non-constant keys, looked up by a constant, by
    a variable then compared, or iterated: refused with OPA's code exactly when OPA
    refuses it."""
    obj = "{" + ", ".join(f"{k}: {i}" for i, k in enumerate(keys)) + "}"
    rules = f"p if {{ x := input.m; c := {obj}; {use} }}"
    _assert_refused_exactly_when_opa_refuses(rules)


# --------------------------------------------------------- what a pattern cannot bind

CANNOT_BIND = {
    "value-under-a-reference-key": "x if { {input.a: b} := {1: 1} }",
    "value-under-a-reference-key-unified": 'x := b if { {input.a: b} = {"q": 1} }',
    "value-facing-a-reference-key": 'x := b if { {"q": b} = {input.a: 1} }',
    "value-under-a-variable-key": 'x := b if { k := "q"; {k: b} = {"q": 1} }',
    "function-parameter-of-the-input": "f(input.x) := 1",
    "function-parameter-of-data": "f(data.x) := 1",
    "function-parameter-of-a-variable-s-member": "f(x.y) := 1",
    "function-parameter-holding-a-reference": "f([input.x]) := 1",
}


@pytest.mark.parametrize("case", sorted(CANNOT_BIND))
def test_a_variable_a_pattern_cannot_bind_is_unsafe(case):
    """OPA pairs object values by keys that are the same term, so a value under a key
    only evaluation knows binds nothing; and a reference is no parameter pattern.
    policydiff bound the first at run time (and answered where OPA refuses the
    module) and accepted the second."""
    ours, message = _assert_refused_as_opa(CANNOT_BIND[case])
    named = {re.search(r"var `([^`]+)`", d.message).group(1) for d in ours.diagnostics}
    assert named == set(re.findall(r"var (\S+) is unsafe", message))


def test_a_pattern_under_a_reference_key_still_compares():
    """Bound beforehand, the variables make the unification a comparison, in both."""
    modules = _module('x := b if { b := 1; {input.a: b} = {"q": 1} }')
    opa, ours = OpaEngine(modules), PolicydiffEngine(modules)
    for inp in ({}, {"a": "q"}, {"a": "r"}):
        assert ours.evaluate("data.typ.x", inp) == opa.evaluate("data.typ.x", inp)
    assert ours.evaluate("data.typ.x", {"a": "q"}) == 1


def test_a_pattern_local_named_like_a_root_document_is_only_unsupported():
    """OPA accepts `[data, y] := [1, 2]` (a local `data`); policydiff declines it as
    unsupported, and only so: it once also read the rule as recursive through `data`."""
    for rules in ("x if { [data, y] := [1, 2] }", 'x if { {"a": data} := {"a": 1} }'):
        assert _opa(_module(rules)) is None
        ours = _ours(rules)
        assert ours is not None and {d.code for d in ours.diagnostics} == {"unsupported"}, ours
        assert "shadows the data document" in str(ours)


def test_two_default_rules_are_reported_at_the_package_as_opa_does():
    rules = "default p := 1\nz := 1\ndefault p := 2"
    ours, _ = _assert_refused_as_opa(rules)
    assert ":5:" in ours.diagnostics[0].message and ":7:" in ours.diagnostics[0].message  # both named


# ---------------------------------------------------------------------------- random sweeps

_PATTERN = st.recursive(
    st.sampled_from(["a", "b", "c", "1", '"s"', "true"]),
    lambda inner: st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
    | st.lists(st.tuples(st.sampled_from(['"k"', '"j"']), inner), max_size=2, unique_by=lambda p: p[0]).map(
        lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"),
    max_leaves=5,
)
_ARGUMENT = st.recursive(
    st.sampled_from(["1", '"s"', "true", "null", "input.x", "[q | q := 1]"]),
    lambda inner: st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
    | st.lists(st.tuples(st.sampled_from(['"k"', '"j"']), inner), max_size=2, unique_by=lambda p: p[0]).map(
        lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"),
    max_leaves=5,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=_PATTERN, other=st.none() | _PATTERN, arg=_ARGUMENT, use=st.sampled_from(["", "+ 1", "count"]),
       how=st.sampled_from(["direct", "variable", "rule"]))
def test_calls_of_functions_of_parameter_patterns_are_refused_exactly_when_opa_refuses(pattern, other, arg, use, how):
    """A function of a parameter pattern (and maybe a second definition), its body using
    a variable of it as a number or a collection, called on an argument written
    directly, through a variable or through a rule: refused as OPA refuses it."""
    names = sorted(set(re.findall(r"(?<![\w\"])[abc](?![\w\"])", pattern)))
    head = "1" if not names else {"": names[0], "+ 1": f"{names[0]} + 1", "count": f"count({names[0]})"}[use]
    rules = f"f({pattern}) := {head}" + (f"\nf({other}) := 2" if other else "")
    rules += {"direct": f"\nx := f({arg})", "variable": f"\nx if {{ y := {arg}; f(y) }}",
              "rule": f"\nr := {arg}\nx := f(r)"}[how]
    _assert_refused_exactly_when_opa_refuses(rules)


# ------------------------------------------------------------------------- default values

DEFAULT_VALUES_REFUSED = {
    "reference-to-the-input": "default p := input.a",
    "the-input": "default p := input",
    "reference-to-data": "default p := data.x",
    "reference-inside-a-literal": 'default p := [1, {"a": input.a}]',
    "call": "default p := count([1])",
    "arithmetic": "default p := 1 + 2",
    "variable": "default p := z",
    "variable-inside-a-literal": "default p := [z]",
    "wildcard": "default p := [_]",
    "function-parameter": "default f(x) := x",
    "reference-head": "default p.q := input.x",
    "beside-a-later-type-error": 'default p := input.a\nq := count(1)',
}


@pytest.mark.parametrize("case", sorted(DEFAULT_VALUES_REFUSED))
def test_a_default_value_that_is_not_a_constant_is_a_parse_error(case):
    """OPA's parser refuses a variable, reference or call in a `default` value (and
    compiles nothing then); policydiff evaluated `default p := count([1])` and read
    `default p := input.a` as the input."""
    ours, _ = _assert_refused_as_opa(DEFAULT_VALUES_REFUSED[case])
    assert {d.code for d in ours.diagnostics} == {"rego_parse_error"}


def test_a_default_value_holding_a_comprehension_is_evaluated_as_opa():
    _assert_answered_as_opa("default p := [x | x := 1]\ndefault f(_) := {1, 2}")


# ------------------------------------------------------------ `x := …` reading `x` itself

SELF_REFERENCING_ASSIGNMENTS = {
    "key-of-its-own-value": "f if { x := input[x] }",
    "argument-of-its-own-value": "f if { x := count([x]) }",
    "itself": "f if { x := x }",
    "in-an-array-pattern": "f if { [x, y] := [1, x] }",
    "after-another-assignment": "f if { x := input[_]; y := input[y] }",
    "in-a-rule-s-value": "p := x if { x := input[x] }",
    "in-a-function": "f(x) := y if { y := input[y] }",
    "in-a-comprehension": "r if { [null | x := input[x]] }",
    "in-a-comprehension-of-a-rule-s-value": "r := [null | x := input[x]]",
    "in-an-every-body": "r if { every y in [1] { x := input[x]; x } }",
    "a-rule-s-name-in-a-comprehension": "x := 1\nr := [x | x := x]",
    "a-rule-s-name": "x := 1\nr if { x := x }",
}


@pytest.mark.parametrize("case", sorted(SELF_REFERENCING_ASSIGNMENTS))
def test_an_assignment_reading_its_own_variable_is_refused(case):
    """OPA reads the right of `x := …` before declaring `x`, so an `x` there is one
    referenced above: policydiff iterated `input[x]` to bind `x`, loading the module."""
    _assert_refused_as_opa(SELF_REFERENCING_ASSIGNMENTS[case])


def test_an_assignment_of_a_comprehension_of_its_own_name_is_evaluated_as_opa():
    _assert_answered_as_opa("f if { x := [x | x := 1] }\ng := x if { x := {x: 1 | some x in [1]} }")


# ------------------------------------------------------------ variables bound, or not

def test_a_reference_keyed_by_its_own_head_is_unsafe():
    """`x[x]`: the key cannot bind the variable it is looked up in (OPA: unsafe);
    policydiff bound `x` through its own key and loaded the module."""
    for rules in ("p if { x[x] }", "p := x if { x[x] }", "p if { x[x] == 1 }"):
        _assert_refused_as_opa(rules)
    _assert_answered_as_opa("p if { k[0] == input.o[k] }")  # another operand's key binds it


WITH_VALUES_OF_VARIABLES = [
    "q contains x if { input.a with input.a as input.b[x] }",
    "q contains [x, v] if { v := input.a with input.a as input.b[x] }",
    "q contains x if { input.c with input.a as input.b[x] }",
    "r if { true with input.a as input.b[_] }",
    "q contains x if { not input.z with input.a as input.b[x] }",
]


@pytest.mark.parametrize("rules", WITH_VALUES_OF_VARIABLES)
def test_a_with_value_holding_variables_iterates_first(rules):
    """OPA evaluates a `with` value holding variables as a literal of its own before the
    expression, so `input.b[x]` binds `x` (an outer iteration); policydiff found `x`
    unsafe."""
    modules = _module(rules)
    opa, ours = OpaEngine(modules), PolicydiffEngine(modules)
    for inp in ({}, {"b": ["u", False, "w"], "c": 1}, {"b": {"k": 1}, "a": 2}):
        assert ours.evaluate("data.typ", inp) == opa.evaluate("data.typ", inp)


# ------------------------------------------------------------ a literal written twice

DUPLICATED_LITERALS_REFUSED = {
    "comparison-twice-then-the-binding": "p if { x == input.user; x == input.user; input.path = [x, y] }",
    "beside-a-constant": 'p if { x == input.user; x == input.user; input.path = [x, "v"] }',
    "after-another-pair": "p if { input.a == 1; input.a == 1; x == input.user; x == input.user; input.path = [x, y] }",
    "in-a-comprehension": "p := [1 | x == input.user; x == input.user; input.path = [x, y]]",
    "in-an-object-comprehension": "p := {x: 1 | x == input.user; x == input.user; input.path = [x, y]}",
    "in-a-function": "f(a) if { x == a; x == a; input.path = [x, y] }",
    "in-an-every-body": "p if { every z in input.a { x == input.user; x == input.user; input.path = [x, z] } }",
    "negated-twice": "p if { not x == input.u; not x == input.u; y = input.s[x] }",
}

DUPLICATED_LITERALS_ACCEPTED = {
    "one-copy": "p if { x == input.user; input.path = [x, y] }",
    "the-binding-between-the-copies": "p if { x == input.user; input.path = [x, y]; x == input.user }",
    "three-copies-after-the-binding": "p if { x == input.user; input.path = [x, y]; x == input.user; x == input.user }",
    "unifications-twice": "p if { x = input.user; x = input.user; input.path = [x, y] }",
    "ground-comparisons-twice": "p if { input.a == 1; input.a == 1 }",
}


@pytest.mark.parametrize("case", sorted(DUPLICATED_LITERALS_REFUSED))
def test_a_literal_opa_s_reordering_loses_leaves_its_variables_unsafe(case):
    """OPA's safety reordering skips a literal equal to one already placed at its own
    index in the new order (it numbers literals by that order and compares the
    numbers too), so a copy of `x == input.user` written before the literal binding
    `x` stays unsafe; policydiff put both copies after it and answered."""
    ours, message = _assert_refused_as_opa(DUPLICATED_LITERALS_REFUSED[case])
    named = {re.search(r"var `([^`]+)`", d.message).group(1) for d in ours.diagnostics}
    assert named == set(re.findall(r"var (\S+) is unsafe", message))


@pytest.mark.parametrize("case", sorted(DUPLICATED_LITERALS_ACCEPTED))
def test_a_literal_written_twice_that_opa_places_is_evaluated_as_opa(case):
    rules = DUPLICATED_LITERALS_ACCEPTED[case]
    modules = _module(rules)
    opa, ours = OpaEngine(modules), PolicydiffEngine(modules)
    for inp in ({}, {"user": "u", "path": ["u", "v"], "a": 1}, {"user": "u", "path": ["w", "v"]}):
        assert ours.evaluate("data.typ", inp) == opa.evaluate("data.typ", inp)


_LITERALS = ["x == input.u", "input.p = [x, y]", "y == input.v", "x = input.w", "input.a == 1", "y != x",
             "input.q[x]", "count(y) > 1", "not x == input.u", "input.r[y] == x", "[x, y] = input.t",
             "x == [input.u]", "y = input.s[x]", "not input.q[x]", "not y == x"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lits=st.lists(st.sampled_from(_LITERALS), min_size=2, max_size=5))
def test_bodies_of_repeated_literals_are_refused_exactly_when_opa_refuses(lits):
    """Bodies drawn from a few literals, often repeating one: refused with OPA's code
    exactly when OPA refuses them (a call inside a copy makes OPA's copies differ)."""
    rules = "p if { " + "; ".join(lits) + " }"
    _assert_refused_exactly_when_opa_refuses(rules)


# ------------------------------------------------------------------ OPA's order of stages

FIRST_STAGE_WINS = {
    "an-unused-declaration-before-an-unsafe-variable": "p := _ if { {input.a[_] | some y} = 1 }",
    "an-unused-declaration-before-a-conflict": 'default p := "s"\np[input.a[_]] := 1 if { some x }',
    "unused-declarations-of-an-else": "p := 1 if { some x } else := 2 if { some y }",
    "an-undefined-function-before-an-unsafe-variable": "r := z if { f(true, input[x]) }",
    "an-undefined-function-before-recursion": 'q := {input.a, "s"} if { not f(true, "s"); some x, y in q[x] }',
    "a-conflict-before-an-undefined-function": "p := 1\np contains 2\nq := g(1)",
    "an-assignment-error-before-a-conflict": "p := 1\np contains 2\nq if { x := 1; x := 2 }",
    "a-head-variable-before-a-body-s": 'q := input.a if { some y; input.a[_] with input.a as y }\n'
                                        'f := null if { y := q[x]; y[_] with input.a as x } else := y',
    "a-head-variable-before-an-earlier-body-s": "r := input[x] if { _ with input.a as 1 }\nf := q if { z != {x, null} }",
    "a-head-wildcard-before-an-earlier-body-s": 'p := y if { {"k": y} } else := input.a[_]\n'
                                                "r(_) := _ if { every x in input.a { input[x] } }",
    "a-head-variable-of-a-moved-value-is-the-body-s": "r.b[x] := input[x] if { y := null; [] = null }",
    "a-rule-with-rules-below-before-a-head-variable": "r.a[y] := _ if { y[x] }\ndefault r := null",
    "a-rule-with-rules-below-before-an-earlier-head-variable": "q := [1, z] if { x == q.a }\nq.b[x] := y[x] if { x[_] }",
}


@pytest.mark.parametrize("case", sorted(FIRST_STAGE_WINS))
def test_the_errors_of_opa_s_first_failing_stage_are_the_ones_reported(case):
    """OPA checks a module in stages (declarations, conflicts, undefined functions,
    safety, recursion, types) and reports only the errors of the first stage that
    finds any; policydiff reported every error, sorted by position, so its first
    code was often another."""
    ours, _ = _assert_refused_as_opa(FIRST_STAGE_WINS[case])
    assert {d.code for d in ours.diagnostics} == {ours.code}


def test_a_comprehension_body_declaring_two_variables_parses():
    """`[1 | some x, y; …]`: the `,` of `some` made the `|` read as a set union (a parse
    error) where OPA reads a comprehension."""
    _assert_answered_as_opa("p := [1 | some x, y; x = 1; y = 2]\nq := {1 | some x, y; x = 1; y = 2}\n"
                            "r := [1 | x = 1; some y, z; y = 1; z = 1]")
    _assert_refused_as_opa("p := [x | some x, y]")  # declared and unused


def test_forms_refused_with_opa_s_first_code():
    """Siblings of the forms the notes named: each is refused with OPA's first code
    (an `every` over `data` was a compile error where OPA's parser refuses it)."""
    for rules in ("{a: 1} := {1: 1}", "x if { {a: 1} := {1: 1} }", "x if { every data in [1] { true } }",
                  "x if { every input in [1] { true } }", "x if { every k, data in [1] { true } }",
                  "x if { some data }"):
        _assert_refused_as_opa(rules)


def test_an_argument_in_error_is_of_unknown_type_for_its_call():
    """OPA types an argument that is itself in error as unknown (`???`), so the call
    around it reports nothing more; policydiff reported the outer call too (and, for
    a user function's pattern, the argument's error twice)."""
    for rules, n in (("x := upper(count(1))", 1), ('x := concat(1, [count(1)])', 2),
                     ("f([a]) := a\nx := f(count(1))", 1), ("f([a]) := a\nx := f([1][5])", 1)):
        ours, message = _assert_refused_as_opa(rules)
        assert len(ours.diagnostics) == n == len(re.findall(r"rego_type_error", message)), (rules, ours)


def test_a_parameter_passed_to_a_builtin_of_positional_operands_takes_their_declaration():
    """`g(p) := time.weekday(p)`: OPA types `p` as the builtin declares its operand (a
    number, or an array of a number and a string), so `g([1])` is a type error; policydiff
    answered "Thursday"."""
    for rules in ("g(p) := time.weekday(p)\nx := g([1])", "g(p) := time.weekday(p)\nx := crypto.md5(g([1]))"):
        _assert_refused_as_opa(rules)
    _assert_answered_as_opa('g(p) := time.weekday(p)\nx := g([1, "UTC"])\ny := g(1)\nz := g(input.x)')


def test_a_function_read_as_a_value_is_a_type_error_after_recursion_and_safety():
    """OPA's type checker finds a function used as a reference, after safety and
    recursion: policydiff stopped linking at it, before either."""
    for rules in ("f(x) := 1\np := f", "f(x) := 1\np := f.a", "f(x) := 1 if { f }", "q(1) := q.a if { not 1 }",
                  "f(x) := 1\np if { f; y }"):
        ours, _ = _assert_refused_as_opa(rules)
        assert len(ours.diagnostics) == 1, ours


def test_a_query_reading_a_function_as_a_value_is_refused():
    """The query's compiler finds it too, as OPA's query compiler does (not undefined)."""
    import opa_bindings

    from policydiff import query

    module = "package p\nimport rego.v1\nf(x) := 1\n"
    opa = opa_bindings.OpaEngine()
    opa.add_policy("p.rego", module)
    for text in ("x := data.p.f", "data.p.f"):
        with pytest.raises(opa_bindings.OpaError, match="rego_type_error"):
            opa.eval_query(text)
        with pytest.raises(PolicyError) as info:
            query([module], text)
        assert info.value.code == "rego_type_error"
    assert query([module], "x := data.p.f(1)") == [{"x": 1}]
    opa.close()


def test_a_decision_naming_a_function_is_refused():
    module = "package p\nimport rego.v1\nf(x) := 1\nallow := true\n"
    for decision in ("data.p.f", "data.p.f.a"):
        with pytest.raises(PolicyError) as info:
            load_policy(module, decision=decision).evaluate({})
        assert info.value.code == "rego_type_error" and "`data.p.f`" in str(info.value)
    assert load_policy(module, decision="data.p.allow").evaluate({}) is True


SOME_IN_OVER_ITS_OWN_VARIABLE = [
    'p contains [x] if { x := "a"; some x in input[x] }',
    "p contains x if { input[x]; some x in input[x] }",
    'p contains [k, x] if { x := "a"; some k, x in input[x] }',
    'p contains [k, x] if { k := 0; x := "a"; some k, x in input[x][k] }',
    'p contains x if { x := "a"; some x in [input[x]] }',
    'p contains x if { x := "a"; some x in input[x]; some x in input[x] }',
    "p contains x if { some x in input[x]; input[x] }",
    'f(x) if { some x in input[x] }\np if f("a")',
]
_MEMBERSHIP_INPUTS = ({}, {"a": ["a", "b", 1], "b": ["z"], "c": {"k": "a"}}, {"a": {"x": "b", "y": 2}, "b": ["b"]},
                      {"a": [["a"]], "c": ["a", "c"]}, {"a": {"a": "a", "q": "a"}}, {"a": "a"})


@pytest.mark.parametrize("rules", SOME_IN_OVER_ITS_OWN_VARIABLE)
def test_some_in_over_a_collection_reading_a_variable_above_tests_membership(rules):
    """OPA accepts `x := "a"; some x in input[x]` and reads it as `x in input[x]` with
    the `x` above (no second `x`); policydiff declined it as unsupported."""
    modules = _module(rules)
    opa, ours = OpaEngine(modules), PolicydiffEngine(modules)
    answers = [ours.evaluate("data.typ", inp) for inp in _MEMBERSHIP_INPUTS]
    assert answers == [opa.evaluate("data.typ", inp) for inp in _MEMBERSHIP_INPUTS]
    assert len({repr(a) for a in answers}) > 1  # the inputs tell the readings apart


_PRIOR = ['x := "a"', "input[x]", "x = input.k", "some x; input.q[x]", "x := 0", "input.l[_] = x", ""]
_READING = ["input[x]", "[input[x]]", "input.l[x]", "{x, input.k}", "input[x][x]", "[x]", "input.m[x]"]
_SOME_IN = ["some x in {c}", "some k, x in {c}", "some x, k in {c}", "some x, x in {c}"]
_AFTER = ["", "; x != 1", "; y := [x]", "; input[x]"]
_READING_INPUTS = ({}, {"a": ["a", "b", 1], "b": ["z"], "k": "a", "l": ["a", 0], "m": {"a": "a", "0": 0}},
                   {"a": {"x": "b", "y": 2}, "b": ["b"], "k": "b", "l": [1, 1], "q": {"a": 1}},
                   {"a": "a", "k": 0, "l": [[0]], "m": [0]})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prior=st.sampled_from(_PRIOR), some=st.sampled_from(_SOME_IN), coll=st.sampled_from(_READING),
       after=st.sampled_from(_AFTER))
def test_some_in_over_a_collection_reading_its_variable_answers_as_opa(prior, some, coll, after):
    """`some … in` over a collection reading its variable, with or without an `x` above:
    the same values as OPA, or the same refusal code (or declined as unsupported)."""
    body = (f"{prior}; " if prior else "") + some.format(c=coll) + after
    modules = _module(f"p contains [x] if {{ {body} }}")
    try:
        theirs = [_answer(OpaEngine(modules), inp) for inp in _READING_INPUTS]
    except EngineError as e:
        theirs = re.search(r"rego_\w+_error", str(e)).group(0)
    try:
        ours = PolicydiffEngine(modules)
    except Refused as e:
        assert e.code in (theirs, "unsupported"), f"{body}\nopa: {theirs}\nours: {e}"
        return
    try:
        answers = [_answer(ours, inp) for inp in _READING_INPUTS]
    except Refused as e:  # declined at evaluation (a literal's order of members)
        assert e.code == "unsupported", f"{body}\n{e}"
        return
    assert answers == theirs, body


def test_some_in_over_its_own_variable_in_a_nested_body_is_declined():
    """In a comprehension or an `every` body, policydiff read a second `x` (answering
    what OPA does not); which `x` is above there is not worked out, so it declines."""
    for rules in ('p contains y if { x := "a"; y := [x | some x in input[x]] }',
                  'p contains y if { y := [x | x := "b"; some x in input[x]] }',
                  'p if { x := "a"; every y in [1] { y; some x in input[x] } }'):
        assert _opa(_module(rules)) is None
        ours = _ours(rules)
        assert ours is not None and [d.code for d in ours.diagnostics] == ["unsupported"], ours
    _assert_refused_as_opa("p if { x := 1; some x in [2] }")


def test_a_type_error_of_terms_without_tokens_of_their_own_has_a_position():
    """`{} == []`: the empty literals carry no position; the error stood at no line at
    all, and now stands at its rule's (OPA's line when the rule is on one line)."""
    ours, _ = _assert_refused_as_opa("f if { {} == [] }")
    assert ours.diagnostics[0].span.line == 5
