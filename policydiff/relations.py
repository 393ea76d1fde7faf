"""Relations between input values: `input.a < input.b`, `startswith(input.a, input.b)`.

The class space picks each path's value among representatives — constants, kinds of
fresh values, values the solver found for the class's atoms — and makes two paths'
fresh values equal or not. A relation between two paths (`policydiff.atoms` makes it
an atom with `other` set; the analysis puts both paths in one class) depends on more
than that: which of two fresh strings is smaller, whether one starts with the other.
Relations chain (`input.a < input.b`, `input.b <= input.c`), so the values they read
are related together: `tuples_for` adds to the class's assignments a tuple of values of
the up to `MAX_RELATED` related paths for every combination of what the class's tests
say of them together that some tuple realises: the patterns and atoms on each value,
which constant each equals, which of them are equal, and the truth of each relation.

- The values that are strings or numbers are solved together: z3 (`policydiff.formulas`,
  one constant per value) enumerates the combinations of their tests until it proves
  there are no others; each model becomes concrete values whose combination the
  evaluator computes again.
- The others (`null`, booleans, arrays, objects, an absent value) are tried whole:
  their relations with a value of another type follow from the two types (a relation
  is a comparison, a string test or a comparison after `+`/`-` of a constant, each
  decided by the order of JSON types or undefined on mixed types), and values of one
  such type are ordered among themselves (`[0]`, `[1]`, ... in every order, equal or
  not). A class whose atoms on one value tell arrays or objects apart
  (`count(input.a) > 2`) is left unproved for two related arrays or objects.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import z3

from policydiff.atoms import Atom
from policydiff.formulas import NUMERIC, Encoder
from policydiff.solver import MAX_ROUNDS, RLIMIT, Session, json_number, truth

MAX_RELATED = 4  # values one class's relations may relate together; past it, unproved
BUDGET = 2 * RLIMIT  # z3's resource units on one class's related values; past it, unproved
ABSENT_DOMAIN = "absent"  # a path no model fixes may be left out
_SOLVED = ("string", NUMERIC)


class Tuples:
    """The tests of one class on its related values, and the tuples that realise them."""

    def __init__(self, n: int, unary: Sequence[Atom], relations: Sequence[tuple[int, int, Atom]],
                 patterns: Sequence[Any], matches: Callable[[Any, Any], bool],
                 constants: Sequence[Any], absent: Any):
        self.n, self.unary, self.relations = n, list(unary), list(relations)
        self.patterns, self.matches, self.consts, self.absent = list(patterns), matches, list(constants), absent
        self.why: list[str] = []
        self._solved: dict[tuple, list[tuple]] = {}
        self._z3 = Session(budget=BUDGET)
        self._gave_up = False
        self._one: dict[tuple, tuple] = {}
        self._related: dict[tuple, bool] = {}
        named = dict.fromkeys(f"{r.where}: {r.construct}" for _, _, r in self.relations)
        self.where = "; ".join(list(named)[:2])

    def one(self, v: Any) -> tuple:
        k = self._key(v)
        if k not in self._one:
            self._one[k] = self._truths(v)
        return self._one[k]

    def related(self, t: tuple, i: int, j: int, r: Atom) -> bool:
        k = (id(r), self._key(t[i]), self._key(t[j]))
        if k not in self._related:
            self._related[k] = truth(r, t[i], absent=t[i] is self.absent, other=t[j],
                                     other_absent=t[j] is self.absent)
        return self._related[k]

    def _key(self, v: Any) -> tuple:
        """A value as a cache key: its type and JSON text (1 and 1.0 alike, as OPA)."""
        if v is self.absent:
            return ("absent",)
        return (_kind(v, self.absent), json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v)

    def _truths(self, v: Any) -> tuple:
        if v is self.absent:
            return ((False,) * len(self.patterns) + tuple(truth(a, None, absent=True) for a in self.unary)
                    + (False,) * len(self.consts))
        return (tuple(self.matches(p, v) for p in self.patterns) + tuple(truth(a, v) for a in self.unary)
                + tuple(_equal(v, c) for c in self.consts))

    def sig(self, t: tuple, among: Sequence[int] | None = None) -> tuple:
        """What the class's tests say of the values `t` (of the positions `among`)."""
        idx = list(range(self.n)) if among is None else list(among)
        out: tuple = sum((self.one(t[i]) for i in idx), ())
        out += tuple(_equal(t[i], t[j]) for i, j in itertools.combinations(idx, 2))
        return out + tuple(self.related(t, i, j, r) for i, j, r in self.relations if i in idx and j in idx)

    def tuples(self, domains: Sequence[set[str]], known: Sequence[tuple]) -> list[tuple]:
        """Tuples beyond the `known` ones (the class's own assignments) realising every
        combination of the tests; why they are not proved complete goes to `why`."""
        found: set = set()
        for t in known:
            found.add((self._shape(t), self.sig(t)))
        out: list[tuple] = []
        for doms in itertools.product(*(sorted(d) for d in domains)):
            solved = tuple(i for i in range(self.n) if doms[i] in _SOLVED)
            rest = [i for i in range(self.n) if i not in solved]
            cands = {i: self._whole(i, doms, known) for i in rest}
            for dom in {doms[i] for i in rest}:
                same = [i for i in rest if doms[i] == dom]
                if dom in ("array", "object") and len(same) > 1 and not all(
                        isinstance(Encoder(dom).atom(a), bool) for a in self.unary):
                    self._say(f"{self.where}: a relation between two {dom}s that other atoms also test "
                              "(not modelled)")
            for part in self._solve(tuple((i, doms[i]) for i in solved), known):
                for whole in itertools.product(*(cands[i] for i in rest)):
                    t = [None] * self.n
                    for i, v in zip(solved, part):
                        t[i] = v
                    for i, v in zip(rest, whole):
                        t[i] = v
                    key = (self._shape(t), self.sig(tuple(t)))
                    if key not in found:
                        found.add(key)
                        out.append(tuple(t))
        return out

    def _tried(self, solved: tuple[tuple[int, str], ...], known: Sequence[tuple]):
        """Values of the positions `solved` to try before asking z3: the class's own
        values of each one's type (its constants, values the solver found for its
        atoms), values beside its constants and pattern texts, a few ordered values, in
        every combination (fewer values past `_MAX_TRIED` combinations)."""
        def pool(i: int, dom: str, size: int) -> list:
            out: list = []
            consts = [c for c in self.consts if _kind(c, None) == dom]
            texts = [p.text for p in self.patterns if dom == "string" and p.kind != "glob"]
            for v in (consts + [t[i] for t in known] + [w for c in consts + texts for w in _beside(c)]
                      + texts + _TRIED[dom]):
                if _kind(v, None) == dom and not any(_equal(v, w) for w in out):
                    out.append(v)
            return out[:size]

        size = 12
        while size > 2 and size ** len(solved) > _MAX_TRIED:
            size -= 1
        return itertools.product(*(pool(i, d, size) for i, d in solved))

    def _shape(self, t: Sequence) -> tuple:
        """What tells two tuples of one combination of tests apart beyond the tests: an
        absent value (`not input.a` holds) and an object (its own cell's label); values
        of other types meeting the same tests are decided alike, as the class space's
        other values are."""
        return tuple(k if k in (ABSENT_DOMAIN, "object") else "" for k in (_kind(v, self.absent) for v in t))

    def _say(self, why: str) -> None:
        if why not in self.why:
            self.why.append(why)

    def _whole(self, i: int, doms: tuple, known: Sequence[tuple]) -> list:
        """The values tried whole at position `i`: the class's own of its type, and
        as many ordered values as positions of the type, so every order is met."""
        dom = doms[i]
        if dom == ABSENT_DOMAIN:
            return [self.absent]
        out: list = []
        for t in known:
            v = t[i]
            if _kind(v, self.absent) == dom and not any(_equal(v, w) for w in out):
                out.append(v)
        m = sum(1 for d in doms if d == dom)
        ordered = {"null": [None], "boolean": [False, True], "array": [[k] for k in range(m)],
                   "object": [{"k": k} for k in range(m)]}.get(dom, [])
        return out + [v for v in ordered if not any(_equal(v, w) for w in out)]

    def _solve(self, solved: tuple[tuple[int, str], ...], known: Sequence[tuple]) -> list[tuple]:
        """Values of the string and number positions `solved` realising every
        combination of their tests among themselves (z3; cached per types)."""
        if solved in self._solved:
            return self._solved[solved]
        self._solved[solved] = out = []
        if not solved:
            out.append(())
            return out
        dom = dict(solved)
        idx = [i for i, _ in solved]
        encs = {i: Encoder(d, names=(f"v{i}", f"w{i}")) for i, d in solved}
        items: list = []
        for i in idx:
            enc = encs[i]
            items += [_pattern(p, enc.x) if dom[i] == "string" else False for p in self.patterns]
            items += [enc.atom(a) for a in self.unary]
            items += [enc.x == enc.const(c) if _kind(c, None) == dom[i] else False for c in self.consts]
        for i, j in itertools.combinations(idx, 2):
            items.append(encs[i].x == encs[j].x if dom[i] == dom[j] else False)
        pairs: dict[tuple[int, int], Encoder] = {}
        for i, j, r in self.relations:
            if i in dom and j in dom:
                enc = pairs.setdefault((i, j), Encoder(dom[i], dom[j], names=(f"v{i}", f"v{j}")))
                items.append(enc.atom(r))
        # values tried first, so that z3 (slow on string order) mostly proves the rest
        # impossible: each combination they realise is one z3 need not find
        seen: set = set()
        for values in self._tried(solved, known):
            full = [None] * self.n
            for i, v in zip(idx, values):
                full[i] = v
            s = self.sig(tuple(full), idx)
            if s not in seen:
                seen.add(s)
                out.append(tuple(values))
        if any(e is None for e in items):
            self._say(f"{self.where}: a test on the related values outside the solver's encoding")
            return out
        if self._out_of_time():
            return out
        exprs = [z3.BoolVal(e) if isinstance(e, bool) else e for e in items]
        base = [b for e in list(encs.values()) + list(pairs.values()) for b in e.base]
        z = self._z3
        solver = z.solver(*base, *[z3.Not(_cube(exprs, s)) for s in seen])
        local = [z.local(e) for e in exprs]
        for _ in range(MAX_ROUNDS):
            if self._out_of_time():
                return out
            r = z.check(solver)
            if r == z3.unsat:
                return out
            if r != z3.sat:
                if not self._out_of_time():
                    self._say(f"{self.where}: the solver gave up on the related values")
                self._gave_up = True  # the class is unproved: the others are witnesses only
                return out
            m = solver.model()
            s = tuple(z3.is_true(z3.simplify(m.eval(e, model_completion=True))) for e in local)
            solver.add(z3.Not(_cube(local, s)))
            cube = _cube(exprs, s)
            values = _values(z, [(encs[i].x, dom[i]) for i in idx], base, cube)
            full = [None] * self.n
            if values is not None:
                for i, v in zip(idx, values):
                    full[i] = v
            if values is None or self.sig(tuple(full), idx) != s:
                self._say(f"{self.where}: no JSON values found for a combination the solver allows")
                continue
            out.append(tuple(values))
        self._say(f"{self.where}: more than {MAX_ROUNDS} combinations of tests on the related values")
        return out

    def _out_of_time(self) -> bool:
        """Past the class's resource units for z3 (`BUDGET`), or after it gave up once:
        the class is unproved, and what is left is found by the values tried only."""
        if self._gave_up:
            return True
        if self._z3.left() > 0:
            return False
        self._say(f"{self.where}: more than {BUDGET:,} resource units of solver work on the related values")
        return True


