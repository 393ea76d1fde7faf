"""Hypothesis strategies for calls of OPA's builtins: each builtin with operands of its
own kind (unit strings for `units.*`, base64 text for `base64.*`, ...) and, now and
then, of any other type, written as Rego source.

`calls()` draws `(name, rego_text_of_the_call)`; `tests/test_builtins_differential.py`
evaluates the call in policydiff and in real OPA and requires the same answer.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

# ---------------------------------------------------------------------------- values as Rego

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-1000, 1000),
    st.sampled_from(["1.5", "1.0", "1e3", "-0", "0.1", "1e20", "2.50"]).map(lambda t: _Raw(t)),
    st.text(alphabet="ab/.-_ é%+=?", max_size=6),
)


class _Raw(str):
    """Rego text to write as it is (a number's own spelling)."""


def rego(v) -> str:
    """A value as Rego source: JSON for scalars, arrays and objects, `{…}` for sets."""
    if isinstance(v, _Raw):
        return str(v)
    if isinstance(v, frozenset):
        return "{" + ", ".join(sorted(rego(e) for e in v)) + "}" if v else "set()"
    if isinstance(v, list):
        return "[" + ", ".join(rego(e) for e in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{rego(k)}: {rego(e)}" for k, e in v.items()) + "}"
    return json.dumps(v, ensure_ascii=False)


def _values(leaves):
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(alphabet="abc", max_size=2), inner, max_size=3),
        st.frozensets(st.one_of(st.integers(0, 5), st.text(alphabet="ab", max_size=2)), max_size=3),
    ), max_leaves=8)


ANY = _values(_SCALARS)

# ----------------------------------------------------------------- operands of one kind

_UNIT_STRINGS = st.builds(
    lambda sign, num, unit: sign + num + unit,
    st.sampled_from(["", "", "-", "+"]),
    st.sampled_from(["1", "10", "1.5", ".5", "0", "2.", "1e3", "3.2E-2", "1e", "007", "0.0005", "1.1", "1e-5",
                     "", ".", "1.2.3", "5e+1"]),
    st.sampled_from(["", "k", "K", "Ki", "KI", "ki", "m", "M", "Mi", "mi", "g", "Gi", "T", "ti", "P", "pi", "E",
                     "Ei", "b", "KB", "kb", "KiB", "mib", "GB", "x", "Kib", " ", "B", "MiB"]),
) | st.sampled_from(['"10K"', "1 K", " 5", "foo"])
_B64 = st.binary(max_size=8).map(lambda b: __import__("base64").b64encode(b).decode()) | st.text(
    alphabet="YQWJj=+/-_\n", max_size=8)
_TEXT = st.text(alphabet="abc./-_%+ &<>é\u2028\"\\", max_size=8)
_HEX = st.text(alphabet="0123456789abcdefABCDEFg", max_size=6)
_URL = st.text(alphabet="ab+%20fz=&é;", max_size=8)
_JSON_TEXT = st.sampled_from(['{"a": 1}', "[1, 2.50, -0]", "{", "1 2", "NaN", '"\\ud800"', '{"a":1,"a":2}', "null",
                              " [true] ", "1e400", "[1,]", "'a'"]) | ANY.map(lambda v: json.dumps(
                                  v, default=lambda s: sorted(s, key=str)))
_SEMVER = st.builds(
    lambda v, n, pre, meta: v + n + pre + meta,
    st.sampled_from(["", "", "v", "vv", "V"]),
    st.sampled_from(["1.0.0", "1.2.3", "01.0.0", "1.0", "1.0.0.0", "0.0.0", "2.0.0", "1.+1.0", "18446744073709551616.0.0"]),
    st.sampled_from(["", "", "-", "-alpha", "-alpha.1", "-1", "-2", "-10", "-a.b", "-a..b", "-x-y", "-Z", "-1a", "-a_b"]),
    st.sampled_from(["", "", "+", "+build.1", "+a+b"]),
)
_INT = st.integers(-70, 70) | st.sampled_from([_Raw("1.5"), _Raw("1.0"), _Raw("1e2")])
_STRINGS = st.one_of(_TEXT, st.lists(_TEXT, max_size=3), st.frozensets(_TEXT, max_size=3))
_REGEX = st.sampled_from(["a", "a*", "(a)|(b)", "^a", "a$", "[a-c]+", "(?P<x>b)", "", "x*", "(", "\\d+", "b(a)?",
                          ".", "(?i)A", "a{2}", "\\bb", "\\s", "a|", "a{1001}", "(a*)(b?)", "[^b]",
                          "a(?i)b", "x{,2}"])
