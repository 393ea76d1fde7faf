"""OPA's arithmetic on numbers that are not both integers: Go's `math/big.Float`.

OPA holds a number as its text. To compute with one that is not an integer it reads
the text into a `big.Float` of 64 significant bits (`SetString`, which rounds to nearest
even, exactly for at most 27 decimal places or exponent digits and through powers of
five rounded at 128 and 192 bits beyond that), applies the operation rounded to 64
bits, and writes the result back as the shortest decimal that reads back to the same
64-bit value (`Text('g', -1)`, or `'f'` for a whole result). `Float` is such a
value: exact as a `Fraction`, with its sign bit, since `0 * -1.5` is `-0` in OPA.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import NamedTuple

PREC = 64


class Float(NamedTuple):
    """A `big.Float` of OPA's arithmetic: `value` already rounded to `prec` bits, `neg`
    the sign bit (it tells `-0` from `0`; for other values it is `value < 0`)."""

    value: Fraction
    neg: bool
    prec: int = PREC


HALF = Float(Fraction(1, 2), False, 53)  # `big.NewFloat(0.5)`: a float64's precision


def rounded(q: Fraction | int, prec: int = PREC) -> Fraction:
    """`q` rounded to `prec` significant bits, to nearest, ties to even."""
    if not q:
        return Fraction(0)
    n, d = abs(q.numerator), q.denominator
    e = n.bit_length() - d.bit_length() - prec + 1  # n / d / 2**e is below 2**prec
    m, r, den = _scaled(n, d, e)
    if m < 1 << (prec - 1):
        e -= 1
        m, r, den = _scaled(n, d, e)
    if 2 * r > den or (2 * r == den and m & 1):
        m += 1
    out = Fraction(m << e) if e >= 0 else Fraction(m, 1 << -e)
    return -out if q < 0 else out


def _scaled(n: int, d: int, e: int) -> tuple[int, int, int]:
    """`n / (d * 2**e)` as quotient, remainder and divisor."""
    num, den = (n, d << e) if e >= 0 else (n << -e, d)
    m, r = divmod(num, den)
    return m, r, den


# ---------------------------------------------------------------------------- reading

_TEXT = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_POW5_EXACT = 27  # 5**27 is the largest power of five in a uint64


def parse(text: str) -> Float:
    """The `big.Float` that `SetString(text)` makes, at 64 bits."""
    m = _TEXT.fullmatch(text)
    if m is None:
        raise ValueError(f"not a number: {text!r}")
    sign, whole, frac, exp = m.groups()
    frac = frac or ""
    mant = int(whole + frac or "0")
    neg = sign == "-"
    if not mant:
        return Float(Fraction(0), neg)
    e10 = int(exp or 0) - len(frac)
    if e10 == 0:
        q: Fraction | int = mant
    elif e10 > 0:
        q = mant * (1 << e10) * _pow5(e10)
    else:
        q = Fraction(mant, 1 << -e10) / _pow5(-e10)
    v = rounded(q)
    return Float(-v if neg else v, neg)


def _pow5(n: int) -> Fraction | int:
    """5**n as `big.Float.pow5` computes it for `SetString`: exact up to 5**27, beyond
    that by squaring, the product rounded at 128 bits and the squares at 192."""
    if n <= _POW5_EXACT:
        return 5**n
    z: Fraction | int = 5**_POW5_EXACT
    f: Fraction | int = 5
    n -= _POW5_EXACT
    while n:
        if n & 1:
            z = rounded(z * f, PREC + 64)
        f = rounded(f * f, PREC + 128)
        n >>= 1
    return z


# ---------------------------------------------------------------------------- arithmetic


# Each operation rounds to `prec`: a new `big.Float` takes its operands' larger
# precision, one that already has a precision (`z.Mul(z, x)`) keeps it.


def add(x: Float, y: Float, prec: int = 0) -> Float:
    prec = prec or max(x.prec, y.prec)
    v = rounded(x.value + y.value, prec)
    if v:
        return Float(v, v < 0, prec)
    return Float(v, x.neg and y.neg if not x.value and not y.value else False, prec)


def sub(x: Float, y: Float) -> Float:
    return add(x, Float(-y.value, not y.neg, y.prec))


def mul(x: Float, y: Float, prec: int = 0) -> Float:
    prec = prec or max(x.prec, y.prec)
    return Float(rounded(x.value * y.value, prec), x.neg != y.neg, prec)


def quo(x: Float, y: Float) -> Float:
    prec = max(x.prec, y.prec)
    return Float(rounded(x.value / y.value, prec), x.neg != y.neg, prec)


def trunc(x: Float) -> int:
    """`big.Float.Int`: the integer part, towards zero."""
    return int(x.value)


# ---------------------------------------------------------------------------- writing


def text(x: Float) -> str:
    """OPA's `FloatToNumber`: `Text('f', -1)` for a whole value, else `Text('g', -1)`."""
    sign = "-" if x.neg else ""
    if not x.value:
        return sign + "0"
    digits, exp = _shortest(abs(x.value), x.prec)
    if x.value.denominator == 1:
        return sign + _fixed(digits, exp)
    if exp - 1 < -4 or exp - 1 >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = exp - 1
        return f"{sign}{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    return sign + _fixed(digits, exp)