_TRIED = {"string": ["", "a", "b", "c", "ab"], NUMERIC: [0, 1, 2, 3, 0.5]}
_MAX_TRIED = 4096


def _beside(c: Any) -> list:
    """Values just beside a constant: below and above it in order."""
    if isinstance(c, str):
        return [c[:-1], c + "a", c[:-1] + chr(ord(c[-1]) + 1)] if c else ["a"]
    return [c - 1, c + 1, c - 0.5, c + 0.5]


def _kind(v: Any, absent: Any) -> str:
    if v is absent:
        return ABSENT_DOMAIN
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


def _values(z: Session, variables: list, base: list, constraint) -> list | None:
    """Concrete values of `variables` meeting `constraint`: readable ones first
    (printable strings, numbers in binary fractions)."""
    def nice(k: int, v, domain: str) -> list:
        if domain == "string":
            return [z3.InRe(v, z3.Star(z3.Range(" ", "~")))]
        return [v * 1024 == z3.ToReal(z3.Int(f"k{k}"))]

    readable = [c for k, (v, d) in enumerate(variables) for c in nice(k, v, d)]
    for more in (readable, []):
        solver = z.solver(*base, constraint, *more)
        if z.check(solver) != z3.sat:
            continue
        m = solver.model()
        values = [_value(m.eval(z.local(v), model_completion=True), d) for v, d in variables]
        if all(v is not _NONE for v in values):
            return values
    return None


_NONE = object()


def _value(v, domain: str) -> Any:
    if domain == "string":
        return re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m.group(1), 16)), v.as_string())
    q = Fraction(v.as_fraction())
    if float(q) != q and q.denominator != 1:
        return _NONE
    return json_number(q)
