"""The `strings.*` builtins and `indexof_n`: OPA's string helpers beyond the basic ones.

Positions and lengths count characters (Go's runes), as OPA's do. `TABLE` maps each
name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

from policydiff.compile.builtins.operands import (
    BuiltinError,
    TypeError_,
    Unsupported,
    integer,
    string,
)
from policydiff.compile.values import Obj, sort_key, type_name


def _strings(v, name: str, pos: int) -> list[str]:
    """A string, or an array or set of strings (`strings.any_prefix_match`)."""
    t = type(v)
    if t is str:
        return [v]
    if t is tuple or t is frozenset:
        kind = "array" if t is tuple else "set"
        for e in v:
            if type(e) is not str:
                raise TypeError_(f"{name}: operand {pos} must be {kind} of strings but got {kind} "
                                 f"containing {type_name(e)}")
        return list(v)
    raise TypeError_(f"{name}: operand {pos} must be one of {{string, set, array}} but got {type_name(v)}")


def any_prefix_match(search, base):
    name = "strings.any_prefix_match"
    ss, bs = _strings(search, name, 1), _strings(base, name, 2)
    return any(s.startswith(b) for s in ss for b in bs)


def any_suffix_match(search, base):
    name = "strings.any_suffix_match"
    ss, bs = _strings(search, name, 1), _strings(base, name, 2)
    return any(s.endswith(b) for s in ss for b in bs)


def split_n(s, delim, n):
    """The first `n` parts of the split (the last `-n` for a negative `n`)."""
    name = "strings.split_n"
    s, delim, n = string(s, name, 1), string(delim, name, 2), integer(n, name, 3)
    parts = list(s) if delim == "" else s.split(delim)
    if n >= 0:
        return tuple(parts[:n])
    return tuple(parts[n:])


def count(s, sub):
    """Go's `strings.Count`: non-overlapping occurrences; of "" one more than the
    characters."""
    s, sub = string(s, "strings.count", 1), string(sub, "strings.count", 2)
    return len(s) + 1 if sub == "" else s.count(sub)


def reverse(s):
    return string(s, "strings.reverse", 1)[::-1]


def replace_n(patterns, s):
    """Go's `strings.NewReplacer` over the pairs in key order: scanning left to right,
    at each position the first key (in that order) that matches is replaced."""
    name = "strings.replace_n"
    if type(patterns) is not Obj:
        raise TypeError_(f"{name}: operand 1 must be object but got {type_name(patterns)}")
    s = string(s, name, 2)
    pairs = []
    for k in sorted(patterns, key=sort_key):
        v = patterns[k]
        if type(k) is not str:
            raise TypeError_(f"{name}: operand 1 keys must be strings but got {type_name(k)}")
        if type(v) is not str:
            raise TypeError_(f"{name}: operand 1 values must be strings but got {type_name(v)}")
        if k == "":
            raise Unsupported(f"{name}: an empty pattern is not reproduced exactly")
        pairs.append((k, v))
    out, i = [], 0
    while i < len(s):
        for old, new in pairs:
            if s.startswith(old, i):
                out.append(new)
                i += len(old)
                break
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def indexof_n(s, sub):
    """Every position where `sub` starts, overlapping ones included."""
    s, sub = string(s, "indexof_n", 1), string(sub, "indexof_n", 2)
    if sub == "":
        raise BuiltinError("indexof_n: empty search character")
    out, i = [], s.find(sub)
    while i >= 0:
        out.append(i)
        i = s.find(sub, i + 1)
    return tuple(out)


TABLE = {
    "strings.any_prefix_match": (2, any_prefix_match),
    "strings.any_suffix_match": (2, any_suffix_match),
    "strings.split_n": (3, split_n),
    "strings.count": (2, count),
    "strings.reverse": (1, reverse),
    "strings.replace_n": (2, replace_n),
    "indexof_n": (2, indexof_n),
}
