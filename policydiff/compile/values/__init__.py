"""Rego values as the evaluator holds them, and their order.

Inside the evaluator every value is hashable: arrays are tuples, sets frozensets,
objects `Obj` (a dict that hashes by content), strings, booleans and null plain
Python. A number is an `int` when OPA's text of it is a plain integer, else a `Num`:
OPA keeps every number as the text it was written or computed as (`2.0` prints as
`2.0`, a key `1.0` serialises as "1.0"), and compares numbers by the exact value of
that text. `freeze` converts JSON-like documents on the way in (a Python float is the
number its JSON text writes), `thaw` converts back at the API boundary (sets become
lists sorted in OPA's order, numbers Python ints and floats). `UNDEFINED` is the value
of anything undefined. Equality and order follow OPA: 1 == 1.0, booleans are never
numbers, and values of different types order null < boolean < number < string <
array < object < set. Python takes `true` for 1, so in a set or object that would mix
them the ints 0 and 1 are held as `Num`s (`ZERO`, `ONE`; see `set_of`).
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction
from typing import Any

from policydiff.errors import Code, InputError


class _Undefined:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Any = _Undefined()


class Num(Fraction):
    """A number whose text is not a plain integer (`2.0`, `0.5`, `1e3`, `-0`): equal,
    ordered and hashed by the exact value of `text`, so as an int of the same value
    (1 == 1.0, one member of a set), while `text` is what OPA prints of it.

    One exception, OPA's: two texts with a point and trailing zeros (`0.10`,
    `0.5e-400`) are equal when their float64 values are, even if their exact values
    differ (`0.0e20 == 0.5e-400`). `double` is that float64 for such a text."""

    __slots__ = ("double", "text")

    def __new__(cls, text: str):
        self = super().__new__(cls, text)
        self.text = text
        self.double = _float_compared(text)
        return self

    def __repr__(self) -> str:
        return f"Num({self.text!r})"

    def __hash__(self) -> int:
        # one hash for values OPA may call equal: exact for whole ones (as an int's),
        # the float64's for the others (the exception above compares those); beyond a
        # float64, OPA hashes the text, so `{1e400, 10e399}` has two members there too
        f = float(self.text)
        if math.isinf(f):
            return hash(self.text)
        return Fraction.__hash__(self) if self.denominator == 1 else hash(f)

    def _same_double(self, other) -> bool:
        return type(other) is Num and self.double is not None and self.double == other.double

    def __eq__(self, other) -> bool:
        if type(other) is bool:  # Fraction takes `true` for 1; OPA never does
            return False
        if type(other) is float:  # a constant key of the IR: the double of a literal's text
            return float(self.text) == other
        return self._same_double(other) or Fraction.__eq__(self, other)

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    def __lt__(self, other) -> bool:
        return not self._same_double(other) and Fraction.__lt__(self, other)

    def __gt__(self, other) -> bool:
        return not self._same_double(other) and Fraction.__gt__(self, other)

    def __le__(self, other) -> bool:
        return self._same_double(other) or Fraction.__le__(self, other)

    def __ge__(self, other) -> bool:
        return self._same_double(other) or Fraction.__ge__(self, other)

    def __reduce__(self):
        return (Num, (self.text,))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def _float_compared(text: str) -> float | None:
    """The float64 OPA compares `text` by, when it does: a point, then trailing zeros
    or a trailing point, and a point still after those (`1.0` is whole, no float)."""
    if "." not in text:
        return None
    trimmed = text.rstrip(".0")
    if trimmed == text or "." not in trimmed:
        return None
    f = float(text)
    return f if math.isfinite(f) else None


_INT_TEXT = re.compile(r"-?(0|[1-9][0-9]*)")


def number(text: str) -> int | Num:
    """The number OPA holds as `text` (JSON's number syntax)."""
    if _INT_TEXT.fullmatch(text) and text != "-0":
        return int(text)
    return Num(text)


_INT_LIKE = re.compile(r"-?[0-9]+(\.0+)?")


def as_int(v: Any) -> int | None:
    """OPA's `Number.Int`, how an array index or a string offset is read: an integer
    in the int64 range, written as one or with zeros after the point (`1.0`, not
    `1e0`); None for anything else."""
    t = type(v)
    if t is Num:
        if not _INT_LIKE.fullmatch(v.text):
            return None
        v = int(v)
    elif t is not int:
        return None
    return v if -(2**63) <= v < 2**63 else None


def from_float(f: float) -> Num:
    """A Python float as the number of its JSON text (what OPA reads from a JSON
    input: 2.0 stays `2.0`, 0.1 is exactly one tenth)."""
    if not math.isfinite(f):
        raise InputError.at(Code.BAD_INPUT, f"not a JSON value: the number `{f}` in the input or data")
    return Num(repr(f))


class Obj(dict):
    """An object value: a dict that can be a set member or an object key."""

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))


