"""Values as text: OPA's `%v` and Go's fmt, which OPA's `sprintf` is.

`sprintf` hands Go each number by its text: an integer (also `2.0`) as int64, or as a
big.Int beyond, a text with a point as float64, and any other text (`1e3`, `1e-05`)
as that string; strings as strings and every other value as its Rego text, where
numbers keep their text. Go then applies each verb, writing `%!verb(type=value)` for
a verb of the wrong type. What is not reproduced exactly is refused (`Unsupported`)
rather than guessed.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from policydiff.compile.operands import Unsupported, coll, string
from policydiff.compile.values import Num, Obj, sort_key


def rego_text(v) -> str:
    """A value as Rego writes it (and OPA's `%v` of a composite): members and keys in
    OPA's order, strings quoted."""
    t = type(v)
    if t is str:
        return json.dumps(v, ensure_ascii=False)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if t is tuple:
        return "[" + ", ".join(rego_text(e) for e in v) + "]"
    if t is frozenset:
        return "{" + ", ".join(rego_text(e) for e in sorted(v, key=sort_key)) + "}" if v else "set()"
    if t is Obj:
        return "{" + ", ".join(f"{rego_text(k)}: {rego_text(v[k])}" for k in sorted(v, key=sort_key)) + "}"
    return v.text if t is Num else str(v)


_VERB = re.compile(r"%(\[\d+\])?[-+# 0]*\d*(\.\d+)?([a-zA-Z%])")


def sprintf(fmt, args):
    """Go's fmt as OPA feeds it: integral numbers are int64, others float64, strings
    strings, and every other value its Rego text as a string. A verb of the wrong type
    prints Go's `%!verb(type=value)`; verbs whose Go output is not reproduced here
    (`%x` of a float, `%q` of a number, `%b`, `%c`, ...) stop with `unsupported`."""
    fmt = string(fmt, "sprintf", 1)
    args = [_go_value(a) for a in coll(args, "sprintf", 2, (tuple,))]
    out = []
    pos = 0
    n = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        verb, spec = m.group(3), m.group(0)
        if m.group(1):
            raise Unsupported("sprintf: explicit argument indexes are not supported")
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        kind, v = args[n]
        n += 1
        flags = spec[1:-1]
        if kind == "big.Int":
            out.append(_big_int(verb, flags, v))
        elif verb == "v" or (verb == "s" and kind == "string") or (verb == "d" and kind == "int64"):
            if not flags:
                out.append(_go_text(kind, v))
            elif kind == "int64":
                out.append(("%" + flags + "d") % v)
            else:
                out.append(("%" + flags.replace("+", "").replace(" ", "").replace("0", "") + "s")
                           % _go_text(kind, v))
        elif verb in "feEgG" and kind == "float64":
            out.append(("%" + spec[1:]) % v)
        elif verb in "xX" and kind in ("int64", "string"):
            out.append(("%" + spec[1:]) % v if kind == "int64"
                       else v.encode().hex() if verb == "x" else v.encode().hex().upper())
        elif verb == "q" and kind == "string" and v.isascii() and v.isprintable():
            out.append(rego_text(v))
        elif verb in "sdfeEgGxXqt" and not (verb in "xXq"):
            out.append(f"%!{verb}({kind}={_go_text(kind, v)})")
        else:
            raise Unsupported(f"sprintf: `{spec}` of a {kind} is not reproduced exactly")
    out.append(fmt[pos:])
    if n < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{'*' if k == 'big.Int' else ''}{k}={_go_text(k, v)}"
                                            for k, v in args[n:]) + ")")
    return "".join(out)


def _big_int(verb: str, flags: str, v: int) -> str:
    """Go's `*big.Int` formats itself: in any base it knows, else `%!verb(big.Int=…)`."""
    if verb in "vdsxXob":
        if flags:
            raise Unsupported(f"sprintf: `%{flags}{verb}` of an integer beyond 64 bits is not reproduced exactly")
        return format(v, {"v": "d", "s": "d"}.get(verb, verb))
    return f"%!{verb}(big.Int={v})"


_INT_TEXT = re.compile(r"-?[0-9]+(\.0+)?")


def _go_value(v) -> tuple[str, Any]:
    t = type(v)
    if t is int:
        return ("int64", v) if -2**63 <= v < 2**63 else ("big.Int", v)
    if t is Num:
        text = v.text
        if _INT_TEXT.fullmatch(text) and -2**63 <= v < 2**63:
            return "int64", int(v)
        if "." in text:
            f = float(text)
            return ("float64", f) if abs(f) != float("inf") else ("string", text)
        return "string", text
    if t is str:
        return "string", v
    return "string", rego_text(v)


def _go_text(kind: str, v) -> str:
    if kind != "float64":
        return str(v)
    # Go's %v of a float64: its shortest digits, in exponent form when the exponent is
    # below -4 or at least 6 (`1.2345675e+06`), else in positional form
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
