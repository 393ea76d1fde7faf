"""Booleans and numbers are different values in sets, object keys and comparisons,
as real OPA 1.20 (`opa_bindings`) has them, though Python takes `true` for 1 and
`false` for 0; and 1 and 1.0 stay one number.

Hypothesis draws sets, objects and arrays of `true`, `false`, 0, 1, 1.0, 0.0 (and a
few others, nested), writes them as Rego, and asks policydiff and OPA the same
query: counts, membership, equality, `|`, `&`, `-`, `union`, object lookups and
comprehensions. The answers are compared as JSON text, where `true` is not `1`.
"""

from __future__ import annotations

import json
import re

import opa_bindings
from engines import normalize
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policydiff import PolicyError, query

_SCALARS = st.sampled_from(["true", "false", "0", "1", "1.0", "0.0", "2", "-0", '"a"', "null"])


def _set(xs):
    return "{" + ", ".join(xs) + "}" if xs else "set()"


def _obj(pairs):
    return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"


_ATOMS = _SCALARS | st.lists(_SCALARS, max_size=2).map(lambda xs: "[" + ", ".join(xs) + "]")
_VALUES = st.recursive(
    _ATOMS,
    lambda inner: st.lists(inner, max_size=4).map(_set)
    | st.lists(st.tuples(inner, inner), max_size=3).map(_obj)
    | st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    max_leaves=8,
)
_SETS = st.lists(_VALUES, max_size=6).map(_set)
_OBJECTS = st.lists(st.tuples(_VALUES, _VALUES), max_size=5).map(_obj)
_ARRAYS = st.lists(_VALUES, max_size=6).map(lambda xs: "[" + ", ".join(xs) + "]")


def _query(s, t, o, p, a, k) -> str:
    return (f"s := {s}; t := {t}; o := {o}; p := {p}; a := {a}; k := {k}; x := ["
            "count(s), count(o), count(a), s == t, o == p, k in s, k in a, k in o, "
            "count(s | t), count(s & t), count(s - t), count(union({s, t})), s | t, s & t, s - t, "
            'object.get(o, k, "none"), [v | some kk, v in o; kk == k], [kk | some kk, _ in o], '
            "{e | some e in a}, count({e | some e in a}), {e: true | some e in a}, "
            "object.union(o, p), object.keys(o), [e | some e in s; e == k], cast_set(a), "
            "object.remove(o, [k]), object.filter(o, {k}), object.subset(o, p), s == cast_set(a), "
            'object.get({"s": s}, ["s", k], "none")]')


def _canonical(sols) -> str:
    return json.dumps([normalize(s) for s in sols], sort_keys=True)


def _opa(text: str):
    engine = opa_bindings.OpaEngine()
    try:
        return ("value", _canonical(engine.eval_query(text)))
    except opa_bindings.OpaUndefinedError:
        return ("value", "[]")
    except opa_bindings.OpaError as e:
        m = re.search(r"\b((?:eval|rego)_[a-z_]+)\b", e.message)
        return ("error", m.group(1) if m else e.code)
    finally:
        engine.close()


def _ours(text: str):
    try:
        return ("value", _canonical(query([], text, strict=True)))
    except PolicyError as e:
        return ("error", e.code)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=_SETS, t=_SETS, o=_OBJECTS, p=_OBJECTS, a=_ARRAYS, k=_VALUES)
def test_booleans_and_numbers_answer_as_opa(s, t, o, p, a, k):
    text = _query(s, t, o, p, a, k)
    ours = _ours(text)
    assert ours != ("error", "unsupported"), text  # nothing here is out of scope
    theirs = _opa(text)
    event(theirs[0])
    assert ours == theirs, f"{text}:\n ours: {ours}\n  opa: {theirs}"


def test_the_drawn_values_meet_booleans_and_numbers():
    """The cases the property is about are drawn: a set with both `false` and 0."""
    ours = _ours("x := {false, 0, 0.0, true, 1, 1.0}")
    assert ours == _opa("x := {false, 0, 0.0, true, 1, 1.0}")
    assert json.loads(ours[1]) == [{"x": [False, True, 0, 1]}]


def test_folding_leaves_objects_whose_keys_python_would_merge():
    """The analysis's constant folding writes objects as Python dicts, where `false`
    and 0 are one key: such an object is not folded, rather than folded to one key."""
    from policydiff import load_policy
    from policydiff.fold import NOT_FOLDED, Folder

    policy = load_policy('package t\nimport rego.v1\no := {false: "f", 0: "z"}\n'
                         'p := {"a": [{true: 1, 1.0: 2}]}\nq := {false: "f", 2: "z"}\n')
    folder = Folder(policy)
    assert folder.rule(("t", "o")) is NOT_FOLDED
    assert folder.rule(("t", "p")) is NOT_FOLDED
    assert folder.rule(("t", "q")) == {False: "f", 2: "z"}


_RULES = """package t
import rego.v1
p[k] := v if { some k in [false, 0, true, 1.0]; v := k }
s contains x if { some x in [false, 0, [true], [1]] }
q[k] := 1 if { some k in [[false], [0]] }
r[k][j] := 1 if { some k in [false, 0]; some j in [[true], [1]] }
"""


def test_rules_building_objects_keep_booleans_and_numbers_apart():
    """Partial objects and sets whose keys or members mix booleans with 0 and 1 (once
    refused, and merged inside array keys) answer as OPA."""
    for text in ["x := data.t", "x := count(data.t.p)", "x := data.t.p[0]", "x := data.t.p[false]",
                 "x := data.t.r[0][[1]]", "x := [k | some k, _ in data.t.q]"]:
        engine = opa_bindings.OpaEngine()
        try:
            engine.add_policy("t.rego", _RULES)
            theirs = _canonical(engine.eval_query(text))
        finally:
            engine.close()
        assert _canonical(query([_RULES], text, strict=True)) == theirs, text
