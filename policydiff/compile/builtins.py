"""The builtin functions of the subset, with OPA's names, arities and meaning.

`BUILTINS` maps a name to `(arity, function)`; functions take and return evaluator
values (see `values`) and raise the errors of `operands`. Formatting lives in
`formatting`, glob and regex matching in `patterns`. Names not in the table are
refused when a policy is loaded.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import sys
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from policydiff.compile.formatting import sprintf
from policydiff.compile.operands import (
    BuiltinError,
    TypeError_,
    Unsupported,
    coll,
    norm,
    num,
    set_,
    string,
)
from policydiff.compile.patterns import glob_match, glob_regex, regex_match, regex_problem
from policydiff.compile.values import UNDEFINED, Obj, compare, equal, sort_key, type_name

__all__ = ["BUILTINS", "NONDETERMINISTIC_PREFIXES", "BuiltinError", "TypeError_", "Unsupported",
           "glob_regex", "regex_problem"]


# ----------------------------------------------------------------------------- operators


def _exact(op, x, y):
    """OPA computes with decimals, not binary floats: 0.1 + 0.2 is 0.3."""
    if type(x) is int and type(y) is int:
        return op(x, y)
    return _double(op(_decimal(x), _decimal(y)))


def _exact_fold(op, xs, start):
    """`op` over all of `xs` in decimals, rounded once at the end as OPA's sum is."""
    if all(type(x) is int for x in xs):
        return functools.reduce(op, xs, start)
    return _double(functools.reduce(op, map(_decimal, xs), Decimal(start)))


def _decimal(x) -> Decimal:
    if type(x) is float and not math.isfinite(x):
        raise Unsupported(f"the number `{x}` is not evaluated")
    return Decimal(repr(x)) if type(x) is float else Decimal(x)


def _double(exact) -> int | float:
    """`exact` as the evaluator holds it. A whole decimal result is an integer however
    large (1e20 / 4 is 25000000000000000000, 1e308 * 10 no infinity), as OPA keeps it
    and goes on with exact integer arithmetic; every double beyond 2**53 is whole, so
    only the decimal can tell. OPA's numbers have no range: a result that underflows a
    double (or of absurd size) is refused, not guessed."""
    f = float(exact)
    if abs(f) >= 2**63 and type(exact) is Decimal and _whole(exact):
        return int(exact)
    if not (_DOUBLE_MIN <= abs(f) <= _DOUBLE_MAX) and exact:
        raise Unsupported("a result beyond a double's range is not evaluated")
    return norm(f)


_DOUBLE_MIN, _DOUBLE_MAX = sys.float_info.min, sys.float_info.max


def _whole(d: Decimal) -> bool:
    """`d` is a whole number OPA writes with these same digits: at most 18 of them, the
    most a float of 64 significant bits reads back unchanged (more were rounded here
    at 28 digits, there at 64 bits, differently), and not of absurd size."""
    return d == d.to_integral_value() and len(d.normalize().as_tuple().digits) <= 18 and d.adjusted() <= 4000


def _plus(a, b):
    return _exact(operator.add, num(a, "plus", 1), num(b, "plus", 2))


def _minus(a, b):
    if type(a) is frozenset and type(b) is frozenset:
        return a - b
    return _exact(operator.sub, num(a, "minus", 1), num(b, "minus", 2))


def _mul(a, b):
    return _exact(operator.mul, num(a, "mul", 1), num(b, "mul", 2))


def _div(a, b):
    x, y = num(a, "div", 1), num(b, "div", 2)
    if y == 0:
        raise BuiltinError("div: divide by zero")
    if type(x) is int and type(y) is int and x % y == 0:
        return x // y
    try:
        q = x / y
    except OverflowError:  # an int too large for a float: the decimal decides
        q = math.inf
    if not q and x:
        raise Unsupported("a result beyond a double's range is not evaluated")
    return _double(q if abs(q) < 2**63 else _decimal(x) / _decimal(y))


def _round(a):
    """Halves away from zero, on the decimal: adding 0.5 in binary would round twice."""
    x = num(a, "round", 1)
    return _binary64(x) if type(x) is int else int(_decimal(x).to_integral_value(ROUND_HALF_UP))


