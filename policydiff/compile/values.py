"""Rego values as the evaluator holds them, and their order.

Inside the evaluator every value is hashable: arrays are tuples, sets frozensets,
objects `Obj` (a dict that hashes by content), scalars plain Python. `freeze` converts
JSON-like documents on the way in, `thaw` converts back at the API boundary (sets
become lists sorted in OPA's order). `UNDEFINED` is the value of anything undefined.
Equality and order follow OPA: 1 == 1.0, booleans are never numbers, and values of
different types order null < boolean < number < string < array < object < set.
"""

from __future__ import annotations

import functools
from typing import Any

from policydiff.errors import InputError


class _Undefined:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Any = _Undefined()


class Obj(dict):
    """An object value: a dict that can be a set member or an object key."""

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))


def freeze(v: Any) -> Any:
    """A JSON-like document as the evaluator holds it (runs once per request: keep it
    lean)."""
    t = type(v)
    if t is str or t is bool or t is int or t is float or v is None:
        return v
    if t is dict:
        o = Obj(v)  # keys of a dict are hashable already; only values need freezing
        for k, x in v.items():
            tx = type(x)
            if tx is dict or tx is list or tx is tuple or tx is set:
                o[k] = freeze(x)
        return o
    if t is list or t is tuple:
        return tuple([x if type(x) is str else freeze(x) for x in v])
    if t is Obj or t is frozenset:
        return v
    if t is set:
        return frozenset(freeze(x) for x in v)
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, dict):
        return freeze(dict(v))
    if isinstance(v, (list, tuple)):
        return freeze(list(v))
    raise InputError.at("bad_input", f"not a JSON value: a `{type(v).__name__}` in the input or data")


def thaw(v: Any) -> Any:
    t = type(v)
    if t is tuple:
        return [thaw(x) for x in v]
    if t is frozenset:
        return [thaw(x) for x in sorted(v, key=sort_key)]
    if t is Obj:
        keys = sorted(v) if all(type(k) is str for k in v) else sorted(v, key=sort_key)
        return {_thaw_key(k): thaw(v[k]) for k in keys}
    return v


def _thaw_key(k: Any) -> str:
    """JSON object keys are strings: other keys are written as their JSON text, as OPA
    does when it serialises an object with non-string keys."""
    if type(k) is str:
        return k
    import json

    return json.dumps(thaw(k), separators=(",", ":"), sort_keys=True)


_RANK = {type(None): 0, bool: 1, int: 2, float: 2, str: 3, tuple: 4, Obj: 5, frozenset: 6}


def type_name(v: Any) -> str:
    return ("null", "boolean", "number", "string", "array", "object", "set")[_RANK[type(v)]]


def equal(a: Any, b: Any) -> bool:
    """OPA equality: by value, 1 == 1.0, but `true` is not `1`."""
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is tuple:
            return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
        if ta is Obj:
            return len(a) == len(b) and all(k in b and equal(x, b[k]) for k, x in a.items())
        return a == b
    if (ta is int and tb is float) or (ta is float and tb is int):
        return a == b
    return False


def compare(a: Any, b: Any) -> int:
    ra, rb = _RANK[type(a)], _RANK[type(b)]
    if ra != rb:
        return -1 if ra < rb else 1
    if ra <= 3:
        return 0 if a == b else (-1 if a < b else 1)
    if ra == 4:
        for x, y in zip(a, b):
            c = compare(x, y)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    if ra == 5:
        ka, kb = sorted(a, key=sort_key), sorted(b, key=sort_key)
        for x, y in zip(ka, kb):
            c = compare(x, y) or compare(a[x], b[y])
            if c:
                return c
        return (len(ka) > len(kb)) - (len(ka) < len(kb))
    return compare(tuple(sorted(a, key=sort_key)), tuple(sorted(b, key=sort_key)))


sort_key = functools.cmp_to_key(compare)


class Conflated(Exception):
    """A set or object would merge `true` with 1 (or `false` with 0): Python's equality
    conflates them where OPA's does not, so the evaluator refuses rather than miscount."""


def set_of(items: list) -> frozenset:
    s = frozenset(items)
    if len(s) != len(items) and _bool_meets_number(items):
        raise Conflated("a set holding both a boolean and the number 0 or 1 is not supported")
    return s


def _bool_meets_number(items) -> bool:
    bools = {x for x in items if type(x) is bool}
    return any(type(x) in (int, float) and x in bools for x in items)
