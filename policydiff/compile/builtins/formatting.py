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
import re
from typing import Any

from policydiff.compile.builtins import gofmt
from policydiff.compile.builtins.operands import coll, string
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


def sprintf(fmt, args):
    """OPA's `sprintf`: Go's fmt over the arguments as OPA hands them to Go."""
    return gofmt.format(string(fmt, "sprintf", 1), [_go_value(a) for a in coll(args, "sprintf", 2, (tuple,))])


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