_REGEX_TEXT = st.text(alphabet="ab1 .\n\vAé", max_size=8)
_TEMPLATE = st.sampled_from(["$1", "${1}x", "$$", "$", "$x", "${x}", "-", "$1x", "$0", "${2}", "$01", "${1", ""])
_CIDR = st.builds(
    lambda a, p: a + p,
    st.sampled_from(["10.0.0.0", "10.1.2.3", "192.168.0.1", "0.0.0.0", "255.255.255.255", "2001:db8::", "::1", "::",
                     "010.0.0.1", "1.2.3", "fe80::1%eth0", "::ffff:1.2.3.4", "10.0.0.128", "172.16.5.4"]),
    st.sampled_from(["", "/8", "/16", "/24", "/30", "/31", "/32", "/0", "/33", "/128", "/64", "/126", "/08", "/-1", "/"]),
)
_CIDRS = st.one_of(st.lists(_CIDR, max_size=4), st.frozensets(_CIDR, max_size=4))
_NS_TIME = st.integers(-(2**63), 2**63 - 1) | st.sampled_from([0, 1500000000123456789, -1, 951782400 * 10**9,
                                                             _Raw("1.5"), _Raw("1e18"), _Raw("1e30"), 2**63])
_ZONE = st.sampled_from(["", "UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata", "Australia/Lord_Howe",
                         "Nope/Zone"])
_GO_LAYOUT = st.sampled_from(["", "RFC3339", "RFC3339Nano", "ANSIC", "RFC1123Z", "RubyDate", "2006-01-02",
                              "Mon Jan _2 15:04:05.000 2006", "3:04PM", "02/01/06 15h04 -07", "Z07:00:00 .999999",
                              "January 2, 2006 __2 002 pm MST", "2006-01-02T15:04:05Z0700", "15:04:05,000000"])
# OPA types `[ns, zone]` and (`time.format` only) `[ns, zone, layout]` by position; policydiff's
# checker does not count positions, so only those shapes are drawn
_TIME = st.one_of(_NS_TIME, st.tuples(_NS_TIME, _ZONE).map(list))
_TIME_LAYOUT = st.one_of(_TIME, st.tuples(_NS_TIME, _ZONE, _GO_LAYOUT).map(list))
_TIME_TEXT = st.sampled_from(["2017-06-02T19:00:00-07:00", "2017-06-02T19:00:00.5Z", "2017-06-02T9:00:00Z",
                              "2020-02-30", "2020-02-29", "1677-09-21T00:12:43Z", "2262-04-11T23:47:17Z",
                              "Mon Jan  2 15:04:05 2006", "Tue Feb 3 15:04:05.123 2009", "3:04PM", "12:00am",
                              "02/01/06 15h04 +05", "Z .123", "+01:00:30 .5", "2006-01-02T15:04:05+0100",
                              "15:04:05,123456", "2006-01-02T15:04:05z", "", "2017-06-02T19:00:00+24:00"])
_DURATION = st.sampled_from(["1h2m3.5s", "-.5us", "0", "", "+0", "1", "1.5µs", "2μs", "3ns", "1.h", ".s", "1d",
                             "9223372036854775807ns", "9223372036854775808ns", "-9223372036854775808ns",
                             "2562047h47m16.854775807s", "1.0000000000000000000001h", "10m-1s", "5m30s"])
_DOC = st.dictionaries(st.sampled_from(["a", "b", "~", "a/b"]), st.recursive(
    st.one_of(st.integers(0, 3), st.sampled_from(["a", "b", "x"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.frozensets(st.sampled_from(["a", "x", 1]), max_size=2),
                            st.dictionaries(st.sampled_from(["a", "b", "0"]), inner, max_size=2)),
    max_leaves=6), max_size=3)
_POINTER = st.one_of(
    st.sampled_from(["", "/", "a", "/a", "/a/b", "a/0", "/a/1", "/a/-", "/a/01", "/b/a", "/~0", "/a~1b", "//a", "/a/x",
                     "/b/0/a", "/0"]),
    st.lists(st.one_of(st.sampled_from(["a", "b", "x", "0", "-"]), st.integers(-1, 2)), max_size=3))
_POINTERS = st.one_of(st.lists(_POINTER, max_size=3), st.frozensets(st.sampled_from(["a", "/a/b", "b/0", "/a/x"]),
                                                                     max_size=3))
_PATCH_OP = st.builds(
    lambda op, path, frm, value, drop: {k: v for k, v in {"op": op, "path": path, "from": frm, "value": value}.items()
                                        if k != drop},
    st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "nope"]), _POINTER, _POINTER,
    st.one_of(st.integers(0, 3), st.sampled_from(["a", "x"]), st.lists(st.integers(0, 2), max_size=2)),
    st.sampled_from([None, None, None, "path", "from", "value", "op"]))