def _binary64(n: int) -> int:
    """`n` as OPA's rounding builtins see an integer: a float of 64 significant bits
    (round, floor, ceil and abs of 10**20 + 1 are 10**20), nearest, ties to even."""
    shift = abs(n).bit_length() - 64
    if shift <= 0:
        return n
    q, r = divmod(abs(n), 1 << shift)
    half = 1 << (shift - 1)
    q += r > half or (r == half and q & 1)
    return (q << shift) * (-1 if n < 0 else 1)


def _abs_int(n: int) -> int:
    """OPA's abs of an integer beyond 64 bits: the float it reads, written with the
    fewest digits that read back as that float (|3 * 2**64 + 1| is ...850, not ...848)."""
    b = _binary64(abs(n))
    if b == abs(n) and b.bit_length() <= 64:
        return b
    digits = len(str(b))
    for k in range(1, digits + 1):
        unit = 10 ** (digits - k)
        q, r = divmod(b, unit)
        candidate = (q + (2 * r > unit or (2 * r == unit and q & 1))) * unit
        if _binary64(candidate) == b:
            return candidate
    return b


def _rem(a, b):
    x, y = num(a, "rem", 1), num(b, "rem", 2)
    if type(x) is not int or type(y) is not int:
        x, y = _integer(x), _integer(y)
    if y == 0:
        raise BuiltinError("rem: modulo by zero")
    r = abs(x) % abs(y)  # Go's % keeps the sign of the dividend
    return -r if x < 0 else r


def _integer(x):
    """OPA's `%` takes any number that is a whole integer, 7.0 as well as 7."""
    if type(x) is int:
        return x
    if not x.is_integer():
        raise BuiltinError("rem: modulo on floating-point number")
    if abs(x) >= 2**53:  # OPA reads the number's decimal text, not this binary double
        raise Unsupported("rem: modulo of a float beyond 2**53 is not evaluated")
    return int(x)


def _member(x, coll):
    t = type(coll)
    if t is frozenset:
        if x not in coll:
            return False
        return type(x) is str or any(equal(x, e) for e in coll)  # `in` hashes true like 1
    if t is tuple:
        return any(equal(x, e) for e in coll)
    if t is Obj:
        return any(equal(x, e) for e in coll.values())
    return False


def _member_kv(k, v, coll):
    t = type(coll)
    if t is tuple:
        return type(k) in (int, float) and type(k) is not bool and float(k).is_integer() \
            and 0 <= k < len(coll) and equal(coll[int(k)], v)
    if t is Obj:
        return k in coll and equal(coll[k], v)
    if t is frozenset:
        return equal(k, v) and _member(k, coll)
    return False


# ---------------------------------------------------------------------------- aggregates


def _count(x):
    if type(x) is str:
        return len(x)
    return len(coll(x, "count", 1))


def _sum(x):
    return _exact_fold(operator.add, [num(e, "sum", 1) for e in coll(x, "sum", 1, (tuple, frozenset))], 0)


def _product(x):
    return _exact_fold(operator.mul, [num(e, "product", 1) for e in coll(x, "product", 1, (tuple, frozenset))], 1)


def _max(x):
    xs = coll(x, "max", 1, (tuple, frozenset))
    return max(xs, key=sort_key) if xs else UNDEFINED


def _min(x):
    xs = coll(x, "min", 1, (tuple, frozenset))
    return min(xs, key=sort_key) if xs else UNDEFINED


def _sort(x):
    return tuple(sorted(coll(x, "sort", 1, (tuple, frozenset)), key=sort_key))


# ------------------------------------------------------------------------------- strings


def _concat(sep, xs):
    sep = string(sep, "concat", 1)
    xs = coll(xs, "concat", 2, (tuple, frozenset))
    return sep.join(string(e, "concat", 2) for e in (sorted(xs, key=sort_key) if type(xs) is frozenset else xs))


def _trim(s, cut):
    return string(s, "trim", 1).strip(string(cut, "trim", 2))


def _replace(s, old, new):
    return string(s, "replace", 1).replace(string(old, "replace", 2), string(new, "replace", 3))


def _substring(s, start, length):
    s = string(s, "substring", 1)
    start, length = num(start, "substring", 2), num(length, "substring", 3)
    if start < 0:
        raise BuiltinError("substring: negative offset")
    return s[start:] if length < 0 else s[start:start + length]


def _indexof(s, sub):
    return string(s, "indexof", 1).find(string(sub, "indexof", 2))


