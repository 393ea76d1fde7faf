"""`yaml.unmarshal`, `yaml.is_valid` and `yaml.marshal`: YAML as OPA reads and writes it
(go-yaml v2, through sigs.k8s.io/yaml).

The text is parsed into nodes (PyYAML's composer, YAML 1.1 like go-yaml v2) and each
plain scalar is resolved by go-yaml v2's rules, not PyYAML's: `y`/`n`/`yes`/`on`/...
booleans, `~`/`null`/empty null, integers in any base Go's `ParseInt(s, 0, 64)` reads
(underscores dropped; `010` is 8), plain decimals as floats written the way Go's
`encoding/json` writes them; anything else is a string (quoted and block scalars, and
`!!str`, always are). Refused rather than guessed: keys that are not strings, merge
keys, anchors defined twice, other explicit tags, `.inf`/`.nan`, exponents and date-like scalars.
Only the first document is read, as go-yaml reads it: what follows is never parsed.
`yaml.marshal` writes what go-yaml v2's emitter writes for the values it lays out
without folding, escaping or block scalars (see below); the others are refused.
`TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

import functools
import math
import re
from decimal import Decimal

import yaml
from yaml.nodes import ScalarNode, SequenceNode

from policydiff.compile.builtins.operands import BuiltinError, Unsupported, string
from policydiff.compile.values import Num, Obj, sort_key

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_BOOLS = {**dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
          **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False)}
_NULLS = {"", "~", "null", "Null", "NULL"}
_SPECIAL = {".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
            "<<"}
_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)")
_DIGITS = re.compile(r"[-+]?[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]")
_LIMIT = 2**64


class _Loader(yaml.SafeLoader):
    """Composes nodes, marking plain scalars `!plain` so go-yaml's rules resolve them."""

    def resolve(self, kind, value, implicit):
        if kind is ScalarNode:
            return "!plain" if implicit[0] else _STR
        return _SEQ if kind is SequenceNode else _MAP


def _int(text: str) -> int | None:
    m = _INT.fullmatch(text)
    if m is None:
        return None
    sign, digits = m.groups()
    if digits[:2].lower() in ("0x", "0o", "0b"):
        v = int(digits[2:], {"x": 16, "o": 8, "b": 2}[digits[1].lower()])
    else:
        v = int(digits, 8) if len(digits) > 1 and digits[0] == "0" else int(digits)
    if v >= 2**63 and sign:  # beyond int64 only `ParseUint` reads it, and it takes no sign
        return None
    v = -v if sign == "-" else v
    return v if -(2**63) <= v < _LIMIT else None


