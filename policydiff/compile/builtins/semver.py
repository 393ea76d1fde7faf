"""`semver.is_valid` and `semver.compare`, as OPA's semantic-version package reads them.

A version is `[v]MAJOR.MINOR.PATCH[-PRERELEASE][+METADATA]`: the three numbers unsigned
64-bit integers (leading zeros allowed), the pre-release and metadata dot-separated
identifiers of `[0-9A-Za-z-]` (either may be empty). Comparison: the numbers, then a
version without pre-release above one with it, then the pre-release identifiers in
turn (numeric ones, as Go's `Atoi` reads them, below the others and compared as
numbers, then as text), the longer list above when one is a prefix of the other.
`TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

import re

from policydiff.compile.builtins.operands import BuiltinError, Unsupported, string

_IDENTIFIERS = re.compile(r"[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*")
_UINT = re.compile(r"[0-9]+")
_ATOI = re.compile(r"[+-]?[0-9]+")


def parse(s: str) -> tuple[tuple[int, int, int], str] | None:
    s = s.removeprefix("v")
    s, _, metadata = s.partition("+")
    s, _, pre = s.partition("-")
    parts = s.split(".", 2)
    if len(parts) != 3:
        return None
    for ident in (pre, metadata):
        if ident and not _IDENTIFIERS.fullmatch(ident):
            return None
    if not all(_UINT.fullmatch(p) and int(p) < 2**64 for p in parts):
        return None
    return (int(parts[0]), int(parts[1]), int(parts[2])), pre


def _atoi(s: str) -> int | None:
    if _ATOI.fullmatch(s) and -(2**63) <= int(s) < 2**63:
        return int(s)
    return None


def _cmp(a, b) -> int:
    return (a > b) - (a < b)


def _compare_pre(a: list[str], b: list[str]) -> int:
    for x, y in zip(a, b):
        xi, yi = _atoi(x), _atoi(y)
        if (xi is None) != (yi is None):
            return -1 if xi is not None else 1
        if xi is not None and xi != yi:
            return _cmp(xi, yi)
        if xi is not None and x != y:  # `1` and `01`: OPA 1.20 never returns from this
            raise Unsupported("semver.compare: numeric pre-release identifiers of one value written "
                              "differently")
        if x != y:
            return _cmp(x, y)
    return _cmp(len(a), len(b))


def is_valid(v):
    return type(v) is str and parse(v) is not None


def compare(a, b):
    parsed = []
    for pos, v in ((1, a), (2, b)):
        p = parse(string(v, "semver.compare", pos))
        if p is None:
            raise BuiltinError(f"semver.compare: operand {pos}: string {v!r} is not a valid SemVer")
        parsed.append(p)
    (na, pa), (nb, pb) = parsed
    if na != nb:
        return _cmp(na, nb)
    if not pa or not pb:
        return _cmp(not pa, not pb)
    return _compare_pre(pa.split("."), pb.split("."))


TABLE = {
    "semver.is_valid": (1, is_valid),
    "semver.compare": (2, compare),
}
