"""`io.jwt.decode` and `io.jwt.verify_*`: JSON Web Tokens in JWS compact form.

A token is three base64url sections split at `.` (exactly two points); the header and
payload must decode to JSON objects (`json.unmarshal`'s reading), the header without
`enc` (an encrypted token is an error). `io.jwt.decode` gives `[header, payload,
signature as hex]`, following a header `cty` of `JWT` into the payload (quotes
trimmed). The HMAC checks compare the decoded signature with the HMAC of
`header.payload` under the secret's UTF-8 bytes.

`io.jwt.verify_rs*/ps*/es*` check the signature against the public keys `jwtkeys`
reads (a PEM key or certificate, a JWK or JWK set): a key of another algorithm's kind
makes the check false, as a signature of the wrong length does (Go checks the length
first). Of a set, the key of the token's `kid` alone is tried if there is one, else
every key whose `alg`, if it has one, is the token's. The header fields OPA reads
(`alg`, `kid`, `typ`, `cty` strings, `crit` an array of strings) must have those
types: another is an error.
`TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

import hashlib
import hmac

from policydiff.compile.builtins import encoding, jwtkeys
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


def _verify_key(family: str, bits: str):
    name = f"io.jwt.verify_{family}{bits}"

    def verify(token, key_text):
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

        header_s, payload_s, sig_s = _sections(token, name)
        keys = jwtkeys.public_keys(string(key_text, name, 2), name)
        try:
            signature = encoding.decode_base64(sig_s, name, True, True)
        except BuiltinError:
            raise BuiltinError(f"{name}: JWT signature had invalid encoding") from None
        header = _header(header_s, name)
        for field in ("alg", "kid", "typ", "cty"):  # OPA parses these as strings
            if field in header and type(header[field]) is not str:
                raise BuiltinError(f"{name}: invalid '{field}' header")
        if "crit" in header and not (type(header["crit"]) is tuple and all(type(c) is str for c in header["crit"])):
            raise BuiltinError(f"{name}: invalid 'crit' header")
        digest = hashlib.new(f"sha{bits}", f"{header_s}.{payload_s}".encode()).digest()
        algorithm = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[bits]()
        prehashed = utils.Prehashed(algorithm)

        def check(key) -> bool:
            try:
                if family in ("rs", "ps"):
                    if not isinstance(key, rsa.RSAPublicKey) or len(signature) != (key.key_size + 7) // 8:
                        return False
                    pad = padding.PKCS1v15() if family == "rs" else padding.PSS(
                        mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
                    key.verify(signature, digest, pad, prehashed)
                else:
                    if not isinstance(key, ec.EllipticCurvePublicKey):
                        return False
                    n = len(signature) // 2  # Go splits the raw signature into r and s at its middle
                    r, s_ = int.from_bytes(signature[:n], "big"), int.from_bytes(signature[n:], "big")
                    key.verify(utils.encode_dss_signature(r, s_), digest, ec.ECDSA(prehashed))
            except InvalidSignature:
                return False
            return True

        # OPA's choice among the keys of a set: the one of the token's `kid` alone, if
        # any; else every key, those of another `alg` than the token's skipped
        kid, alg = header.get("kid", ""), header.get("alg", "")
        for key_alg, key_kid, key in keys:
            if kid and key_kid == kid:
                return check(key)
        return any(check(key) for key_alg, _, key in keys if not key_alg or key_alg == alg)

    return verify


TABLE = {
    "io.jwt.decode": (1, decode),
    "io.jwt.verify_hs256": (2, _verify_hmac("sha256")),
    "io.jwt.verify_hs384": (2, _verify_hmac("sha384")),
    "io.jwt.verify_hs512": (2, _verify_hmac("sha512")),
    **{f"io.jwt.verify_{f}{b}": (2, _verify_key(f, b)) for f in ("rs", "ps", "es") for b in ("256", "384", "512")},
}
