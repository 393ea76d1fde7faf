"""Relations between two input values: `input.a < input.b`, `startswith(input.a, input.b)`.

The class space picks each path's value among representatives — constants, kinds of
fresh values, values the solver found for the class's atoms — and makes two paths'
fresh values equal or not. A relation between two paths (`policydiff.atoms` makes it
an atom with `other` set; the analysis puts both paths in one class) depends on more
than that: which of two fresh strings is smaller, whether one starts with the other.
`pairs_for` adds to the class's assignments a pair of values for every combination of
what the class's tests say of the two values together that some pair realises: the
patterns and atoms on each value, which constant each equals, whether they are equal,
and the truth of each relation.

- Both values strings or numbers: z3 (`policydiff.solver`'s encoding, with the second
  value as `input.y`) enumerates the combinations until it proves there are no others;
  each model becomes a concrete pair whose combination the evaluator computes again.
- Otherwise the relations are direct comparisons or string tests of the two values
  (the only relations `policydiff.atoms` makes), so their truth follows from the types
  and, for two values of one type, from their order: `null` and booleans are tried
  whole, two arrays or two objects as `[0]`/`[1]` and `{"k": 0}`/`{"k": 1}` in each
  order and equal. A class whose atoms on one value tell arrays or objects apart
  (`count(input.a) > 2`) is then left unproved for two arrays or two objects.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import z3

from policydiff.atoms import OTHER, VALUE, Atom, Rewrite
from policydiff.formulas import NUMERIC, Encoder
from policydiff.solver import MAX_ROUNDS, TIMEOUT_MS, json_number, truth

_CANDIDATES = {"null": [None], "boolean": [False, True], "array": [[0], [1]],
               "object": [{"k": 0}, {"k": 1}]}
_SOLVED = ("string", NUMERIC)


def pairs_for(unary: Sequence[Atom], relations: Sequence[Atom], patterns: Sequence[Any],
              matches: Callable[[Any, Any], bool], constants: Sequence[Any],
              domains: tuple[set[str], set[str]], known: Sequence[tuple[Any, Any]],
              ) -> tuple[list[tuple[Any, Any]], list[str]]:
    """Pairs of values of the two related paths, beyond the `known` pairs (the
    class's own assignments), realising every combination of the class's tests on the
    two values; and why the combinations are not proved complete (empty when they are)."""
    consts = [c for c in constants]

    def one(v: Any) -> tuple:
        return (tuple(matches(p, v) for p in patterns) + tuple(truth(a, v) for a in unary)
                + tuple(_equal(v, c) for c in consts))

    def sig(a: Any, b: Any) -> tuple:
        return one(a) + one(b) + (_equal(a, b),) + tuple(
            truth(r, a, other=b, other_absent=False) for r in relations)

    found: dict[tuple, tuple[Any, Any]] = {}
    for a, b in known:
        found.setdefault((_kind(a), _kind(b), sig(a, b)), (a, b))
    out: list[tuple[Any, Any]] = []
    why: list[str] = []
    where = "; ".join(f"{r.where}: {r.construct}" for r in relations[:2])
    lefts = [a for a, _ in known]
    rights = [b for _, b in known]
    for da, db in itertools.product(sorted(domains[0]), sorted(domains[1])):
        if da in _SOLVED and db in _SOLVED:
            problem = _solve(da, db, unary, relations, patterns, consts, sig, found, out)
            if problem:
                why.append(f"{where}: {problem}")
            continue
        if da == db and da in ("array", "object") and not all(  # other types: ordered by type
                isinstance(Encoder(da).atom(a), bool) for a in unary):
            why.append(f"{where}: a relation between two {da}s that other atoms also test "
                       "(not modelled)")
        left = [v for v in _values(lefts, da)] or list(_CANDIDATES.get(da, []))
        right = [v for v in _values(rights, db)] or list(_CANDIDATES.get(db, []))
        left += [v for v in _CANDIDATES.get(da, []) if v not in left]
        right += [v for v in _CANDIDATES.get(db, []) if v not in right]
        for a, b in itertools.product(left, right):
            key = (da, db, sig(a, b))
            if key not in found:
                found[key] = (a, b)
                out.append((a, b))
    return out, why


def _values(known: list, domain: str) -> list:
    out: list = []
    for v in known:
        if _kind(v) == domain and not any(_equal(v, w) for w in out):
            out.append(v)
    return out


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return NUMERIC
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object" if isinstance(v, dict) else "other"


def _equal(a: Any, b: Any) -> bool:
    """Equal as OPA compares: numbers by value, never a boolean with a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _on_other(atom: Atom) -> Atom:
    """An atom on one value, read from the second value of a relation (`input.y`)."""
    from msgspec.structs import replace

    rewrite = Rewrite({"input": ()}, (VALUE,), {(VALUE,): OTHER})
    return replace(atom, body=tuple(rewrite.literal(lit) for lit in atom.body))


def _solve(da: str, db: str, unary, relations, patterns, consts, sig, found: dict, out: list) -> str:
    """Enumerate with z3 the combinations pairs of a `da` and a `db` realise; each new
    one's pair goes to `found` and `out`. A reason when not proved complete."""
    enc = Encoder(da, db)
    x, y = enc.x, enc.y
    items: list = []
    for v in (x, y):
        for p in patterns:
            items.append(_pattern(p, v) if (da if v is x else db) == "string" else False)
        for a in unary:
            items.append(enc.atom(a if v is x else _on_other(a)))
        for c in consts:
            kind = _kind(c)
            items.append(v == enc.const(c) if kind == (da if v is x else db) else False)
    items.append(x == y if da == db else False)
    items += [enc.atom(r) for r in relations]
    if any(i is None for i in items):
        return "a test on the two values outside the solver's encoding"
    exprs = [z3.BoolVal(i) if isinstance(i, bool) else i for i in items]
    solver = z3.Solver()
    solver.set("timeout", TIMEOUT_MS)
    solver.add(*enc.base)
    for ka, kb, s in found:
        if (ka, kb) == (da, db) and len(s) == len(exprs):
            solver.add(z3.Not(_cube(exprs, s)))
    for _ in range(MAX_ROUNDS):
        r = solver.check()
        if r == z3.unsat:
            return ""
        if r != z3.sat:
            return "the solver gave up on the two values"
        m = solver.model()
        s = tuple(z3.is_true(z3.simplify(m.eval(e, model_completion=True))) for e in exprs)
        solver.add(z3.Not(_cube(exprs, s)))
        pair = _pair(enc, _cube(exprs, s))
        if pair is None or sig(*pair) != s:
            return "no pair of JSON values found for a combination the solver allows"
        found[(da, db, s)] = pair
        out.append(pair)
    return f"more than {MAX_ROUNDS} combinations of tests on the two values"


def _pattern(p: Any, v):
    t = z3.StringVal(p.text)
    match p.kind:
        case "prefix":
            return z3.PrefixOf(t, v)
        case "suffix":
            return z3.SuffixOf(t, v)
        case "contains":
            return z3.Contains(v, t)
    return None


def _cube(exprs: list, s: tuple):
    return z3.And(*[e if b else z3.Not(e) for e, b in zip(exprs, s)]) if exprs else z3.BoolVal(True)


def _pair(enc: Encoder, constraint) -> tuple[Any, Any] | None:
    """Concrete values for `input.x` and `input.y` meeting `constraint`: readable ones
    first (printable strings, numbers in quarters or binary fractions)."""
    def nice(v, domain: str, k: str) -> list:
        if domain == "string":
            return [z3.InRe(v, z3.Star(z3.Range(" ", "~")))]
        return [v * 1024 == z3.ToReal(z3.Int(k))]

    for more in (nice(enc.x, enc.domain, "kx") + nice(enc.y, enc.other, "ky"), []):
        solver = z3.Solver()
        solver.set("timeout", TIMEOUT_MS)
        solver.add(*enc.base, constraint, *more)
        if solver.check() != z3.sat:
            continue
        m = solver.model()
        values = [_value(m.eval(v, model_completion=True), d)
                  for v, d in ((enc.x, enc.domain), (enc.y, enc.other))]
        if all(v is not _NONE for v in values):
            return values[0], values[1]
    return None


_NONE = object()


def _value(v, domain: str) -> Any:
    if domain == "string":
        return re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m.group(1), 16)), v.as_string())
    q = Fraction(v.as_fraction())
    if float(q) != q and q.denominator != 1:
        return _NONE
    return json_number(q)
