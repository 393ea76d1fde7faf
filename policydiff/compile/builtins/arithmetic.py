"""The number builtins, computed as OPA 1.20 computes them.

Numbers of integral value (`3`, `2.0`, `1e30`) add, subtract, multiply, take a
remainder and sum exactly, as integers of any size. Every other operation, and these
ones when an operand is not integral, goes through `bigfloat`: each operand read into
64 significant bits, the result rounded to 64 bits and written as the shortest text
that reads back the same (`1 / 3` is 0.33333333333333333334, so `1 / 3 * 3 == 1`).
Division always does (`36893488147419103234 / 2` is rounded); `product` of a
non-integral member keeps a float64's 53 bits (`product([1.1, 1.1])` is
1.2100000000000002). Rounding builtins keep OPA's quirks: `ceil(-0.5)` is 1,
`floor(-0.5)` is 0.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

from policydiff.compile.builtins.operands import (
    BuiltinError,
    TypeError_,
    Unsupported,
    coll,
    num,
    whole,
)
from policydiff.compile.values import Num, aligned, bigfloat, number, sort_key, type_name
from policydiff.compile.values.bigfloat import Float

_INT64 = 2**63


def _integral(x) -> bool:
    return type(x) is int or x.denominator == 1


def _float(x) -> Float:
    """The 64-bit `big.Float` OPA reads a number's text into."""
    if type(x) is int:
        if -_INT64 < x < _INT64:  # at most 63 bits: exact
            return Float(Fraction(x), x < 0)
        return bigfloat.parse(str(x))
    return bigfloat.parse(x.text)


def _number(f: Float) -> int | Num:
    return number(bigfloat.text(f))


def _binary(exact, inexact):
    def op(x, y):
        if _integral(x) and _integral(y):
            return exact(int(x), int(y))
        return _number(inexact(_float(x), _float(y)))

    return op


_add = _binary(int.__add__, bigfloat.add)
_sub = _binary(int.__sub__, bigfloat.sub)
_mul = _binary(int.__mul__, bigfloat.mul)


def plus(a, b):
    if type(a) is int and type(b) is int:
        return a + b
    return _add(num(a, "plus", 1), num(b, "plus", 2))


def minus(a, b):
    if type(a) is int and type(b) is int:
        return a - b
    if type(a) is frozenset and type(b) is frozenset:
        a, b = aligned(a, b)
        return a - b
    return _sub(num(a, "minus", 1), num(b, "minus", 2))


def mul(a, b):
    if type(a) is int and type(b) is int:
        return a * b
    return _mul(num(a, "mul", 1), num(b, "mul", 2))


def div(a, b):
    x, y = num(a, "div", 1), num(b, "div", 2)
    if not y:
        raise BuiltinError("div: divide by zero")
    if type(x) is int and type(y) is int and x and -_INT64 < x < _INT64 and -_INT64 < y < _INT64 and not x % y:
        return x // y  # what the 64-bit quotient is too
    return _number(bigfloat.quo(_float(x), _float(y)))


def rem(a, b):
    x, y = num(a, "rem", 1), num(b, "rem", 2)
    if not (_integral(x) and _integral(y)):
        raise BuiltinError("rem: modulo on floating-point number")
    x, y = int(x), int(y)
    if y == 0:
        raise BuiltinError("rem: modulo by zero")
    r = abs(x) % abs(y)  # Go's remainder keeps the sign of the dividend
    return -r if x < 0 else r


def _small(x) -> bool:
    """An int the rounding builtins return unchanged (a 64-bit float holds it)."""
    return type(x) is int and -_INT64 < x < _INT64


def round_(a):
    x = num(a, "round", 1)
    if _small(x):
        return x
    f = _float(x)
    return bigfloat.trunc(bigfloat.sub(f, bigfloat.HALF) if f.neg else bigfloat.add(f, bigfloat.HALF))


def ceil(a):
    x = num(a, "ceil", 1)
    if _small(x):
        return x
    f = _float(x)
    i = bigfloat.trunc(f)
    return i if i < 0 or f.value == i else i + 1  # OPA's test of the sign makes ceil(-0.5) 1


def floor(a):
    x = num(a, "floor", 1)
    if _small(x):
        return x
    f = _float(x)
    i = bigfloat.trunc(f)
    return i if i >= 0 or f.value == i else i - 1  # and floor(-0.5) 0


def abs_(a):
    x = num(a, "abs", 1)
    if _small(x):
        return abs(x)
    f = _float(x)
    return _number(Float(abs(f.value), False, f.prec))


def _fold(name: str, xs, start: int, exact, inexact):
    """sum and product: exact when every member is integral, else in floats from the
    start value (`big.NewFloat`, of a float64's 53 bits), one rounding per member."""
    c = coll(xs, name, 1, (tuple, frozenset))
    ns = [num(e, name, 1) for e in (sorted(c, key=sort_key) if type(c) is frozenset else c)]
    if all(_integral(n) for n in ns):
        acc = start
        for n in ns:
            acc = exact(acc, int(n))
        return acc
    f = Float(Fraction(start), False, 53)
    for n in ns:
        f = inexact(f, _float(n))
    return _number(f)


def sum_(xs):
    # a new float per step (`new(big.Float).Add`): 64 bits from the first member on
    return _fold("sum", xs, 0, int.__add__, bigfloat.add)


def product(xs):
    # the start value multiplied in place (`product.Mul`): it keeps its 53 bits
    return _fold("product", xs, 1, int.__mul__, lambda f, x: bigfloat.mul(f, x, 53))


_JSON_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_GO_FLOAT = re.compile(r"[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan|0x[0-9a-f.]+p[+-]?\d+)",
                       re.IGNORECASE)


def to_number(v):
    """A string becomes the number of that very text, once Go reads it as a float64."""
    t = type(v)
    if t is int or t is Num:
        return v
    if v is None:
        return 0
    if t is bool:
        return 1 if v else 0
    if t is str:
        if not _JSON_NUMBER.fullmatch(v):
            if _GO_FLOAT.fullmatch(v):  # Go reads ".5", "+5", "Inf"; OPA then keeps the odd text
                raise Unsupported(f"to_number: `{v}` is not written as JSON writes numbers")
            raise BuiltinError(f"to_number: strconv.ParseFloat: parsing {_go_quote(v)}: invalid syntax")
        if float(v) in (float("inf"), float("-inf")):
            raise BuiltinError(f"to_number: strconv.ParseFloat: parsing {_go_quote(v)}: value out of range")
        return number(v)
    raise TypeError_(f"to_number: operand 1 must be one of {{boolean, null, number, string}} but got {type_name(v)}")


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


_BASES = {2: "b", 8: "o", 10: "d", 16: "x"}


def format_int(n, base):
    x = num(n, "format_int", 1)
    if type(base) is not int or base not in _BASES:
        num(base, "format_int", 2)
        raise TypeError_("format_int: operand 2 must be one of {2, 8, 10, 16}")
    return format(bigfloat.trunc(_float(x)), _BASES[base])


def numbers_range(a, b):
    x, y = whole(a, "numbers.range", 1), whole(b, "numbers.range", 2)
    return tuple(range(x, y + 1)) if x <= y else tuple(range(x, y - 1, -1))