def freeze(v: Any) -> Any:
    """A JSON-like document as the evaluator holds it (runs once per request: keep it
    lean)."""
    t = type(v)
    if t is str or t is bool or t is int or v is None or t is Num:
        return v
    if t is float:
        return from_float(v)
    if t is dict:
        o = Obj(v)  # keys of a dict are hashable already; only values need freezing
        for k, x in v.items():
            tx = type(x)
            if tx is dict or tx is list or tx is tuple or tx is set or tx is float:
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
        return from_float(float(v))
    if isinstance(v, str):
        return str(v)
    if isinstance(v, dict):
        return freeze(dict(v))
    if isinstance(v, (list, tuple)):
        return freeze(list(v))
    raise InputError.at(Code.BAD_INPUT, f"not a JSON value: a `{type(v).__name__}` in the input or data")


def thaw(v: Any) -> Any:
    t = type(v)
    if t is tuple:
        return [thaw(x) for x in v]
    if t is frozenset:
        return [thaw(x) for x in sorted(v, key=sort_key)]
    if t is Obj:
        keys = sorted(v) if all(type(k) is str for k in v) else sorted(v, key=sort_key)
        return {_thaw_key(k): thaw(v[k]) for k in keys}
    if t is Num:
        return int(v.text) if _INT_TEXT.fullmatch(v.text) else float(v.text)
    return v


def _thaw_key(k: Any) -> str:
    """JSON object keys are strings: other keys are written as their JSON text, as OPA
    does when it serialises an object with non-string keys (compact, keys sorted, a
    set as its sorted members, numbers as their text, Go's escapes)."""
    if type(k) is str:
        return k
    if type(k) is Num:
        return k.text
    return _key_json(k)


def _key_json(v: Any) -> str:
    t = type(v)
    if t is str:
        import json

        text = json.dumps(v, ensure_ascii=False)
        for c, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
            text = text.replace(c, esc)
        return text
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is Num:
        return v.text
    if t is tuple:
        return "[" + ",".join(_key_json(x) for x in v) + "]"
    if t is frozenset:
        return "[" + ",".join(_key_json(x) for x in sorted(v, key=sort_key)) + "]"
    named = {}  # keys of one text (`[]` and `set()`) are one key there, the last one's
    for x in sorted(v, key=sort_key):
        named[x if type(x) is str else _key_json(x)] = v[x]
    return "{" + ",".join(f"{_key_json(x)}:{_key_json(named[x])}" for x in sorted(named)) + "}"


_RANK = {type(None): 0, bool: 1, int: 2, Num: 2, float: 2, str: 3, tuple: 4, Obj: 5, frozenset: 6}
_NUMBERS = frozenset((int, Num, float))


def type_name(v: Any) -> str:
    return ("null", "boolean", "number", "string", "array", "object", "set")[_RANK[type(v)]]


