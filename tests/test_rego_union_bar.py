"""A `|` inside `[…]` and `{…}`: comprehension bar or set union, read as real OPA reads it.

Each form is evaluated by OPA (`opa_bindings`) and by policydiff; both must give the
same value, or both must refuse the module."""

from __future__ import annotations

import pytest

from tests.engines import EngineError, OpaEngine, PolicydiffEngine, Refused

FORMS = [
    # set unions inside literals
    'x := {"a": {"x"} | {"y"}, "b": 1}',
    'x := {"a": 1, "b": {"x"} | {"y"}}',
    'x := {"a": {"x"} | {"y"} | {"z"}, "b": {1} & {1, 2}}',
    'x := {"a": {"b": {1} | {2}, "c": [{3} | {4}, 5]}, "d": 0}',
    'x := [1, {"x"} | {"y"}]',
    'x := [{1}, {2} | {3}, {4} | {5}]',
    'x := {{1}, {2} | {3}}',
    'x := {"k": ({1} | {2})}',
    'x := {"k": s | {9}, "j": 0} if s := {8}',
    'x := [s | t] if { s := {1}; t := {2} }',
    # comprehensions stay comprehensions
    'x := [v | some v in [3, 1, 2]]',
    'x := {v | some v in [3, 1, 2]}',
    'x := {k: v | some k, v in {"a": 1, "b": 2}}',
    'x := [f | f := {1} | {2}]',
    'x := {k: s | some k in ["a"]; s := {k} | {"z"}}',
    'x := [{1} | true]',
    'x := {{1} | {2}}',
    'x := [count(s) | s := {1} | {2, 3}]',
    'x := {n: [m | some m in {n} | {0}] | some n in [1, 2]}',
    'x := [[v | some v in {1} | {2}] | true]',
    'x := {v | v := {"a"} | {"b"}}',
    'x := {"o": {k: 1 | some k in {"p"} | {"q"}}, "r": [2]}',
    # bodies: a `{` after `if` is a body unless an object follows
    'x if { {1} | {2} }',
    'x if { s := {1} | {2}; count(s) == 2 }',
    'f(y) := y if {y: 1 | y := "a"}\nx := f(2)',
    'x if {"a": {1} | {2}}',
    'x if {"a": 1, "b": {2} | {3}}',
    'x if {k: 1 | some k in ["a"]}',
    'x if every v in {1} | {2} { v > 0 }',
    'x := y if { some y in [{1} | {2}] }',
    'x := {{1, 2}}[{1} | {2}]',
    # a union as the first item, where the rest cannot be a body (OPA falls back)
    'x := [{1} | {2}, 3]',
    'x := {{1} | {2}, {3}}',
    'x := {"a": {1} | {2},\n "b": [3]}',
    'x := {k: v | some k, v in {"a": 1}}',
    'x := [k | some k, v in {"a": 1}; v > 0]',
    'x := {"a": {1} | {2}  # a comment, with a comma\n}',
    'x := {"a": {"|,"} | {"b"}, "c": 1}',
]


def _answer(engine, text):
    try:
        e = engine({"m.rego": f"package t\n{text}\n"})
    except (Refused, EngineError):
        return "refused"
    try:
        return e.evaluate("data.t.x")
    except (Refused, EngineError):
        return "refused"


@pytest.mark.parametrize("text", FORMS)
def test_same_reading_as_opa(text):
    opa = _answer(OpaEngine, text)
    ours = _answer(PolicydiffEngine, text)
    assert ours == opa, f"OPA: {opa!r}, policydiff: {ours!r}"
