"""A `|` inside `[…]` and `{…}`: comprehension bar or set union, read as real OPA reads it.

Each form is evaluated by OPA (`opa_bindings`) and by policydiff; both must give the
same value, or both must refuse the module."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


_sets = st.recursive(
    st.lists(st.integers(0, 3), min_size=1, max_size=2).map(lambda xs: "{" + ", ".join(map(str, xs)) + "}"),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(" | ".join),
        inner.map(lambda s: f"({s})"),
    ),
    max_leaves=4,
)


def _values(leaves):
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
            st.lists(inner, min_size=1, max_size=3).map(
                lambda xs: "{" + ", ".join(f'"k{i}": {v}' for i, v in enumerate(xs)) + "}"),
            st.tuples(_sets, _sets).map(lambda p: f"[v | some v in {p[0]}; w := {p[1]}]"),
            st.tuples(inner, _sets).map(lambda p: f'{{"h": {p[0]} | v := {p[1]}}}'),
        ),
        max_leaves=6,
    )


@settings(max_examples=60, deadline=None)
@given(_values(_sets))
def test_generated_literals_read_as_opa_reads_them(value):
    text = f"x := {value}"
    assert _answer(PolicydiffEngine, text) == _answer(OpaEngine, text), text
