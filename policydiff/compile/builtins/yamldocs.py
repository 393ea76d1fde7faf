"""`yaml.unmarshal` and `yaml.is_valid`: YAML text read as OPA reads it (go-yaml v2 into
JSON, through sigs.k8s.io/yaml).

The text is parsed into nodes (PyYAML's composer, YAML 1.1 like go-yaml v2) and each
plain scalar is resolved by go-yaml v2's rules, not PyYAML's: `y`/`n`/`yes`/`on`/...
booleans, `~`/`null`/empty null, integers in any base Go's `ParseInt(s, 0, 64)` reads
(underscores dropped; `010` is 8), plain decimals as floats written the way Go's
`encoding/json` writes them; anything else is a string (quoted and block scalars, and
`!!str`, always are). Refused rather than guessed: keys that are not strings, merge
keys, anchors defined twice, other explicit tags, `.inf`/`.nan`, exponents and date-like scalars.
Only the first document is read, as go-yaml reads it: what follows is never parsed.
`TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

import re
from decimal import Decimal

import yaml
from yaml.nodes import ScalarNode, SequenceNode

from policydiff.compile.builtins.operands import BuiltinError, Unsupported, string
from policydiff.compile.values import Num, Obj

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


TABLE = {
    "yaml.unmarshal": (1, unmarshal),
    "yaml.is_valid": (1, is_valid),
}