_JWT_PART = st.sampled_from(["e30", "eyJhbGciOiJIUzI1NiJ9", "eyJlbmMiOiJ4In0", "W10", "eyJjdHkiOiJKV1QifQ", "eyJ9",
                             "eyJhIjoxfQ==", "!", "", "YQ", "ImUzMC5lMzAuWVEi", "eyJjdHkiOjF9"])
_JWT = st.builds(lambda parts: ".".join(parts), st.lists(_JWT_PART, min_size=1, max_size=4)) | st.just(
    "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.LrlPmSL4FxrzAHJSYbKzsA997COXdYCeFKlt3zt5DIY")


def _signed_tokens():
    """Tokens signed by a few fixed keys, some of them spoilt, and the keys as PEM
    (public key and certificate, and a few layouts OPA reads otherwise)."""
    import base64
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
    from cryptography.x509.oid import NameOID

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048), ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP384R1())]
    tokens = []
    payload = b64(b'{"sub": "u"}')
    for alg in ("RS256", "RS512", "PS256", "PS384", "ES256", "ES384", "ES512"):
        for key in keys:
            if isinstance(key, rsa.RSAPrivateKey) != (alg[0] in "RP"):
                continue
            h = hashes.SHA256() if alg.endswith("256") else hashes.SHA384() if alg.endswith("384") else hashes.SHA512()
            for header in ({"alg": alg}, {"alg": alg, "kid": "k", "crit": ["x"]}, {"alg": alg, "typ": 1}):
                msg = f"{b64(json.dumps(header).encode())}.{payload}"
                if alg[0] == "R":
                    sig = key.sign(msg.encode(), padding.PKCS1v15(), h)
                elif alg[0] == "P":
                    sig = key.sign(msg.encode(), padding.PSS(mgf=padding.MGF1(h), salt_length=20), h)
                else:
                    r, s = utils.decode_dss_signature(key.sign(msg.encode(), ec.ECDSA(h)))
                    n = (key.curve.key_size + 7) // 8
                    sig = r.to_bytes(n, "big") + s.to_bytes(n, "big")
                for spoilt in (sig, sig[:-1], sig[:-1] + bytes([sig[-1] ^ 1]), b"\0" + sig, b""):
                    tokens.append(f"{msg}.{b64(spoilt)}")
    pems = []
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    day = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    for key in keys:
        pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(7).not_valid_before(day).not_valid_after(day + datetime.timedelta(days=1))
                .sign(key, hashes.SHA256()))
        pems += [pub.decode(), cert.public_bytes(serialization.Encoding.PEM).decode(), pub.decode() + "\n",
                 pub.decode().rstrip("\n")]
    def jwk(key, **members) -> dict:
        nums = key.public_key().public_numbers()
        if isinstance(key, rsa.RSAPrivateKey):
            out = {"kty": "RSA", "n": b64(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
                   "e": b64(nums.e.to_bytes(3, "big"))}
        else:
            size = (key.curve.key_size + 7) // 8
            out = {"kty": "EC", "crv": {256: "P-256", 384: "P-384"}[key.curve.key_size],
                   "x": b64(nums.x.to_bytes(size, "big")), "y": b64(nums.y.to_bytes(size, "big"))}
        return {**out, **members}

    for key, other in zip(keys, keys[1:] + keys[:1]):
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        pems += [json.dumps(jwk(key)), json.dumps({"keys": [jwk(other, kid="k"), jwk(key)]}),
                 json.dumps({"keys": [jwk(other), jwk(key, kid="k", alg=alg)]}),
                 json.dumps({"keys": [jwk(key, alg="PS384")]}), json.dumps({"keys": [{"kty": "oct", "k": "c2s"}]}),
                 json.dumps(jwk(key, use="sig", x=1)), json.dumps({"keys": []})]
    return tokens, pems + ["{}", "x", '{"kty": "RSA"}']


_SIGNED, _PEMS = _signed_tokens()
_SIGNED_JWT = st.sampled_from(_SIGNED)
_PUBLIC_PEM = st.sampled_from(_PEMS)
_UUID = st.sampled_from([
    "00000000-0000-1000-8000-000000000000", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "{f81d4fae-7dec-21d0-a765-00a0c91e6bf6}",
    "URN:UUID:f81d4fae-7dec-41d0-e765-00a0c91e6bf6", "f81d4fae7dec11d0a76500a0c91e6bf6", "xyz",
    "ffffffff-ffff-1fff-ffff-ffffffffffff", "f81d4fae-7dec-21d0-a7g5-00a0c91e6bf6", "f81d4fae-7dec-21d0-c765-03a0c91e6bf6",
    "xf81d4fae-7dec-21d0-0765-02a0c91e6bf6y", "urn:uuix:f81d4fae-7dec-51d0-a765-00a0c91e6bf6", "f81d4fae_7dec-11d0-a765-00a0c91e6bf6"])
_YAML_SCALAR = st.sampled_from(["y", "n", "yes", "On", "OFF", "true", "~", "null", "", "1_0", "010", "09", "0x1F",
                                "0o7", "0b11", "-1", "+1", "1.5", "-0.0", ".5", "1.", "1e3", ".inf", "2001-12-14", "-x",
                                "1abc", '"q"', "'s'", "!!str 1", "!!int 1", "a b", "9223372036854775808", "-", "<<",
                                "18446744073709551616", "0.1", "100.250", "[1, b]", "{a: 1}", "|\n  t\n", "&x 1"])
_YAML = st.one_of(
    _YAML_SCALAR,
    st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(["a", "y", "1", "'q'", "null", "<<", "b c"]), _YAML_SCALAR),
    st.lists(_YAML_SCALAR, min_size=1, max_size=3).map(lambda xs: "".join(f"- {x}\n" for x in xs)),
    st.sampled_from(["a: 1\na: 2", "a: b: c", "x\n---\ny", "a: &x 1\nb: *x", "a: [", "\ta: 1", "a:\n  - 1\n  - 2",
                     "--- 1", "a: {b: [c, d]}", "? a\n: 1", "%YAML 1.1\n--- a", "a: 'x\n  y'", "- - 1\n  - 2",
                     "a: 1\n---\n\tb: 2\n", "a: 1\n...\n[", "---\n---\n", "a: 1\n--- [\n"]))
