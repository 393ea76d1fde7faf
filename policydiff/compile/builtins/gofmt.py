"""Go's `fmt.Sprintf`, for the four kinds of argument OPA's `sprintf` hands it.

An argument is `(kind, value)`: `int64` and `big.Int` (Python ints), `float64` (a
finite Python float) or `string`. `format` parses Go's directives (flags `+-# 0`,
width, precision, verb) and formats each as Go does: integers with their minimum
digits and zero padding, floats through `strconv` (shortest digits when no precision
is given), strings truncated to the precision, padding in runes, and a verb of the
wrong kind as `%!verb(kind=value)` with the value written by `%v` under the same
flags. Directives whose Go output is not reproduced (`#`, `*`, argument indexes,
`%c`, `%q` of a number, `%x` of a float, ...) raise `Unsupported`.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from policydiff.compile.builtins.operands import Unsupported

_DIRECTIVE = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d*))?(.?)", re.DOTALL)


class Spec(NamedTuple):
    plus: bool
    minus: bool
    space: bool
    zero: bool
    width: int | None
    prec: int | None


def format(fmt: str, args: list[tuple[str, Any]]) -> str:
    out = []
    pos = n = 0
    while True:
        i = fmt.find("%", pos)
        if i < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:i])
        m = _DIRECTIVE.match(fmt, i)
        assert m is not None
        flags, width, prec, verb = m.groups()
        pos = m.end()
        if verb in ("", "*", "[", "T", "p", "w") or "#" in flags or len(width) > 6 or len(prec or "") > 6:
            raise Unsupported(f"sprintf: `{m.group(0)}` is not reproduced exactly")
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        minus = "-" in flags
        spec = Spec(plus="+" in flags, minus=minus, space=" " in flags, zero="0" in flags and not minus,
                    width=int(width) if width else None, prec=None if prec is None else int(prec or 0))
        kind, v = args[n]
        n += 1
        if verb == "v":
            spec = spec._replace(plus=False)  # `%+v` is Go's struct syntax, not a sign
        out.append(_arg(kind, v, verb, spec))
    if n < len(args):
        plain = Spec(False, False, False, False, None, None)
        out.append("%!(EXTRA " + ", ".join(f"{'*' if k == 'big.Int' else ''}{k}={_arg(k, v, 'v', plain)}"
                                            for k, v in args[n:]) + ")")
    return "".join(out)


def _arg(kind: str, v, verb: str, spec: Spec) -> str:
    if kind == "big.Int":
        return _big_int(v, verb, spec)
    if kind == "int64":
        base = {"v": 10, "d": 10, "b": 2, "o": 8, "x": 16, "X": 16}.get(verb)
        if base is not None:
            return _integer(v, base, verb == "X", spec)
        if verb in "cqUO":
            raise Unsupported(f"sprintf: `%{verb}` of an integer is not reproduced exactly")
    elif kind == "float64":
        if verb in "vgG":
            return _float(v, "g" if verb == "v" else verb, spec.prec if spec.prec is not None else -1, spec)
        if verb in "eEfF":
            return _float(v, verb, spec.prec if spec.prec is not None else 6, spec)
        if verb in "bxX":
            raise Unsupported(f"sprintf: `%{verb}` of a float is not reproduced exactly")
    else:
        if verb in "vs":
            return _pad(v if spec.prec is None else v[: spec.prec], spec)
        if verb in "xX" and spec == Spec(False, False, False, False, None, None):
            return v.encode().hex() if verb == "x" else v.encode().hex().upper()
        if verb == "q" and spec == Spec(False, False, False, False, None, None) and v.isascii() and v.isprintable():
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if verb in "xXq":
            raise Unsupported(f"sprintf: `%{verb}` of this string is not reproduced exactly")
    return f"%!{verb}({kind}={_arg(kind, v, 'v', spec)})"


def _pad(s: str, spec: Spec) -> str:
    """Padding to the width in runes: spaces, on the right with `-`, zeros with `0`."""
    if spec.width is None or spec.width <= len(s):
        return s
    fill = spec.width - len(s)
    if spec.minus:
        return s + " " * fill
    return ("0" if spec.zero else " ") * fill + s


def _integer(v: int, base: int, upper: bool, spec: Spec) -> str:
    """Go's `fmtInteger`: the precision (or, with `0`, the width) is a minimum number
    of digits; a sign for negatives, `+` or ` ` if asked; then space padding."""
    if spec.prec is not None and spec.prec == 0 and v == 0:
        return _pad("", spec._replace(zero=False))
    negative = v < 0
    digits = _digits(abs(v), base, upper)
    if spec.prec is not None:
        least = spec.prec
    elif spec.zero and spec.width is not None:
        least = spec.width - (1 if negative or spec.plus or spec.space else 0)
    else:
        least = 0
    digits = digits.rjust(least, "0")
    sign = "-" if negative else "+" if spec.plus else " " if spec.space else ""
    return _pad(sign + digits, spec._replace(zero=False))


def _digits(u: int, base: int, upper: bool) -> str:
    s = {2: "b", 8: "o", 10: "d", 16: "x"}[base]
    out = f"{u:{s}}"
    return out.upper() if upper else out


def _float(v: float, verb: str, prec: int, spec: Spec) -> str:
    """Go's `fmtFloat` over `strconv.FormatFloat`: the sign written before zero
    padding, `+` or ` ` only when asked."""
    num = _strconv(v, verb, prec)
    if num[0] != "-":
        num = ("+" if spec.plus or not spec.space else " ") + num
    if spec.plus or num[0] != "+":
        if spec.zero and spec.width is not None and spec.width > len(num):
            return num[0] + "0" * (spec.width - len(num)) + num[1:]
        return _pad(num, spec)
    return _pad(num[1:], spec)


def _strconv(v: float, verb: str, prec: int) -> str:
    if verb in "gG" and prec < 0:
        text = shortest_g(v)
        return text.upper() if verb == "G" else text
    if verb in "fF":
        return f"{v:.{prec}f}"
    if verb in "eE":
        return f"{v:.{prec}{verb}}"
    return f"{v:.{max(prec, 1)}{verb}}"


def shortest_g(v: float) -> str:
    """`strconv.FormatFloat(v, 'g', -1, 64)`: the shortest digits, in exponent form
    when the exponent is below -4 or at least 6 (`1.2345675e+06`)."""
    sign = "-" if math.copysign(1.0, v) < 0 else ""
    if not v:
        return sign + "0"
    digits, exp = _shortest(v)
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    whole, frac = digits[: exp + 1].ljust(exp + 1, "0"), digits[exp + 1:]
    return f"{sign}{whole}{'.' + frac if frac else ''}"


def _shortest(v: float) -> tuple[str, int]:
    """The shortest decimal digits that read back as `v`, and the exponent of the first."""
    r = repr(abs(v))
    if "e" in r:
        mant, _, exp = r.partition("e")
        return mant.replace(".", "").rstrip("0") or "0", int(exp)
    whole, _, frac = r.partition(".")
    if whole != "0":
        return (whole + frac).rstrip("0") or "0", len(whole) - 1
    stripped = frac.lstrip("0")
    return stripped.rstrip("0") or "0", -(len(frac) - len(stripped)) - 1


def _big_int(v: int, verb: str, spec: Spec) -> str:
    """Go's `*big.Int` formats itself: in any base it knows, else `%!verb(big.Int=…)`."""
    if verb in "vdsxXob":
        if spec != Spec(False, False, False, False, None, None):
            raise Unsupported(f"sprintf: `%{verb}` with flags of an integer beyond 64 bits is not reproduced exactly")
        return f"{v:{ {'v': 'd', 's': 'd'}.get(verb, verb) }}"
    return f"%!{verb}(big.Int={v})"
