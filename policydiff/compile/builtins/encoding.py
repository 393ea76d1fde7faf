"""Encodings and digests: `json.*` (text), `base64*`, `hex.*`, `urlquery.*`, and the
`crypto` hashes and HMACs, as OPA computes them with Go's libraries.

`json.marshal` writes what Go's `encoding/json` writes of OPA's value: numbers by their
text, sets as sorted arrays, object keys sorted as strings (a key that is not a string
is written as its JSON text), `<`, `>`, `&`, U+2028 and U+2029 escaped. Bytes decoded
to a string that is not UTF-8 are refused: OPA keeps such bytes, which no value here
can hold. `TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from urllib.parse import quote_plus

from policydiff.compile.builtins.operands import BuiltinError, TypeError_, Unsupported, string
from policydiff.compile.values import Num, Obj, number, sort_key, type_name

# ---------------------------------------------------------------------------------- json

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
            "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_NEEDS_ESCAPE = re.compile('["\\\\<>&\u2028\u2029\x00-\x1f]')


def _quote(s: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), s) + '"'


def dumps(v) -> str:
    """OPA's JSON text of a value, compact."""
    t = type(v)
    if t is str:
        return _quote(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if t is int:
        return str(v)
    if t is Num:
        return v.text
    if t is tuple:
        return "[" + ",".join(dumps(e) for e in v) + "]"
    if t is frozenset:
        return "[" + ",".join(dumps(e) for e in sorted(v, key=sort_key)) + "]"
    if t is Obj:
        if all(type(k) is str for k in v):
            named = v
        else:  # keys of one text (`[0.0]` and `{0.0}`) are one: the last in OPA's order
            named = {}
            for k in sorted(v, key=sort_key):
                named[k if type(k) is str else dumps(k)] = v[k]
        return "{" + ",".join(f"{_quote(k)}:{dumps(named[k])}" for k in sorted(named)) + "}"
    raise TypeError(f"not a value: {v!r}")


def marshal(v):
    return dumps(v)


def _reject_constant(name: str):
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _pairs(pairs):
    return Obj((k, v) for k, v in pairs)  # a repeated key: the last one counts, as in Go


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _fix_strings(v):
    """Go reads an unpaired surrogate escape as U+FFFD."""
    t = type(v)
    if t is str:
        return _LONE_SURROGATE.sub("\ufffd", v)
    if t is tuple:
        return tuple(_fix_strings(e) for e in v)
    if t is Obj:
        return Obj((_fix_strings(k), _fix_strings(e)) for k, e in v.items())
    return v


def _loads(text: str):
    v = json.loads(text, parse_float=number, parse_int=number, parse_constant=_reject_constant,
                   object_pairs_hook=_pairs, strict=True)
    return _fix_strings(_arrays(v))


def _arrays(v):
    t = type(v)
    if t is list:
        return tuple(_arrays(e) for e in v)
    if t is Obj:
        for k, e in v.items():
            v[k] = _arrays(e)
    return v


def unmarshal(s):
    s = string(s, "json.unmarshal", 1)
    try:
        return _loads(s)
    except (ValueError, RecursionError) as e:
        raise BuiltinError(f"json.unmarshal: {e}") from None


def is_valid(s):
    if type(s) is not str:
        return False
    try:
        _loads(s)
    except (ValueError, RecursionError):
        return False
    return True


# ------------------------------------------------------------------------- base64 & hex


def utf8_text(b: bytes, name: str) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise Unsupported(f"{name}: the decoded bytes are not UTF-8 text") from None


_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def decode_base64(s: str, name: str, url: bool, raw_ok: bool) -> bytes:
    """Go's decoding, padded (or, with `raw_ok`, unpadded when the text's length is
    not a multiple of four, as `base64url.decode` chooses)."""
    raw = raw_ok and len(s) % 4 != 0
    s = s.replace("\r", "").replace("\n", "")  # Go skips line breaks
    alphabet = _B64URL if url else _B64
    if not alphabet.fullmatch(s) or (raw and "=" in s) or (not raw and len(s) % 4) or len(s) % 4 == 1:
        raise BuiltinError(f"{name}: illegal base64 data")
    padded = s + "=" * (-len(s) % 4)
    try:
        out = base64.b64decode(padded, altchars=b"-_" if url else None, validate=True)
    except binascii.Error:
        raise BuiltinError(f"{name}: illegal base64 data") from None
    return out


def b64encode(s):
    return base64.b64encode(string(s, "base64.encode", 1).encode()).decode()


def b64decode(s):
    return utf8_text(decode_base64(string(s, "base64.decode", 1), "base64.decode", False, False), "base64.decode")


def b64is_valid(s):
    try:
        decode_base64(string(s, "base64.is_valid", 1), "base64.is_valid", False, False)
    except BuiltinError:
        return False
    return True


def b64url_encode(s):
    return base64.urlsafe_b64encode(string(s, "base64url.encode", 1).encode()).decode()


def b64url_encode_no_pad(s):
    return b64url_encode(string(s, "base64url.encode_no_pad", 1)).rstrip("=")


def b64url_decode(s):
    # OPA pads a text not ending in "=" by its length before Go decodes it (line breaks
    # count there, so "\n" alone is refused); Go then skips the line breaks
    s = string(s, "base64url.decode", 1)
    if not s.endswith("="):
        if len(s) % 4 == 1:
            raise BuiltinError(f"base64url.decode: illegal base64url string: {s}")
        s += "=" * (-len(s) % 4)
    return utf8_text(decode_base64(s, "base64url.decode", True, False), "base64url.decode")


def hex_encode(s):
    return string(s, "hex.encode", 1).encode().hex()


def hex_decode(s):
    s = string(s, "hex.decode", 1)
    try:
        raw = bytes.fromhex(s) if re.fullmatch(r"(?:[0-9a-fA-F]{2})*", s) else None
    except ValueError:
        raw = None
    if raw is None:
        raise BuiltinError("hex.decode: encoding/hex: invalid input")
    return utf8_text(raw, "hex.decode")


# ------------------------------------------------------------------------------ urlquery


def url_encode(s):
    return quote_plus(string(s, "urlquery.encode", 1), safe="")


_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _unescape(s: str, name: str) -> str:
    if re.search(r"%(?![0-9A-Fa-f]{2})", s):
        raise BuiltinError(f"{name}: invalid URL escape")
    raw = _ESCAPE.sub(lambda m: "\x00" + m.group(1), s.replace("+", " "))
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == "\x00":
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
        else:
            out += raw[i].encode()
            i += 1
    return utf8_text(bytes(out), name)


def url_decode(s):
    s = string(s, "urlquery.decode", 1)
    if "\x00" in s:
        raise Unsupported("urlquery.decode: a NUL character is not reproduced exactly")
    return _unescape(s, "urlquery.decode")


def url_encode_object(obj):
    """`url.Values.Encode`: keys sorted, each value (a string, or an array or set of
    strings) written as `key=value`."""
    name = "urlquery.encode_object"
    if type(obj) is not Obj:
        raise TypeError_(f"{name}: operand 1 must be object but got {type_name(obj)}")
    parts = []
    for k in sorted(obj, key=lambda k: k.encode() if type(k) is str else b""):
        if type(k) is not str:
            raise TypeError_(f"{name}: operand 1 keys must be strings")
        v = obj[k]
        values = [v] if type(v) is str else sorted(v, key=sort_key) if type(v) is frozenset else v
        if type(values) not in (list, tuple) or any(type(x) is not str for x in values):
            raise TypeError_(f"{name}: operand 1 values must be strings or arrays or sets of strings")
        parts += [f"{quote_plus(k, safe='')}={quote_plus(x, safe='')}" for x in values]
    return "&".join(parts)


def url_decode_object(s):
    name = "urlquery.decode_object"
    s = string(s, name, 1)
    if ";" in s or "\x00" in s:
        raise Unsupported(f"{name}: `;` in a query is not reproduced exactly")
    out: dict[str, list[str]] = {}
    for part in s.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        out.setdefault(_unescape(k, name), []).append(_unescape(v, name))
    return Obj((k, tuple(vs)) for k, vs in out.items())


# -------------------------------------------------------------------------------- crypto


def _digest(algorithm: str):
    name = f"crypto.{algorithm}"

    def digest(s):
        return hashlib.new(algorithm, string(s, name, 1).encode()).hexdigest()

    return digest


def _hmac(algorithm: str):
    name = f"crypto.hmac.{algorithm}"

    def mac(s, key):
        s, key = string(s, name, 1), string(key, name, 2)
        return hmac.new(key.encode(), s.encode(), algorithm).hexdigest()

    return mac


def _hmac_equal(a, b):
    return hmac.compare_digest(string(a, "crypto.hmac.equal", 1).encode(),
                               string(b, "crypto.hmac.equal", 2).encode())


TABLE = {
    "json.marshal": (1, marshal),
    "json.unmarshal": (1, unmarshal),
    "json.is_valid": (1, is_valid),
    "base64.encode": (1, b64encode),
    "base64.decode": (1, b64decode),
    "base64.is_valid": (1, b64is_valid),
    "base64url.encode": (1, b64url_encode),
    "base64url.encode_no_pad": (1, b64url_encode_no_pad),
    "base64url.decode": (1, b64url_decode),
    "hex.encode": (1, hex_encode),
    "hex.decode": (1, hex_decode),
    "urlquery.encode": (1, url_encode),
    "urlquery.decode": (1, url_decode),
    "urlquery.encode_object": (1, url_encode_object),
    "urlquery.decode_object": (1, url_decode_object),
    "crypto.md5": (1, _digest("md5")),
    "crypto.sha1": (1, _digest("sha1")),
    "crypto.sha256": (1, _digest("sha256")),
    "crypto.hmac.md5": (2, _hmac("md5")),
    "crypto.hmac.sha1": (2, _hmac("sha1")),
    "crypto.hmac.sha256": (2, _hmac("sha256")),
    "crypto.hmac.sha512": (2, _hmac("sha512")),
    "crypto.hmac.equal": (2, _hmac_equal),
}