_JSON_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _to_number(v):
    t = type(v)
    if t in (int, float):
        return v
    if v is None:
        return 0
    if t is bool:
        return 1 if v else 0
    if t is str:
        if not _NUMBER.fullmatch(v):  # Python would also take "1_000", " 1", "inf"
            raise BuiltinError(f"to_number: invalid syntax: {v!r}")
        if not _JSON_NUMBER.fullmatch(v):  # Go reads ".5", "+5"; OPA then keeps the odd text
            raise Unsupported(f"to_number: `{v}` is not written as JSON writes numbers")
        try:
            return int(v)
        except ValueError:
            return norm(float(v))
    raise TypeError_(f"to_number: operand 1 must be one of {{boolean, null, number, string}} but got {type_name(v)}")


# ------------------------------------------------------------------------ objects & sets


def _object_get(obj, key, default):
    t = type(obj)
    if t is not Obj:
        raise TypeError_(f"object.get: operand 1 must be object but got {type_name(obj)}")
    if type(key) is tuple:
        cur = obj
        for k in key:
            if type(cur) is Obj and k in cur or type(cur) is tuple and type(k) is int and 0 <= k < len(cur):
                cur = cur[k]
            elif type(cur) is frozenset and k in cur:
                cur = k
            else:
                return default
        return cur
    return obj.get(key, default)


def _object_keys(obj):
    if type(obj) is not Obj:
        raise TypeError_(f"object.keys: operand 1 must be object but got {type_name(obj)}")
    return frozenset(obj)


def _object_union(a, b):
    if type(a) is not Obj or type(b) is not Obj:
        raise TypeError_("object.union: operands must be objects")
    out = Obj(a)
    for k, v in b.items():
        out[k] = _object_union(out[k], v) if type(out.get(k)) is Obj and type(v) is Obj else v
    return out


def _object_remove(obj, keys):
    if type(obj) is not Obj:
        raise TypeError_(f"object.remove: operand 1 must be object but got {type_name(obj)}")
    drop = set(keys.values()) if type(keys) is Obj else set(coll(keys, "object.remove", 2))
    return Obj((k, v) for k, v in obj.items() if k not in drop)


def _union(xs):
    out: frozenset = frozenset()
    for s in set_(xs, "union", 1):
        out |= set_(s, "union", 1)
    return out


def _intersection(xs):
    sets = [set_(s, "intersection", 1) for s in set_(xs, "intersection", 1)]
    return frozenset.intersection(*sets) if sets else frozenset()


def _array_concat(a, b):
    return coll(a, "array.concat", 1, (tuple,)) + coll(b, "array.concat", 2, (tuple,))


def _array_slice(a, i, j):
    a = coll(a, "array.slice", 1, (tuple,))
    i, j = max(num(i, "array.slice", 2), 0), min(num(j, "array.slice", 3), len(a))
    return a[i:j] if i < j else ()


def _graph_reachable(graph, initial):
    if type(graph) is not Obj:
        raise TypeError_(f"graph.reachable: operand 1 must be object but got {type_name(graph)}")
    todo = list(coll(initial, "graph.reachable", 2, (tuple, frozenset)))
    seen: set = set()
    while todo:
        n = todo.pop()
        if n in seen or n not in graph:  # OPA reaches only the graph's own nodes
            continue
        seen.add(n)
        edges = graph[n]
        if type(edges) in (tuple, frozenset):
            todo.extend(edges)
    return frozenset(seen)


def _range(a, b):
    a, b = num(a, "numbers.range", 1), num(b, "numbers.range", 2)
    if type(a) is not int or type(b) is not int:
        raise BuiltinError("numbers.range: operands must be integers")
    return tuple(range(a, b + 1)) if a <= b else tuple(range(a, b - 1, -1))


def _is(kind: str) -> Callable[[Any], bool]:
    def check(v):
        return type_name(v) == kind

    return check


def _split(s, sep):
    s, sep = string(s, "split", 1), string(sep, "split", 2)
    return tuple(s) if sep == "" else tuple(s.split(sep))  # Go splits "" into characters


def _case(s: str, upper: bool) -> str:
    """Go maps case one character at a time: `ß` stays `ß` where Python writes `SS`."""
    out = []
    for c in s:
        m = c.upper() if upper else c.lower()
        out.append(m if len(m) == 1 else _GO_CASE.get(c, c))
    return "".join(out)


