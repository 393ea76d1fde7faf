"""Reading values: lookups, iteration in OPA's order, and compiled reference paths.

These are the run-time pieces the closures are made of. Objects iterate by key and
sets by member, in OPA's order (the order array comprehensions and query results
show); a lookup never takes `true` for 1. References into `input` read the request as
the caller gave it and freeze only the value they reach.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policydiff.compile.values import UNDEFINED, Num, Obj, as_int, exact_find, freeze, sort_key

Fn = Callable[[list], Any]


def items(v):
    """The (key, value) pairs of a collection in OPA's order: objects by key, sets by
    member (the order array comprehensions and query results show)."""
    t = type(v)
    if t is Obj:
        return [(k, v[k]) for k in ordered(v)] if len(v) > 1 else v.items()
    if t is tuple:
        return enumerate(v)
    if t is frozenset:
        return [(e, e) for e in ordered(v)]
    return ()


def members(v):
    """The values of a collection in OPA's order."""
    t = type(v)
    if t is Obj:
        return [v[k] for k in ordered(v)] if len(v) > 1 else v.values()
    if t is tuple:
        return v
    if t is frozenset:
        return ordered(v)
    return ()


def ordered(keys) -> list:
    ks = list(keys)
    if len(ks) > 1:
        if type(ks[0]) is str:
            try:
                ks.sort()  # all strings: Python's order is OPA's
                return ks
            except TypeError:  # not all strings
                pass
        ks.sort(key=sort_key)
    return ks


def lookup(v, k):
    t = type(v)
    if t is Obj:
        r = v.get(k, UNDEFINED)
        if r is UNDEFINED or type(k) is str:
            return r
        found = exact_find(v, k)  # Python finds 1 for `true`
        return UNDEFINED if found is UNDEFINED else v[found] if found is not k else r
    if t is tuple:
        tk = type(k)
        if tk is int:
            return v[k] if 0 <= k < len(v) else UNDEFINED
        if tk is Num and (i := as_int(k)) is not None and 0 <= i < len(v):
            return v[i]
        return UNDEFINED
    if t is frozenset:  # `s[1]` is 1, even when `s` holds 1.0, as in OPA
        return k if exact_find(v, k) is not UNDEFINED else UNDEFINED
    return UNDEFINED


def input_root(env):
    return env[0].input


_FROZEN = object()  # first item of the `Ctx.cache` keys of frozen input values
_NONE = object()


def input_path(keys: tuple[str, ...]) -> Fn:
    """`input.a.b…`: read from the input as given, freezing only the value reached, so
    a request is never converted whole just to read three strings from it."""

    def slow(env):
        v = env[0].input
        for k in keys:
            v = v.get(k, UNDEFINED) if type(v) is Obj else lookup(v, k)
        return v

    def settle(v):
        t = type(v)
        if t is str or t is bool or t is int or v is None:
            return v
        return freeze(v)

    if len(keys) == 1:
        (k0,) = keys
        # an evaluation's own key for the frozen value: one freeze per evaluation, not
        # per read (a rule reading `input.path` once per body reads it dozens of times)
        frozen_key = (_FROZEN, k0)

        def input1(env):
            ctx = env[0]
            v = ctx.raw
            if type(v) is not dict:
                return slow(env)
            x = v.get(k0, UNDEFINED)
            t = type(x)
            if t is str or x is UNDEFINED or x is None or t is bool or t is int:
                return x
            cache = ctx.cache
            f = cache.get(frozen_key, _NONE)
            if f is _NONE:
                f = cache[frozen_key] = freeze(x)
            return f

        return input1

    if len(keys) == 2:
        k0, k1 = keys

        def input2(env):
            v = env[0].raw
            if type(v) is dict:
                v = v.get(k0, UNDEFINED)
                if type(v) is dict:
                    x = v.get(k1, UNDEFINED)
                    t = type(x)
                    if t is str or x is UNDEFINED or x is None or t is bool or t is int:
                        return x
                    return freeze(x)
                if v is UNDEFINED:
                    return v
            return slow(env)

        return input2

    def input_n(env):
        v = env[0].raw
        for k in keys:
            if type(v) is not dict:
                return slow(env)
            v = v.get(k, UNDEFINED)
            if v is UNDEFINED:
                return v
        return settle(v)

    return input_n


def walker(kind, arg, w):
    if kind == "get":
        kf = arg

        def get(env, v):
            c = lookup(v, kf(env))
            if c is UNDEFINED:
                return False
            return w(env, c)

        return get
    if kind == "each":
        s = arg

        def each(env, v):
            for k, c in items(v):
                env[s] = k
                if w(env, c):
                    return True
            return False

        return each
    m = arg

    def match(env, v):
        for k, c in items(v):
            if m(env, k) and w(env, c):
                return True
        return False

    return match


def path(root: Fn, keys: list[Fn], const_keys: list | None) -> Fn:
    if not keys:
        return root
    if const_keys is not None and all(type(k) is str for k in const_keys):
        if root is input_root:
            return input_path(tuple(const_keys))
        if len(const_keys) == 1:
            (k0,) = const_keys

            def get1(env):
                v = root(env)
                if type(v) is Obj:
                    return v.get(k0, UNDEFINED)
                return lookup(v, k0)

            return get1

        if len(const_keys) == 2:
            k0, k1 = const_keys

            def get2(env):
                v = root(env)
                v = v.get(k0, UNDEFINED) if type(v) is Obj else lookup(v, k0)
                return v.get(k1, UNDEFINED) if type(v) is Obj else lookup(v, k1)

            return get2

        def get_strs(env):
            v = root(env)
            for k in const_keys:
                v = v.get(k, UNDEFINED) if type(v) is Obj else lookup(v, k)
            return v

        return get_strs

    def get(env):
        v = root(env)
        for kf in keys:
            if v is UNDEFINED:
                return v
            k = kf(env)
            if k is UNDEFINED:
                return k
            v = lookup(v, k)
        return v

    return get
