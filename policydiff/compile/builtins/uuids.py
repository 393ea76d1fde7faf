"""`uuid.parse`: a UUID's text read as google/uuid reads it, and its fields as OPA
reports them.

Accepted: 36 characters with dashes at 8, 13, 18 and 23; the same after a `urn:uuid:`
prefix (any case); 38 characters, whose first is skipped and last ignored (braces, but
unchecked); 32 hex digits. Anything else makes the call undefined. The result has
`version` and `variant`; versions 1 and 2 add `time` (Unix nanoseconds, wrapping as
Go's int64 does), `nodeid` (`00-a0-…`), `macvariables` and `clocksequence`; version 2 adds `id` and `domain`.
`TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

from policydiff.compile.builtins.operands import string
from policydiff.compile.values import UNDEFINED, Obj

_HEX = set(b"0123456789abcdefABCDEF")
_GREGORIAN = 122192928000000000  # 100 ns intervals from 1582-10-15 to 1970-01-01
_DOMAINS = {0: "Person", 1: "Group", 2: "Org"}


def _bytes(s: bytes) -> bytes | None:
    if len(s) == 32:
        text = s
    else:
        if len(s) == 45:
            if s[:9].lower() != b"urn:uuid:":
                return None
            s = s[9:]
        elif len(s) == 38:
            s = s[1:]
        elif len(s) != 36:
            return None
        if any(s[i] != ord("-") for i in (8, 13, 18, 23)):
            return None
        text = b"".join(s[x:x + 2] for x in (0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34))
    if not set(text) <= _HEX:
        return None
    return bytes.fromhex(text.decode())


def _variant(b: int) -> str:
    if b & 0xC0 == 0x80:
        return "RFC4122"
    if b & 0xE0 == 0xC0:
        return "Microsoft"
    if b & 0xE0 == 0xE0:
        return "Future"
    return "Reserved"


def _mac(b: int) -> str:
    if b & 3 == 3:
        return "local:multicast"
    if b & 1:
        return "global:multicast"
    if b & 2:
        return "local:unicast"
    return "global:unicast"


def _go_div(a: int, b: int) -> tuple[int, int]:
    q = abs(a) // b * (1 if a >= 0 else -1)
    return q, a - q * b


def _int64(x: int) -> int:
    return (x + 2**63) % 2**64 - 2**63


def parse(s):
    u = _bytes(string(s, "uuid.parse", 1).encode())
    if u is None:
        return UNDEFINED
    version = u[6] >> 4
    out = Obj(version=version, variant=_variant(u[8]))
    if version in (1, 2):
        t = int.from_bytes(u[0:4], "big") | int.from_bytes(u[4:6], "big") << 32 \
            | (int.from_bytes(u[6:8], "big") & 0xFFF) << 48
        sec, nsec = _go_div(t - _GREGORIAN, 10_000_000)
        out["time"] = _int64(sec * 1_000_000_000 + nsec * 100)
        out["nodeid"] = "-".join(f"{b:02x}" for b in u[10:16])
        out["macvariables"] = _mac(u[10])
        out["clocksequence"] = int.from_bytes(u[8:10], "big") & 0x3FFF
        if version == 2:
            out["id"] = int.from_bytes(u[0:4], "big")
            out["domain"] = _DOMAINS.get(u[9], f"Domain{u[9]}")
    return out


TABLE = {"uuid.parse": (1, parse)}