def _fixed(digits: str, exp: int) -> str:
    """`0.digits * 10**exp` in positional notation, as many decimals as the digits need."""
    whole = (digits[:exp].ljust(exp, "0")) if exp > 0 else "0"
    places = max(len(digits) - exp, 0)
    frac = "".join(digits[exp + i] if 0 <= exp + i < len(digits) else "0" for i in range(places))
    return whole + ("." + frac if frac else "")


def _shortest(v: Fraction, prec: int) -> tuple[str, int]:
    """The fewest decimal digits that read back as `v` (> 0) at `prec` bits, and the
    position of the decimal point: Go's `roundShortest` on `big.Float`, step by step
    (its bounds sit half an ulp either side, inclusive when the mantissa is even)."""
    m, e = _mant_exp(v, prec)
    mant, e2 = m << 1, e - 1  # the lowest bit is half an ulp
    digits, exp = _decimal(m, e)
    lower, _ = _decimal(mant - 1, e2)
    upper, _ = _decimal(mant + 1, e2)
    inclusive = not m & 1
    for i, c in enumerate(digits):
        lo = lower[i] if i < len(lower) else "0"
        up = upper[i] if i < len(upper) else "0"
        okdown = lo != c or (inclusive and i + 1 == len(lower))
        okup = c != up and (inclusive or int(c) + 1 < int(up) or i + 1 < len(upper))
        if okdown and okup:
            return _round_half_even(digits, exp, i + 1)
        if okdown:
            return _round_down(digits, exp, i + 1)
        if okup:
            return _round_up(digits, exp, i + 1)
    return digits, exp


def _mant_exp(v: Fraction, prec: int) -> tuple[int, int]:
    """`v = m * 2**e` with `m` of exactly `prec` bits (`v` has no more significant bits)."""
    n, d = v.numerator, v.denominator
    shift = d.bit_length() - 1  # d is a power of two
    e = n.bit_length() - prec
    return (n >> e, e - shift) if e >= 0 else (n << -e, e - shift)


def _decimal(m: int, e: int) -> tuple[str, int]:
    """The exact decimal digits of `m * 2**e` without trailing zeros, and the position
    of the decimal point (`0.digits * 10**exp`)."""
    if e >= 0:
        s = str(m << e)
        exp = len(s)
    else:
        s = str(m * 5**-e)
        exp = len(s) + e
    return s.rstrip("0") or "0", exp


def _round_half_even(digits: str, exp: int, n: int) -> tuple[str, int]:
    if n >= len(digits):
        return digits, exp
    up = digits[n] > "5" or (digits[n] == "5" and (n + 1 < len(digits) or (n > 0 and int(digits[n - 1]) & 1)))
    return _round_up(digits, exp, n) if up else _round_down(digits, exp, n)


def _round_down(digits: str, exp: int, n: int) -> tuple[str, int]:
    if n >= len(digits):
        return digits, exp
    return digits[:n].rstrip("0") or "0", exp


def _round_up(digits: str, exp: int, n: int) -> tuple[str, int]:
    if n >= len(digits):
        return digits, exp
    while n > 0 and digits[n - 1] == "9":
        n -= 1
    if n == 0:
        return "1", exp + 1
    return digits[: n - 1] + str(int(digits[n - 1]) + 1), exp
