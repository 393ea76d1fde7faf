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

