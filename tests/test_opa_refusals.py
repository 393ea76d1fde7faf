"""Refusals as OPA makes them: the same module through policydiff and real OPA.

Each module here once diverged: policydiff loaded what OPA refuses, refused with a
different first code, or named something else than OPA's message names. Where OPA
refuses, policydiff must refuse with OPA's first code on OPA's line; where OPA answers,
policydiff answers the same value (or declines the module as `unsupported`).
"""

from __future__ import annotations

import re

import pytest
from engines import EngineError, OpaEngine

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