def _float(text: str):
    """Go's `encoding/json` text of the float64 of `text`, read back as OPA reads it."""
    f = float(text)
    if not (f == 0 or 1e-6 <= abs(f) < 1e21):
        raise Unsupported(f"yaml.unmarshal: the float `{text}` (written with an exponent by Go)")
    out = format(Decimal(repr(f)), "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    if out == "-0":
        return Num("-0")
    return int(out) if re.fullmatch(r"-?[0-9]+", out) else Num(out)


def _plain(text: str):
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _SPECIAL:
        raise Unsupported(f"yaml.unmarshal: the plain scalar `{text}`")
    if text[:1] in "-+.0123456789":
        compact = text.replace("_", "")
        i = _int(compact)
        if i is not None:
            return i
        if _FLOAT.fullmatch(compact) or _DIGITS.fullmatch(compact):  # `09`, or beyond 64 bits
            return _float(compact)
        if _DATE.match(text) or any(c in text for c in "eE") or not text.replace("_", "").strip("-+."):
            raise Unsupported(f"yaml.unmarshal: the plain scalar `{text}`")
    return text


def _value(node):
    if isinstance(node, ScalarNode):
        if node.tag == "!plain":
            return _plain(node.value)
        if node.tag == _STR:
            return node.value
        raise Unsupported(f"yaml.unmarshal: the tag `{node.tag}`")
    if isinstance(node, SequenceNode):
        if node.tag != _SEQ:
            raise Unsupported(f"yaml.unmarshal: the tag `{node.tag}`")
        return tuple(_value(n) for n in node.value)
    if node.tag != _MAP:
        raise Unsupported(f"yaml.unmarshal: the tag `{node.tag}`")
    out = Obj()
    for k, v in node.value:
        key = _value(k) if isinstance(k, ScalarNode) else None
        if type(key) is not str or (k.tag == "!plain" and k.value == "<<"):
            raise Unsupported("yaml.unmarshal: a mapping key that is not a string")
        out[key] = _value(v)
    return out


def _load(text: str, name: str):
    """The first document's value; like go-yaml, what follows it is never read."""
    loader = _Loader(text)
    try:
        node = loader.get_node() if loader.check_node() else None
    except yaml.YAMLError as e:
        if "duplicate anchor" in str(e):  # go-yaml lets an anchor be defined again
            raise Unsupported(f"{name}: an anchor defined twice") from None
        raise BuiltinError(f"{name}: yaml: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise Unsupported(f"{name}: YAML nested too deeply") from None
    finally:
        loader.dispose()
    return None if node is None else _value(node)


def unmarshal(s):
    return _load(string(s, "yaml.unmarshal", 1), "yaml.unmarshal")


def is_valid(s):
    if type(s) is not str:
        return False
    try:
        _load(s, "yaml.is_valid")
    except Unsupported:
        raise
    except BuiltinError:
        return False
    return True


# ---- yaml.marshal: the value as JSON, read by go-yaml v2 and written by its emitter
# (block style, keys in its natural order, sequences not indented under a key). Strings
# are written plain, single-quoted (plain would read otherwise) or double-quoted (they
# would resolve to another type); what the emitter would fold, escape or write as a
# block scalar is refused. Numbers go-yaml reads as floats it writes as Go's shortest
# `%g` (`0.0` is `0`, `-0.0` is `-0`, `1.5e6` is `1.5e+06`).

_MARSHAL = "yaml.marshal"
_WIDTH = 80  # the emitter folds a scalar at a space beyond this column
_PRINTABLE = re.compile("[\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_QUOTABLE = re.compile(r"[A-Za-z0-9 ._:+~<-]*")


def _resolves_to_string(text: str) -> bool:
    try:
        v = _plain(text)
    except Unsupported:
        raise Unsupported(f"{_MARSHAL}: the string `{text}`, which go-yaml may read as another type") from None
    return type(v) is str and not _BASE60.fullmatch(text)


def _plain_allowed(text: str) -> bool:
    """Whether the emitter writes `text` plain in a block (its scalar analysis)."""
    if text[0] in " #,[]{}&*!|>'\"%@`" or text[-1] == " " or text[:3] in ("---", "..."):
        return False
    if text[0] in "?:-" and (len(text) == 1 or text[1] == " "):
        return False
    return ": " not in text and " #" not in text and not text.endswith(":")


def _scalar_text(v, column: int, key: bool = False) -> str:
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if type(v) is int:
        if not -(2**63) <= v < 2**64:
            return _float_text(str(v))
        return str(v)
    if type(v) is Num:
        return _number_text(v.text)
    if type(v) is not str:
        raise Unsupported(f"{_MARSHAL}: a value it cannot write")
    if not _PRINTABLE.fullmatch(v) or (key and len(v) > 100):
        raise Unsupported(f"{_MARSHAL}: a string the emitter escapes or writes as a block")
    if _resolves_to_string(v) and v:
        out = v if _plain_allowed(v) else "'" + v.replace("'", "''") + "'"
    elif _QUOTABLE.fullmatch(v):
        out = f'"{v}"'
    else:
        raise Unsupported(f"{_MARSHAL}: a string the emitter escapes")
    if not key and " " in v and column + len(out) > _WIDTH:
        raise Unsupported(f"{_MARSHAL}: a string the emitter folds over lines")
    return out


_GO_INT = re.compile(r"[-+]?[0-9]+")


def _number_text(text: str) -> str:
    """How go-yaml writes the JSON number `text` it has read: an int64 or uint64 as
    itself (`-0` is 0), anything else as the float64 it parses."""
    if _GO_INT.fullmatch(text) and -(2**63) <= int(text) < 2**64:
        return str(int(text))
    return _float_text(text)


def _float_text(text: str) -> str:
    """Go's `strconv.FormatFloat(f, 'g', -1, 64)` of the float64 `text` parses to (both
    round correctly): the shortest digits, with an exponent of at least two digits when
    it is below -4 or at least 6 (`1e+06`, `1e-05`, `-0`)."""
    f = float(text)
    if math.isinf(f):  # go-yaml's parse fails: it reads another type
        raise Unsupported(f"{_MARSHAL}: a number beyond a float64")
    sign = "-" if str(f).startswith("-") else ""
    if f == 0:
        return sign + "0"
    _, digits, exp = Decimal(repr(abs(f))).normalize().as_tuple()
    ds = "".join(map(str, digits))
    point = len(ds) + exp  # digits before the decimal point
    e = point - 1
    if e < -4 or e >= 6:
        mantissa = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{sign}{mantissa}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{ds}"
    if point >= len(ds):
        return sign + ds + "0" * (point - len(ds))
    return f"{sign}{ds[:point]}.{ds[point:]}"


def _natural_less(a: str, b: str) -> bool:
    """go-yaml v2's order of mapping keys: letters after other characters, runs of
    digits by their value."""
    for i in range(min(len(a), len(b))):
        x, y = a[i], b[i]
        if x == y:
            continue
        xl, yl = x.isalpha(), y.isalpha()
        if xl and yl:
            return x < y
        if xl or yl:
            return yl
        an = bn = 0
        if x == "0" or y == "0":
            for j in range(i - 1, -1, -1):
                if not a[j].isdigit():
                    break
                if a[j] != "0":
                    an = bn = 1
                    break
        ai, bi = i, i
        while ai < len(a) and a[ai].isdigit():
            an, ai = an * 10 + int(a[ai]), ai + 1
        while bi < len(b) and b[bi].isdigit():
            bn, bi = bn * 10 + int(b[bi]), bi + 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return x < y
    return len(a) < len(b)


def _keys(obj: Obj) -> list[str]:
    keys = list(obj)
    if any(type(k) is not str for k in keys):
        raise Unsupported(f"{_MARSHAL}: an object key that is not a string")
    for k in keys:  # (Go's digit runs wrap beyond int64; non-ASCII digits count otherwise)
        if any(c.isdigit() and not c.isascii() for c in k) or re.search(r"[0-9]{18}", k):
            raise Unsupported(f"{_MARSHAL}: an object key of digits go-yaml orders otherwise")
    return sorted(keys, key=functools.cmp_to_key(lambda a, b: -1 if _natural_less(a, b) else (
        1 if _natural_less(b, a) else 0)))


def _block(v, indent: int, head: str, out: list[str]) -> None:
    """Write `v` as a block node whose first line starts with `head`, the lines after
    it at `indent`."""
    if type(v) is frozenset:
        v = tuple(sorted(v, key=sort_key))
    if type(v) is tuple and v:
        for i, item in enumerate(v):
            lead = (head if i == 0 else " " * indent) + "- "
            _block(item, indent + 2, lead, out)
    elif type(v) is Obj and v:
        for i, k in enumerate(_keys(v)):
            lead = (head if i == 0 else " " * indent) + _scalar_text(k, 0, key=True) + ":"
            item = v[k]
            if type(item) is frozenset:
                item = tuple(sorted(item, key=sort_key))
            if type(item) is Obj and item:
                out.append(lead)
                _block(item, indent + 2, " " * (indent + 2), out)
            elif type(item) is tuple and item:
                out.append(lead)
                _block(item, indent, " " * indent, out)
            else:
                _block(item, indent, lead + " ", out)
    elif type(v) is tuple or type(v) is Obj:
        out.append(head + ("[]" if type(v) is tuple else "{}"))
    else:
        out.append(head + _scalar_text(v, len(head)))


def marshal(x):
    out: list[str] = []
    try:
        _block(x, 0, "", out)
    except RecursionError:
        raise Unsupported(f"{_MARSHAL}: a value nested too deeply") from None
    return "\n".join(out) + "\n"


TABLE = {
    "yaml.unmarshal": (1, unmarshal),
    "yaml.is_valid": (1, is_valid),
    "yaml.marshal": (1, marshal),
}