def equal(a: Any, b: Any) -> bool:
    """OPA equality: by value, 1 == 1.0, but `true` is not `1`."""
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is tuple:
            return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
        if ta is Obj:
            if len(a) != len(b):
                return False
            if all(type(k) is str for k in a):
                return all(k in b and equal(x, b[k]) for k, x in a.items())
            return compare(a, b) == 0  # a key `true` may find 1
        if ta is frozenset:
            # Python's `==` may take `true` for 1: it decides only when it says unequal
            return a == b and (all(type(x) is str for x in a) or compare(a, b) == 0)
        return a == b
    if ta in _NUMBERS and tb in _NUMBERS:  # a float: a constant key of the IR
        return a == b
    return False


def identical(a: Any, b: Any) -> bool:
    """Equal and written the same (`0` and `0.0` are equal, not identical)."""
    return equal(a, b) and _key_json(a) == _key_json(b)


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


# Python takes `true` for 1 and `false` for 0 (equal, with equal hashes); OPA never
# does. A `Num` never equals a boolean, so inside a set, an object key or anything they
# hold, the integers 0 and 1 become `Num`s of the same text (`ZERO`, `ONE`) whenever
# they would meet a boolean there: one number still (1 == 1.0), written as before, and
# distinct from `false` and `true`. Sets and objects holding no boolean, or no 0 or 1,
# keep plain ints.
ZERO, ONE = Num("0"), Num("1")

_BOOL, _BIT = 1, 2  # what `_kinds` found: a boolean, an int 0 or 1


def _kinds(v: Any) -> int:
    t = type(v)
    if t is str or v is None or t is Num:
        return 0
    if t is bool:
        return _BOOL
    if t is int:
        return _BIT if v == 0 or v == 1 else 0
    found = 0
    if t is tuple or t is frozenset:
        for x in v:
            if type(x) is not str:
                found |= _kinds(x)
    elif t is Obj:
        for k, x in v.items():
            found |= _kinds(k) | _kinds(x)
    return found


def mixes(items) -> bool:
    """Whether `items` hold, at any depth, both a boolean and an int 0 or 1 (then
    Python's hashing and equality would take one for the other)."""
    found = 0
    for x in items:
        if type(x) is not str:
            found |= _kinds(x)
            if found == _BOOL | _BIT:
                return True
    return False


def canon(v: Any) -> Any:
    """`v` with every int 0 and 1 in it (at any depth) as `ZERO` and `ONE`."""
    t = type(v)
    if t is int:
        return ZERO if v == 0 else ONE if v == 1 else v
    if t is tuple:
        return tuple([canon(x) for x in v])
    if t is frozenset:
        return frozenset([canon(x) for x in v])
    if t is Obj:
        return Obj((canon(k), canon(x)) for k, x in v.items())
    return v


def set_of(items: list) -> frozenset:
    """The set of `items`, OPA's: `false` and 0 (`true` and 1) stay two members."""
    s = frozenset(items)
    if len(s) != len(items) and mixes(items):
        s = frozenset([canon(x) for x in items])
    return s


def obj_of(pairs) -> Obj:
    """The object of `(key, value)` pairs (a later pair replaces an equal key's), keys
    as OPA tells them apart."""
    pairs = list(pairs)
    out = Obj(pairs)
    if len(out) != len(pairs) and mixes([k for k, _ in pairs]):
        out = Obj((canon(k), x) for k, x in pairs)
    return out


def aligned(*colls) -> tuple:
    """Sets or objects as Python's set and dict operations may combine them (`a | b`,
    `a - b`, a key of one looked up in the other): each with its 0 and 1 as `ZERO`
    and `ONE` when together they hold both a boolean and an int 0 or 1."""
    found = 0
    for c in colls:
        found |= _kinds(c)
    if found == _BOOL | _BIT:
        return tuple(canon(c) for c in colls)
    return colls


def exact_find(coll, k: Any):
    """A member of set `coll` or a key of object `coll` that OPA's equality finds equal
    to `k` (`k` itself when Python's equality is OPA's for it), or UNDEFINED: Python's
    `in` may find `true` for 1."""
    if k not in coll:
        return UNDEFINED
    t = type(k)
    if t is str or t is Num or k is None or (t is int and k != 0 and k != 1):
        return k  # Python's equality is OPA's for these
    for x in coll:
        if equal(x, k):
            return x
    return UNDEFINED