_OBJ = st.dictionaries(st.sampled_from(["a", "b", "c"]), ANY, max_size=3)


def _sometimes_any(s):
    return st.one_of(s, s, s, s, ANY)


OPERANDS = {
    "units.parse": [_UNIT_STRINGS],
    "units.parse_bytes": [_UNIT_STRINGS],
    "strings.any_prefix_match": [_STRINGS, _STRINGS],
    "strings.any_suffix_match": [_STRINGS, _STRINGS],
    "strings.split_n": [_TEXT, st.sampled_from([".", "", "/", "ab"]), _INT],
    "strings.count": [_TEXT, st.sampled_from(["", "a", "ab", "é"])],
    "strings.reverse": [_TEXT],
    "strings.replace_n": [st.dictionaries(st.sampled_from(["a", "b", "ab", "."]), _TEXT, max_size=3), _TEXT],
    "indexof_n": [_TEXT, st.sampled_from(["a", "ab", "é", "."])],
    "json.marshal": [ANY],
    "json.unmarshal": [_JSON_TEXT],
    "json.is_valid": [_JSON_TEXT],
    "base64.encode": [_TEXT],
    "base64.decode": [_B64],
    "base64.is_valid": [_B64],
    "base64url.encode": [_TEXT],
    "base64url.encode_no_pad": [_TEXT],
    "base64url.decode": [_B64],
    "hex.encode": [_TEXT],
    "hex.decode": [_HEX],
    "urlquery.encode": [_TEXT],
    "urlquery.decode": [_URL],
    "urlquery.decode_object": [_URL],
    "urlquery.encode_object": [st.dictionaries(st.sampled_from(["a", "b c", "é"]), _STRINGS, max_size=3)],
    "crypto.md5": [_TEXT],
    "crypto.sha1": [_TEXT],
    "crypto.sha256": [_TEXT],
    "crypto.hmac.sha256": [_TEXT, _TEXT],
    "crypto.hmac.equal": [_TEXT, _TEXT],
    "object.subset": [ANY, ANY],
    "object.filter": [_OBJ, st.one_of(st.lists(st.sampled_from(["a", "b", "x"])), st.frozensets(st.sampled_from(["a", "c"])))],
    "object.union_n": [st.lists(_OBJ, max_size=3)],
    "array.reverse": [st.lists(ANY, max_size=3)],
    "array.flatten": [st.lists(ANY, max_size=3)],
    "numbers.range_step": [_INT, _INT, _INT],
    "set_diff": [ANY, ANY],
    "any": [st.lists(ANY, max_size=3)],
    "all": [st.lists(ANY, max_size=3)],
    "glob.quote_meta": [st.text(alphabet="a*?[]{}\\.!", max_size=6)],
    "bits.and": [_INT, _INT],
    "bits.or": [_INT, _INT],
    "bits.xor": [_INT, _INT],
    "bits.negate": [_INT],
    "bits.lsh": [_INT, st.integers(-2, 80)],
    "bits.rsh": [_INT, st.integers(-2, 80)],
    "walk": [ANY],
    "semver.is_valid": [_SEMVER],
    "semver.compare": [_SEMVER, _SEMVER],
    "regex.find_n": [_REGEX, _REGEX_TEXT, st.integers(-1, 3)],
    "regex.find_all_string_submatch_n": [_REGEX, _REGEX_TEXT, st.integers(-1, 3)],
    "regex.split": [_REGEX, _REGEX_TEXT],
    "regex.replace": [_REGEX_TEXT, _REGEX, _TEMPLATE],
    "regex.is_valid": [_REGEX],
    "net.cidr_contains": [_CIDR, _CIDR],
    "net.cidr_intersects": [_CIDR, _CIDR],
    "net.cidr_is_valid": [_CIDR],
    "net.cidr_expand": [_CIDR],
    "net.cidr_merge": [_CIDRS],
    "json.filter": [_DOC, _POINTERS],
    # (OPA types the options by key: a value of the wrong type fails at load)
    "json.marshal_with_options": [ANY, st.fixed_dictionaries({}, optional={
        "pretty": st.booleans() | st.just(1), "indent": st.sampled_from(["", "  ", "\t", "ab", 0]),
        "prefix": st.sampled_from(["", ">", "ab"]), "other": st.just(True)})],
    "json.remove": [_DOC, _POINTERS],
    "json.patch": [st.one_of(_DOC, st.lists(st.integers(0, 3), max_size=3)), st.lists(_PATCH_OP, max_size=3)],
    "io.jwt.decode": [_JWT],
    "io.jwt.verify_hs256": [_JWT, st.sampled_from(["secret", "x", ""])],
    "io.jwt.verify_hs384": [_JWT, st.sampled_from(["secret", "x"])],
    "io.jwt.verify_hs512": [_JWT, st.sampled_from(["secret", "x"])],
    **{f"io.jwt.verify_{f}{b}": [_SIGNED_JWT, _PUBLIC_PEM] for f in ("rs", "ps", "es") for b in ("256", "384", "512")},
    "uuid.parse": [_UUID],
    "graph.reachable_paths": [st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.one_of(
        st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=3),
        st.frozensets(st.sampled_from(["a", "b", "c", "e"]), max_size=3), st.just(1)), max_size=4),
        st.one_of(st.lists(st.sampled_from(["a", "b", "c", "e"]), max_size=3),
                  st.frozensets(st.sampled_from(["a", "b", "d"]), max_size=3))],
    "yaml.unmarshal": [_YAML],
    "yaml.marshal": [st.recursive(st.one_of(ANY, st.text(alphabet="aZ_09 -:#'\"?[]{},.!|>%@&*~<é", max_size=10),
                                            st.sampled_from(["y", "No", "null", "0x1F", "1_0", "2:30", "a b " * 25])),
                                  lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(
                                      st.text(alphabet="aB_09 -:#'.é", max_size=6), c, max_size=3)), max_leaves=6)],
    "yaml.is_valid": [_YAML],
    "cast_array": [ANY],
    "cast_set": [ANY],
    "cast_object": [ANY],
    "cast_string": [ANY],
    "cast_boolean": [ANY],
    "cast_null": [ANY],
    "re_match": [_REGEX, _REGEX_TEXT],
    "regex.match": [_REGEX, _REGEX_TEXT],
    "time.parse_ns": [_GO_LAYOUT, _TIME_TEXT],
    "time.parse_rfc3339_ns": [_TIME_TEXT],
    "time.parse_duration_ns": [_DURATION],
    "time.date": [_TIME],
    "time.clock": [_TIME],
    "time.weekday": [_TIME],
    "time.format": [_TIME_LAYOUT],
    "time.diff": [_TIME, _TIME],
    "time.add_date": [_TIME, st.integers(-400, 400), st.integers(-30, 30), st.integers(-400, 400)],
    "net.cidr_contains_matches": [st.one_of(_CIDR, _CIDRS, st.dictionaries(st.sampled_from(["a", "b"]), _CIDR)),
                                  st.one_of(_CIDR, _CIDRS)],
}


NAMES = tuple(sorted(OPERANDS))


@st.composite
def calls(draw, names=NAMES):
    name = draw(st.sampled_from(names))
    args = [rego(draw(_sometimes_any(s))) for s in OPERANDS[name]]
    return name, f"{name}({', '.join(args)})"
