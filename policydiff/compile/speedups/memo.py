"""Memos: values remembered across evaluations, keyed by exactly what they read.

A rule that reads no input (`roles := {…}`) has one value per program; a rule whose
only reads of the input are a few paths of constant keys (`input.subject.role`) has
one value per combination of the values found there (remembered when computing it
costs more than looking it up: it iterates or uses other rules); a function that reads
no input has one value per tuple of arguments. Each is computed on first use and
remembered.

The memos are exact. A key holds each value read with its type, since Python takes
`true` for 1; only strings, integers, booleans, null, undefined and arrays of strings make keys (a float
could be -0.0, which Python takes for 0.0), and a read that finds anything else is
computed afresh. A value computed with strict builtin errors holds without them too
(no builtin failed), not the reverse, so each error mode has its memo. An evaluation
that raises stores nothing, and the next one raises again. `--explain` evaluations
bypass the memos: they ask for every body that produced a value. A memo that fills up
is cleared, so memory stays bounded whatever the inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policydiff.compile.values import UNDEFINED
from policydiff.compile.values.access import input_path

LIMIT = 4096  # entries per memo and error mode
MAX_PATHS = 3  # a rule reading more input paths than this is computed per evaluation

MISS = object()

Value = Callable[[Any], Any]  # ctx -> value


def key_of(v) -> Any:
    """The memo key of one value read, or `MISS` when it cannot be one."""
    t = type(v)
    if t is str:
        return v
    if t is int or t is bool or v is None or v is UNDEFINED:
        return (t, v)
    if t is tuple:  # an array of strings (`input.path`); a loop: read at every opening
        for x in v:
            if type(x) is not str:
                return MISS
        return (t, v)
    return MISS


def remember(memo: dict, key, v, limit: int = LIMIT) -> None:
    if len(memo) >= limit:
        memo.clear()
    memo[key] = v


def constant(plain: Value, compute: Value) -> Value:
    """The value of a rule that reads no input, computed once per error mode."""
    slots = [MISS, MISS]  # by ctx.strict

    def static_value(ctx):
        if ctx.explain:
            return plain(ctx)
        v = slots[ctx.strict]
        if v is MISS:
            v = compute(ctx)
            slots[ctx.strict] = v
            if ctx.strict:
                slots[False] = v
        return v

    return static_value


def reader(paths: list[tuple[str, ...]]) -> Callable[[Any], Any]:
    """A function of a ctx giving the memo key of the values at `paths`, or `MISS`."""
    readers = [input_path(p) for p in paths]
    if len(readers) == 1:
        (r0,) = readers

        def key1(ctx):
            a = r0((ctx,))
            return a if type(a) is str else key_of(a)

        if len(paths[0]) <= 2:  # the common case, a string found, read directly
            (a0, *a1) = paths[0]
            a1 = (a1 or [None])[0]

            def direct1(ctx):
                raw = ctx.raw
                if type(raw) is dict:
                    a = raw.get(a0)
                    if a1 is not None:
                        a = a.get(a1) if type(a) is dict else None
                    if type(a) is str:
                        return a
                return key1(ctx)

            return direct1
        return key1

    if len(readers) == 2:
        r0, r1 = readers

        def key2(ctx):
            env = (ctx,)
            a, b = r0(env), r1(env)
            ka = a if type(a) is str else key_of(a)
            kb = b if type(b) is str else key_of(b)
            if ka is MISS or kb is MISS:
                return MISS
            return (ka, kb)

        if all(len(p) <= 2 for p in paths):  # the common case, strings found, read directly
            (a0, *a1), (b0, *b1) = paths
            a1, b1 = (a1 or [None])[0], (b1 or [None])[0]

            def direct2(ctx):
                raw = ctx.raw
                if type(raw) is dict:
                    a, b = raw.get(a0), raw.get(b0)
                    if a1 is not None:
                        a = a.get(a1) if type(a) is dict else None
                    if b1 is not None:
                        b = b.get(b1) if type(b) is dict else None
                    if type(a) is str and type(b) is str:
                        return (a, b)
                return key2(ctx)

            return direct2
        return key2

    if len(readers) == 3:  # MAX_PATHS: unrolled, as the key of two is
        r0, r1, r2 = readers

        def key3(ctx):
            env = (ctx,)
            a = r0(env)
            if type(a) is not str:
                a = key_of(a)
                if a is MISS:
                    return MISS
            b = r1(env)
            if type(b) is not str:
                b = key_of(b)
                if b is MISS:
                    return MISS
            c = r2(env)
            if type(c) is not str:
                c = key_of(c)
                if c is MISS:
                    return MISS
            return (a, b, c)

        return key3

    def key(ctx):
        env = (ctx,)
        out = []
        for r in readers:
            a = r(env)
            k = a if type(a) is str else key_of(a)
            if k is MISS:
                return k
            out.append(k)
        return tuple(out)

    return key


def sliced(paths: list[tuple[str, ...]], plain: Value, compute: Value) -> Value:
    """The value of a rule that reads only `paths` of the input, remembered per
    combination of the values found there."""
    read = reader(paths)
    memos: tuple[dict, dict] = ({}, {})  # by ctx.strict

    def sliced_value(ctx):
        if ctx.explain:
            return plain(ctx)
        key = read(ctx)
        if key is MISS:
            return plain(ctx)
        v = memos[ctx.strict].get(key, MISS)
        if v is MISS:
            v = compute(ctx)
            remember(memos[ctx.strict], key, v)
            if ctx.strict:
                remember(memos[False], key, v)
        return v

    sliced_value.memos = memos  # type: ignore[attr-defined]  # for tests to look into
    return sliced_value
