"""`io.jwt.decode` and `io.jwt.verify_hs256/384/512`: JSON Web Tokens in JWS compact form.

A token is three base64url sections split at `.` (exactly two points); the header and
payload must decode to JSON objects (`json.unmarshal`'s reading), the header without
`enc` (an encrypted token is an error). `io.jwt.decode` gives `[header, payload,
signature as hex]`, following a header `cty` of `JWT` into the payload (quotes
trimmed). The HMAC checks compare the decoded signature with the HMAC of
`header.payload` under the secret's UTF-8 bytes. `TABLE` maps each name to
`(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

import hashlib
import hmac

from policydiff.compile.builtins import encoding
from policydiff.compile.builtins.operands import BuiltinError, Unsupported, string
from policydiff.compile.values import Obj


def _sections(token, name: str) -> list[str]:
    s = string(token, name, 1)
    if "." not in s:
        raise BuiltinError(f"{name}: encoded JWT had no period separators")
    parts = s.split(".")
    if len(parts) != 3:
        raise BuiltinError(f"{name}: encoded JWT must have 3 sections, found {len(parts)}")
    return parts


def _b64(s: str, name: str, what: str) -> bytes:
    try:
        return encoding.decode_base64(s, name, True, True)
    except BuiltinError:
        raise BuiltinError(f"{name}: JWT {what} had invalid encoding") from None


def _object(raw: bytes, name: str, what: str) -> Obj:
    text = encoding.utf8_text(raw, name)
    try:
        v = encoding.unmarshal(text)
    except BuiltinError:
        raise BuiltinError(f"{name}: bad JWT {what}: invalid JSON") from None
    if type(v) is not Obj:
        raise BuiltinError(f"{name}: bad JWT {what}: decoded JSON type was not an Object")
    return v


def _header(section: str, name: str) -> Obj:
    h = _object(_b64(section, name, "header"), name, "header")
    if "enc" in h:
        raise BuiltinError(f"{name}: JWT is a JWE object, which is not supported")
    return h


def decode(token):
    name = "io.jwt.decode"
    while True:
        header_s, payload_s, sig_s = _sections(token, name)
        header = _header(header_s, name)
        payload = _b64(payload_s, name, "payload")
        cty = header.get("cty")
        if cty is None:
            break
        if type(cty) is not str:
            raise Unsupported(f"{name}: a `cty` header that is not a string")
        if cty != "JWT":
            break
        token = encoding.utf8_text(payload, name).strip("\"'")
    body = _object(payload, name, "payload")
    signature = _b64(sig_s, name, "signature")
    return (header, body, signature.hex())


def _verify_hmac(digest: str):
    name = f"io.jwt.verify_{digest.replace('sha', 'hs')}"

    def verify(token, secret):
        header_s, payload_s, sig_s = _sections(token, name)
        key = string(secret, name, 2).encode()
        mac = hmac.new(key, f"{header_s}.{payload_s}".encode(), getattr(hashlib, digest)).digest()
        try:
            signature = encoding.decode_base64(sig_s, name, True, True)
        except BuiltinError:
            raise BuiltinError(f"{name}: illegal base64 data") from None
        return hmac.compare_digest(signature, mac)

    return verify


TABLE = {
    "io.jwt.decode": (1, decode),
    "io.jwt.verify_hs256": (2, _verify_hmac("sha256")),
    "io.jwt.verify_hs384": (2, _verify_hmac("sha384")),
    "io.jwt.verify_hs512": (2, _verify_hmac("sha512")),
}
