"""The public keys of OPA's JWT checks (`io.jwt.verify_rs*/ps*/es*`), read from the
key operand as OPA reads it: one PEM block (`PUBLIC KEY`, PKIX, or `CERTIFICATE`,
X.509), else a JWK or a JWK set (`{"keys": [...]}`), each key with its `alg` and `kid`.

Go's parsers (encoding/pem, crypto/x509, lestrrat-go/jwx) are not `cryptography`'s, so
only the forms both read alike are read here, and the rest is refused, not guessed:
PEM text in another layout than the usual one, DER `cryptography` rejects, RSA keys
under 1024 bits (Go 1.24 will not verify with them), JWK members that are not
unpadded base64url, private or certificate members (`d`, `x5c`, ...), key types other
than RSA, EC (P-256, P-384, P-521) and `oct` (a key of the wrong kind: the check is
false), and JSON Go may read otherwise (duplicate members, NaN). JSON Go rejects too
is an error, as in OPA.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from policydiff.compile.builtins.operands import BuiltinError, Unsupported

# one PEM block as Go's `pem.Decode` reads it without surprises: the type line, base64
# lines, the end line, at most one line break after it
_PEM = re.compile(r"-----BEGIN (PUBLIC KEY|CERTIFICATE)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n"
                  r"-----END \1-----(?:\r?\n)?")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_CURVES = {"P-256": 32, "P-384": 48, "P-521": 66}
_ALGS = {f"{f}{b}" for f in ("RS", "PS", "ES", "HS") for b in ("256", "384", "512")} | {"EdDSA"}
_PRIVATE = {"d", "p", "q", "dp", "dq", "qi", "oth", "x5c", "x5u", "x5t", "x5t#S256", "key_ops"}


def public_keys(text: str, name: str) -> list[tuple[str, str, object]]:
    """`(alg, kid, key)` for each key `text` holds (`""` where a JWK has none, and for
    a PEM key); `key` a `cryptography` public key, or None for a symmetric one."""
    if "-----BEGIN" in text:
        return [("", "", _pem(text, name))]
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _Unsure as e:
        raise Unsupported(f"{name}: a JWK {e}") from None
    except (ValueError, RecursionError):
        raise BuiltinError(f"{name}: failed to parse a JWK key (set)") from None
    if type(doc) is not dict:
        raise Unsupported(f"{name}: a JWK that is not an object")
    if "keys" in doc:
        if type(doc["keys"]) is not list or any(type(k) is not dict for k in doc["keys"]):
            raise Unsupported(f"{name}: a JWK set whose `keys` are not objects")
        return [_jwk(k, name) for k in doc["keys"]]
    return [_jwk(doc, name)]


class _Unsure(Exception):
    pass


def _no_duplicates(pairs):
    if len({k for k, _ in pairs}) != len(pairs):
        raise _Unsure("with a member twice")
    return dict(pairs)


def _no_constant(text):
    raise _Unsure(f"with `{text}`")


def _pem(text: str, name: str):
    # (`cryptography` is imported where a key is read: it costs a CLI start 50-80 ms)
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    m = _PEM.fullmatch(text)
    if m is None:
        raise Unsupported(f"{name}: PEM text in another layout is not supported")
    try:
        der = base64.b64decode(m.group(2).replace("\r", "").replace("\n", ""), validate=True)
        if m.group(1) == "CERTIFICATE":
            key = x509.load_der_x509_certificate(der).public_key()
        else:
            key = serialization.load_der_public_key(der)
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        raise Unsupported(f"{name}: a PEM block that Go's parser may read otherwise") from None
    return _sized(key, name)


def _sized(key, name: str):
    from cryptography.hazmat.primitives.asymmetric import rsa

    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 1024:
        raise Unsupported(f"{name}: an RSA key under 1024 bits")
    return key


def _member(jwk: dict, field: str, name: str) -> bytes:
    v = jwk.get(field)
    if type(v) is not str or not _B64URL.fullmatch(v) or len(v) % 4 == 1:
        raise Unsupported(f"{name}: a JWK `{field}` that is not unpadded base64url")
    return base64.urlsafe_b64decode(v + "=" * (-len(v) % 4))


def _jwk(jwk: dict, name: str) -> tuple[str, str, object]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    alg, kid = jwk.get("alg", ""), jwk.get("kid", "")
    if (alg != "" or "alg" in jwk) and alg not in _ALGS or type(kid) is not str or \
            type(jwk.get("use", "")) is not str:
        raise Unsupported(f"{name}: a JWK whose `alg`, `kid` or `use` go-jwx may refuse")
    if _PRIVATE & jwk.keys():
        raise Unsupported(f"{name}: a JWK with private or certificate members")
    kty = jwk.get("kty")
    if kty == "oct":
        _member(jwk, "k", name)
        return alg, kid, None
    try:
        if kty == "RSA":
            n, e = (int.from_bytes(_member(jwk, f, name), "big") for f in ("n", "e"))
            key = rsa.RSAPublicNumbers(e, n).public_key()
        elif kty == "EC" and jwk.get("crv") in _CURVES:
            size = _CURVES[jwk["crv"]]
            x, y = _member(jwk, "x", name), _member(jwk, "y", name)
            if len(x) != size or len(y) != size:
                raise Unsupported(f"{name}: a JWK point of another length than its curve's")
            curve = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}[jwk["crv"]]()
            key = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                                curve).public_key()
        else:
            raise Unsupported(f"{name}: a JWK of type `{kty}`")
    except ValueError:
        raise Unsupported(f"{name}: a JWK key that go-jwx may read otherwise") from None
    return alg, kid, _sized(key, name)