_GO_CASE = {"İ": "i"}


def _eq(a, b):
    return equal(a, b)


BUILTINS: dict[str, tuple[int, Callable[..., Any]]] = {
    "equal": (2, _eq),
    "neq": (2, lambda a, b: not equal(a, b)),
    "lt": (2, lambda a, b: compare(a, b) < 0),
    "lte": (2, lambda a, b: compare(a, b) <= 0),
    "gt": (2, lambda a, b: compare(a, b) > 0),
    "gte": (2, lambda a, b: compare(a, b) >= 0),
    "plus": (2, _plus),
    "minus": (2, _minus),
    "mul": (2, _mul),
    "div": (2, _div),
    "rem": (2, _rem),
    "and": (2, lambda a, b: set_(a, "and", 1) & set_(b, "and", 2)),
    "or": (2, lambda a, b: set_(a, "or", 1) | set_(b, "or", 2)),
    "internal.member_2": (2, _member),
    "internal.member_3": (3, _member_kv),
    "count": (1, _count),
    "sum": (1, _sum),
    "product": (1, _product),
    "max": (1, _max),
    "min": (1, _min),
    "sort": (1, _sort),
    "abs": (1, lambda x: _abs_int(x) if type(x) is int else abs(num(x, "abs", 1))),
    "round": (1, _round),
    "floor": (1, lambda x: _binary64(x) if type(x) is int else int(num(x, "floor", 1) // 1)),
    "ceil": (1, lambda x: _binary64(x) if type(x) is int else -int(-num(x, "ceil", 1) // 1)),
    "startswith": (2, lambda s, p: string(s, "startswith", 1).startswith(string(p, "startswith", 2))),
    "endswith": (2, lambda s, p: string(s, "endswith", 1).endswith(string(p, "endswith", 2))),
    "contains": (2, lambda s, p: string(p, "contains", 2) in string(s, "contains", 1)),
    "concat": (2, _concat),
    "lower": (1, lambda s: _case(string(s, "lower", 1), False)),
    "upper": (1, lambda s: _case(string(s, "upper", 1), True)),
    "sprintf": (2, sprintf),
    "split": (2, _split),
    "trim": (2, _trim),
    "trim_space": (1, lambda s: string(s, "trim_space", 1).strip()),
    "trim_prefix": (2, lambda s, p: string(s, "trim_prefix", 1).removeprefix(string(p, "trim_prefix", 2))),
    "trim_suffix": (2, lambda s, p: string(s, "trim_suffix", 1).removesuffix(string(p, "trim_suffix", 2))),
    "trim_left": (2, lambda s, c: string(s, "trim_left", 1).lstrip(string(c, "trim_left", 2))),
    "trim_right": (2, lambda s, c: string(s, "trim_right", 1).rstrip(string(c, "trim_right", 2))),
    "replace": (3, _replace),
    "substring": (3, _substring),
    "indexof": (2, _indexof),
    "format_int": (2, lambda n, b: format(int(num(n, "format_int", 1)),
                                          {2: "b", 8: "o", 10: "d", 16: "x"}[num(b, "format_int", 2)])),
    "to_number": (1, _to_number),
    "object.get": (3, _object_get),
    "object.keys": (1, _object_keys),
    "object.union": (2, _object_union),
    "object.remove": (2, _object_remove),
    "union": (1, _union),
    "intersection": (1, _intersection),
    "array.concat": (2, _array_concat),
    "numbers.range": (2, _range),
    "array.slice": (3, _array_slice),
    "glob.match": (3, glob_match),
    "regex.match": (2, regex_match),
    "graph.reachable": (2, _graph_reachable),
    "is_string": (1, _is("string")),
    "is_number": (1, _is("number")),
    "is_boolean": (1, _is("boolean")),
    "is_array": (1, _is("array")),
    "is_set": (1, _is("set")),
    "is_object": (1, _is("object")),
    "is_null": (1, _is("null")),
    "type_name": (1, type_name),
}

# Every other OPA builtin is refused at load time; these are named so the message can
# say why (they depend on the world outside the policy, or on time).
NONDETERMINISTIC_PREFIXES = ("http.", "net.", "rand.", "uuid.", "time.", "opa.", "io.", "crypto.")
