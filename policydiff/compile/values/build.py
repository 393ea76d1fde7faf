"""Building values: constants, and the arrays, sets and objects terms construct.

A term made of constants only is evaluated once, when compiling (`literal`). Sets and
object keys keep `true` and 1 (`false` and 0) apart, as OPA does, though Python's
equality takes one for the other (`set_of`, `obj_of`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policydiff import ir
from policydiff.compile.values import UNDEFINED, Obj, canon, equal, mixes, number, obj_of, set_of
from policydiff.errors import Code, PolicyError

Fn = Callable[[list], Any]


NOT_LITERAL = object()


def literal(t):
    """The value of a term made of constants only, computed once; else NOT_LITERAL."""
    match t:
        case ir.Scalar(value=v, text=None):
            return v
        case ir.Scalar(text=text):
            return number(text)
        case ir.Array(items=xs) | ir.Set(items=xs):
            vs = [literal(x) for x in xs]
            if any(v is NOT_LITERAL for v in vs):
                return NOT_LITERAL
            return tuple(vs) if isinstance(t, ir.Array) else checked_set(vs)
        case ir.Object(items=pairs):
            out = []
            for k, v in pairs:
                kv, vv = literal(k), literal(v)
                if kv is NOT_LITERAL or vv is NOT_LITERAL:
                    return NOT_LITERAL
                out.append((kv, vv))
            return obj_of(out)
    return NOT_LITERAL


def collection(fs: list[Fn], kind) -> Fn:
    if kind is frozenset:
        kind = checked_set

    def build(env):
        out = []
        for f in fs:
            v = f(env)
            if v is UNDEFINED:
                return v
            out.append(v)
        return kind(out)

    return build


def checked_set(items: list) -> frozenset:
    return set_of(items)


def object_of(kfs: list[Fn], vfs: list[Fn]) -> Fn:
    pairs = list(zip(kfs, vfs))

    def build(env):
        out = Obj()
        for kf, vf in pairs:
            k = kf(env)
            if k is UNDEFINED:
                return k
            v = vf(env)
            if v is UNDEFINED:
                return v
            out[k] = v
        if len(out) != len(pairs):  # `true` may have replaced 1
            return _rebuild(pairs, env)
        return out

    return build


def _rebuild(pairs, env):
    kvs = [(kf(env), vf(env)) for kf, vf in pairs]
    return obj_of(kvs)


def object_of_pairs(t):
    def finish(pairs):
        if mixes([k for k, _ in pairs]):
            pairs = [(canon(k), v) for k, v in pairs]
        out = Obj()
        for k, v in pairs:
            if k in out and not equal(out[k], v):
                raise PolicyError.at(Code.EVAL_CONFLICT_ERROR, "object keys must be unique", t.span)
            out[k] = v
        return out

    return finish
