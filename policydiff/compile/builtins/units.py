"""`units.parse` and `units.parse_bytes`: amounts with SI and binary suffixes.

OPA reads the amount (everything up to the suffix: digits, points, signs, and an `e`
that a digit or sign follows) into a 64-bit `big.Float`, multiplies it by the suffix's
factor and writes the result as an integer when it is whole, else with ten decimals
(`units.parse`), or truncates it to an integer (`units.parse_bytes`). Quotes are
dropped first; spaces are an error. A result too long to write out is refused.
"""

from __future__ import annotations

import re
from fractions import Fraction

from policydiff.compile.builtins.operands import BuiltinError, Unsupported, string
from policydiff.compile.values import Num, bigfloat, number

_AMOUNT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_EXPONENT = re.compile(r"[eE]([+-]?\d+)$")
_MAX_EXPONENT = 999_999
_MAX_DIGITS = 4000  # a longer integer is refused rather than written out

_SI = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15, "e": 10**18}
_BINARY = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50, "ei": 2**60}
_MILLI = bigfloat.parse("0.001")

# `units.parse`: the suffix as written, but for its first letter lowercase ("KI" is
# "Ki"); `m` is milli and `M` mega, the others either case.
_UNITS: dict[str, bigfloat.Float | int] = {"": 1, "m": _MILLI, "M": _SI["m"]}
for _k, _v in _SI.items():
    if _k != "m":
        _UNITS[_k] = _UNITS[_k.upper()] = _v
for _k, _v in _BINARY.items():
    _UNITS[_k] = _UNITS[_k[0].upper() + _k[1:]] = _v

# `units.parse_bytes`: the suffix in lowercase, with or without a final `b` (but never `b` alone).
_BYTE_UNITS: dict[str, int] = {"": 1}
for _k, _v in (_SI | _BINARY).items():
    _BYTE_UNITS[_k] = _BYTE_UNITS[_k + "b"] = _v


def _split(s: str) -> tuple[str, str]:
    def amount_char(i: int) -> bool:
        c = s[i]
        if c in "eE":  # an exponent when a digit or a sign follows, else a suffix
            return i + 1 < len(s) and s[i + 1] in _AMOUNT_CHARS
        return c in _AMOUNT_CHARS

    i = 0
    while i < len(s) and amount_char(i):
        i += 1
    return s[:i], s[i:]


_AMOUNT_CHARS = frozenset("0123456789.+-")


def _amount(s: str, name: str, what: str) -> tuple[bigfloat.Float, str]:
    s = s.replace('"', "")
    if " " in s:
        raise BuiltinError(f"{name}: spaces not allowed in resource strings")
    amount, unit = _split(s)
    if not amount:
        raise BuiltinError(f"{name}: no {what} provided")
    if not _AMOUNT.fullmatch(amount):
        raise BuiltinError(f"{name}: could not parse {what} to a number")
    if (m := _EXPONENT.search(amount)) and abs(int(m.group(1))) > _MAX_EXPONENT:
        raise BuiltinError(f"{name}: exponent too large")
    return bigfloat.parse(amount), unit


def _times(x: bigfloat.Float, factor: bigfloat.Float | int) -> bigfloat.Float:
    y = factor if isinstance(factor, bigfloat.Float) else bigfloat.Float(Fraction(factor), False)
    return bigfloat.mul(x, y)


def _whole(v: Fraction, name: str) -> int:
    i = int(v)
    if abs(i).bit_length() > _MAX_DIGITS * 3:
        raise Unsupported(f"{name}: a result of more than {_MAX_DIGITS} digits is not written out")
    return i


def parse(s):
    name = "units.parse"
    x, unit = _amount(string(s, name, 1), name, "amount")
    key = unit[:1] + unit[1:].lower()
    if key not in _UNITS:
        raise BuiltinError(f"{name}: unit {key} not recognized")
    v = _times(x, _UNITS[key]).value
    if v.denominator == 1:
        return _whole(v, name)
    return _ten_places(v)


def parse_bytes(s):
    name = "units.parse_bytes"
    x, unit = _amount(string(s, name, 1), name, "byte amount")
    key = unit.lower()
    if key not in _BYTE_UNITS:
        raise BuiltinError(f"{name}: byte unit {key} not recognized")
    return _whole(_times(x, _BYTE_UNITS[key]).value, name)


def _ten_places(v: Fraction) -> int | Num:
    """`Text('f', 10)` of an exact binary value: rounded to nearest, ties to even."""
    scaled = abs(v) * 10**10
    q, r = divmod(scaled.numerator, scaled.denominator)
    if 2 * r > scaled.denominator or (2 * r == scaled.denominator and q & 1):
        q += 1
    digits = str(q).rjust(11, "0")
    return number(f"{'-' if v < 0 else ''}{digits[:-10]}.{digits[-10:]}")


TABLE = {"units.parse": (1, parse), "units.parse_bytes": (1, parse_bytes)}
