"""The builtins beyond the RBAC core, called with random operands, answer as real OPA.

Each call (drawn by `builtin_strategies.calls`) is evaluated as `x := call` by
policydiff and by OPA 1.20 (`opa_bindings`), with strict builtin errors: both must
give the same value, or both an error of the same kind (a type error at load, or a
builtin error / type error at evaluation). policydiff may refuse a call as
`unsupported`; it may never answer one differently.
"""

from __future__ import annotations

import re

import opa_bindings
import pytest
from builtin_strategies import OPERANDS, calls
from engines import normalize
from hypothesis import HealthCheck, event, given, settings

from policydiff import PolicyError, query
from policydiff.compile.builtins import BUILTINS


def _solutions(sols) -> list:
    """The solutions, in one order (`walk` has several; the order of its solutions is
    OPA's, but a query's bindings are a set)."""
    return sorted((normalize(s) for s in sols), key=repr)


def _opa(text: str):
    engine = opa_bindings.OpaEngine()
    try:
        return ("value", _solutions(engine.eval_query(f"x := {text}")))
    except opa_bindings.OpaUndefinedError:
        return ("value", [])
    except opa_bindings.OpaError as e:
        m = re.search(r"(rego_type_error|eval_type_error|eval_builtin_error|rego_parse_error)", e.message)
        return ("error", m.group(1) if m else e.code)
    finally:
        engine.close()


def _ours(text: str):
    try:
        return ("value", _solutions(query([], f"x := {text}", strict=True)))
    except PolicyError as e:
        return ("error", e.code)


def test_every_drawn_builtin_is_supported():
    assert set(OPERANDS) <= set(BUILTINS)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=calls())
def test_builtin_calls_answer_as_opa(call):
    name, text = call
    ours = _ours(text)
    if ours == ("error", "unsupported"):  # (OPA is not asked: some of these never return there)
        event("refused")
        return
    theirs = _opa(text)
    event(f"{name}: {theirs[0]}")
    if theirs[0] == "error" and ours[0] == "error":
        # a builtin error and a type error at evaluation both make the call undefined
        # without strict errors; only a type error at load must match exactly
        assert (theirs[1] == "rego_type_error") == (ours[1] == "rego_type_error"), f"{text}: {ours} vs {theirs}"
        return
    assert ours == theirs, f"{text}:\n ours: {ours}\n  opa: {theirs}"


@pytest.mark.parametrize("text", [
    'units.parse("1.1Ki")', 'units.parse_bytes("1e-2KB")', 'strings.split_n("a.b.c", ".", -2)',
    'json.marshal({"b": {1, 2}, "a": "<&>"})', 'json.unmarshal("[1.50, -0]")', 'base64url.decode("YT8")',
    'urlquery.encode_object({"b": ["1", "2"], "a": {"x"}})', 'object.subset([1, 2, 1, 2, 3], [1, 2, 3])',
    'strings.replace_n({"aa": "1", "a": "2"}, "aaa")', 'bits.and(1e20, 1)', 'object.subset([], set())',
])
def test_known_corners_answer_as_opa(text):
    assert _ours(text) == _opa(text)
