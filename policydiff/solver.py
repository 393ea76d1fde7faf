"""The SMT solver behind the class space: values for tests the partition cannot split on.

A class of input paths whose values the policies test with atoms (`policydiff.atoms`:
`input.level > 2`, `regex.match(...)`, `split(input.cn, ",")[0] == "CN=a"`, ...) needs
one representative value per combination of truths of its atoms and string patterns
that some value realises. `values_for` finds them, one JSON type at a time:

- `null`, `true` and `false` are single values: each is evaluated.
- For strings, numbers, arrays and objects, atoms are encoded in z3's theories of
  strings and real arithmetic (`policydiff.formulas`). Combinations are enumerated by the solver
  until it proves no other is satisfiable; each model becomes a concrete value whose
  truths the concrete evaluator computes again, so a witness never rests on the
  encoding alone.
- Constructs outside the encoding (`regex.match`, `split`, `lower`, `glob.match`, ...)
  are searched for: candidates built from the policies' own constants (prefixes,
  separators, `CN=`-style strings, their joins, boundary numbers). The combinations are
  proved complete only if the search realises every combination; otherwise the class
  is reported unproved, naming the atom.

The truth of an atom on a value is always the concrete evaluator's (`truth`).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import z3

from policydiff import ir
from policydiff.atoms import OTHER, VALUE, Atom
from policydiff.errors import PolicydiffError
from policydiff.formulas import NUMERIC, Encoder, may_conflict

Sig = tuple[bool, ...]
MAX_ROUNDS = 512  # combinations enumerated per type before the class is left unproved
# z3's work is bounded in its own deterministic resource units (`rlimit`), not in time:
# the same query gets the same answer on any machine under any load (same commit, same
# verdict). RLIMIT is per query; past it the combination is unknown, so unproved.
RLIMIT = 20_000_000
# a wall-clock limit far above what RLIMIT takes, only against a z3 step that counts no
# resources: the answer is then unknown (unproved), never a proof
BACKSTOP_MS = 300_000
_DOMAINS = ("null", "boolean", NUMERIC, "string", "array", "object")


class Values:
    """What `values_for` found: per JSON type and combination, the distinct values
    seen (up to the number asked for), whether that list is every such value, and why
    the combinations are not proved complete (empty when they are)."""

    def __init__(self) -> None:
        self.by_sig: dict[tuple[str, Sig], list[Any]] = {}
        self.exhausted: set[tuple[str, Sig]] = set()
        self.unproved: list[str] = []

    def add(self, sig: tuple[str, Sig], value: Any, need: int) -> None:
        vs = self.by_sig.setdefault(sig, [])
        if len(vs) < need and not any(_same(value, v) for v in vs):
            vs.append(value)


# ------------------------------------------------------------------------ evaluation


_PACKAGE = ("$atom",)  # where an atom's policy functions are compiled, and its body reads them


@functools.lru_cache(maxsize=64)
def _program(functions: tuple[ir.Rule, ...] = ()):
    from policydiff.compile import compile_modules

    return compile_modules([ir.Module(package=_PACKAGE, rules=functions)] if functions else [])


@functools.lru_cache(maxsize=4096)
def _query(atom: Atom):
    from policydiff.compile import Query

    if atom.functions:
        return Query(_program(atom.functions), atom.body, package=_PACKAGE)
    return Query(_program(), atom.body)


def truth(atom: Atom, value: Any, *, absent: bool = False, other: Any = None,
          other_absent: bool = True) -> bool:
    """Whether `atom` holds when its path has `value`, or is left out (`absent`); for
    a relation (`atom.other`), when the other path has `other` (or is left out)."""
    from policydiff.compile import Ctx, freeze

    doc = {} if absent else {VALUE: value}
    if not other_absent:
        doc[OTHER] = other
    query = _query(atom)  # a failure to compile the atom raises: it is no `false`
    try:
        return bool(query.solutions(Ctx(freeze(doc))))
    except PolicydiffError:  # an evaluation error (a conflict, a strict builtin error): undefined
        return False


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------- search


def values_for(atoms: Sequence[Atom], patterns: Sequence[Any], matches: Callable[[Any, Any], bool],
               constants: Sequence[Any], domains: set[str], need: int) -> Values:
    """Representatives for every combination of truths of `patterns` and `atoms` that
    a value other than the `constants` realises, `need` distinct values each where
    there are that many; only values of the JSON types in `domains`."""
    out = Values()
    consts = {_ckey(c) for c in constants}

    def sig(v: Any) -> Sig:
        return tuple(matches(p, v) for p in patterns) + tuple(truth(a, v) for a in atoms)

    seeds = _seeds(atoms, patterns, constants)
    for domain in _DOMAINS:
        if domain not in domains:
            continue
        candidates = [v for v in seeds[domain] if _ckey(v) not in consts]
        found: dict[Sig, list[Any]] = {}
        for v in candidates:
            s = sig(v)
            found.setdefault(s, [])
            if len(found[s]) < need and not any(_same(v, w) for w in found[s]):
                found[s].append(v)
        if domain in ("null", "boolean"):  # every value of the type was evaluated
            for s, vs in found.items():
                for v in vs:
                    out.add((domain, s), v, need)
                out.exhausted.add((domain, s))
            continue
        exhausted: set[Sig] = set()
        proved = _solve(domain, atoms, patterns, constants, sig, found, need, exhausted)
        for s, vs in found.items():
            for v in vs:
                out.add((domain, s), v, need)
        out.exhausted |= {(domain, s) for s in exhausted}
        if not proved and len(found) < 2 ** (len(patterns) + len(atoms)):
            hard = [a for a in atoms if Encoder(domain).atom(a) is None] or list(atoms)
            what = "; ".join(f"{a.where}: {a.construct}" for a in hard[:3])
            out.unproved.append(f"{what} on `input.{'.'.join(atoms[0].path)}`: no proof that its "
                                f"{domain} values realise only the {len(found)} combinations of "
                                "tests found (out of the solver's reach)")
    raising = [a for a in atoms if _may_conflict(a)]
    if raising:
        what = "; ".join(f"{a.where}: {a.construct}" for a in raising[:3])
        out.unproved.append(f"{what} on `input.{'.'.join(atoms[0].path)}`: builds an object by a "
                            "comprehension or calls a function of definitions of different values, "
                            "which fails with a conflict on values whose keys or definitions meet; "
                            "the values tried need not include them")
    return out


def _may_conflict(atom: Atom) -> bool:
    """Whether evaluating `atom` may end in a conflict error (an object comprehension
    whose keys repeat, a function of definitions of different values) rather than a
    truth: `truth` reads it false, but the policy's decision on such a value is an
    error no combination stands for."""
    by_name: dict[str, list[ir.Rule]] = {}
    for r in atom.functions:
        if r.kind == "function":
            by_name.setdefault(r.name, []).append(r)
    if any(may_conflict(rs) for rs in by_name.values()):
        return True
    stack: list[Any] = [atom.body, atom.functions]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple):
            stack.extend(n)
        elif isinstance(n, ir.ObjectCompr):
            return True
        elif isinstance(n, ir.Node):
            stack.extend(getattr(n, f) for f in n.__struct_fields__ if f != "span")
    return False


def _seeds(atoms: Sequence[Atom], patterns: Sequence[Any], constants: Sequence[Any]) -> dict[str, list]:
    """Candidate values built from the constants the tests use."""
    strings: set[str] = {c for c in constants if isinstance(c, str)}
    numbers: set[Fraction] = {Fraction(c) for c in constants
                              if isinstance(c, (int, float)) and not isinstance(c, bool)}
    for a in atoms:
        for s in _scalars((a.body, a.functions)):
            if isinstance(s, str):
                strings.add(s)
            elif isinstance(s, (int, float)) and not isinstance(s, bool):
                numbers.add(Fraction(s))
    strings |= {p.text for p in patterns}
    words = {w for w in strings if len(w) <= 40}
    seps = {w for w in words if 0 < len(w) <= 2 and not w.isalnum()} | {"", ",", "=", ":", "/", " "}
    for w in list(words):
        for sep in seps - {""}:
            words.update(part for part in w.split(sep) if part)
    words = {w for w in words if len(w) <= 40}
    strs: list[str] = ["", "value-1", "value-2", "A", "z"]
    for w in sorted(words):
        strs += [w, w + "a", w + "-1", "a" + w, w.upper(), w.lower(), w[:-1], w + " ", " " + w,
                 w + "\x00", "~" + w]
    small = sorted(words)[:24]
    for w1, w2 in itertools.product(small, repeat=2):
        for sep in sorted(seps):
            strs += [w1 + sep + w2, w1 + sep + w2 + sep + "x"]
    nums: set[Fraction] = {Fraction(0), Fraction(1), Fraction(-1)}
    ordered = sorted(numbers)
    for n in ordered:
        nums |= {n, n - 1, n + 1, n - Fraction(1, 2), n + Fraction(1, 2), -n}
    for a, b in itertools.pairwise(ordered):
        nums.add((a + b) / 2)
    return {"null": [None], "boolean": [False, True], NUMERIC: [json_number(n) for n in sorted(nums)],
            "string": list(dict.fromkeys(strs)), "array": [[], ["a"], [1, 2]],
            "object": [{}, {"a": 1}]}


def _scalars(node: Any):
    if isinstance(node, ir.Scalar):
        yield node.value
        return
    if isinstance(node, tuple):
        for x in node:
            yield from _scalars(x)
        return
    for f in getattr(node, "__struct_fields__", ()):
        if f != "span":
            yield from _scalars(getattr(node, f))


def json_number(q: Fraction) -> int | float:
    return int(q) if q.denominator == 1 else float(q)


def _ckey(v: Any) -> Any:
    return (type(v).__name__, v) if isinstance(v, (bool, int, float, str, type(None))) else ("x", repr(v))


# --------------------------------------------------------------------------- solver


class Session:
    """z3 in a context of its own. z3's answer and its work on a query depend on what
    was asked in its context before (its counters and caches), so each class's queries
    start from a fresh context: a class gets the same answer whatever else the process
    solved. `rlimit` bounds the resource units of one check, `budget` those of all its
    checks together (None: no bound but per check). Formulas built in z3's main context
    are translated on the way in."""

    def __init__(self, budget: int | None = None, rlimit: int | None = None) -> None:
        self.budget, self.rlimit = budget, RLIMIT if rlimit is None else rlimit
        self.spent = 0  # resource units used so far
        self._ctx: z3.Context | None = None

    @property
    def ctx(self) -> z3.Context:
        if self._ctx is None:
            self._ctx = z3.Context()
        return self._ctx

    def local(self, e):
        return e if e.ctx is self.ctx else e.translate(self.ctx)

    def solver(self, *constraints) -> z3.Solver:
        solver = z3.Solver(ctx=self.ctx)
        solver.add(*[self.local(c) for c in constraints])
        return solver

    def left(self) -> int:
        return self.rlimit if self.budget is None else min(self.rlimit, self.budget - self.spent)

    def check(self, solver: z3.Solver, *assumptions):
        """sat, unsat or unknown (out of units: unknown, before asking z3)."""
        limit = self.left()
        if limit <= 0:
            return z3.unknown
        solver.set("rlimit", limit)
        solver.set("timeout", BACKSTOP_MS)
        r = solver.check(*[self.local(a) for a in assumptions])
        try:
            self.spent = int(solver.statistics().get_key_value("rlimit count"))  # the context's so far
        except z3.Z3Exception:  # no work counted yet
            pass
        return r


def _solve(domain: str, atoms, patterns, constants, sig, found: dict[Sig, list], need: int,
           exhausted: set[Sig]) -> bool:
    """Enumerate the combinations `domain`'s values realise with z3, adding a witness
    to `found` for each new one. True when z3 proved there are no others."""
    enc = Encoder(domain)
    items = [enc.pattern(p) for p in patterns] + [enc.atom(a) for a in atoms]
    if any(i is None for i in items):
        return False
    x = enc.x
    base = [x != enc.const(c) for c in constants if enc.kind(c) == domain] + enc.base
    exprs = [z3.BoolVal(i) if isinstance(i, bool) else i for i in items]
    z = Session()
    for s in _missing(z, exprs, base, found):
        if s is None:
            return False  # the solver gave up
        v = _witness(z, enc, base + [_cube(exprs, s)], [])
        if v is None or sig(v) != s:
            return False  # no JSON value for it, or the encoding and the evaluator disagree
        found[s] = [v]
    # more values of each combination, or the proof that there are no more
    for s, vs in found.items():
        while len(vs) < need:
            v = _witness(z, enc, base + [_cube(exprs, s)], vs)
            if v is None or sig(v) != s:
                if v is None and _check(z, base + [_cube(exprs, s)] + [x != enc.const(w) for w in vs]) == z3.unsat:
                    exhausted.add(s)
                break
            vs.append(v)
    return True


def _missing(z: Session, exprs: list, base: list, found: dict[Sig, list]):
    """The combinations of `exprs` satisfiable under `base` that `found` lacks; None
    when the solver gives up. Few items: each combination is one query (the string
    solver does best on conjunctions). Many: one solver enumerates models, each
    combination found blocked, up to `MAX_ROUNDS` (ordering against many constants
    has few combinations among its 2**n)."""
    if len(exprs) <= 8:
        for s in itertools.product((False, True), repeat=len(exprs)):
            if s not in found:
                r = _check(z, base + [_cube(exprs, s)])
                if r == z3.sat:
                    yield s
                elif r != z3.unsat:
                    yield None
                    return
        return
    solver = z.solver(*base, *[z3.Not(_cube(exprs, s)) for s in found])
    local = [z.local(e) for e in exprs]
    for _ in range(MAX_ROUNDS):
        r = z.check(solver)
        if r == z3.unsat:
            return
        if r != z3.sat:
            break
        model = solver.model()
        s = tuple(z3.is_true(z3.simplify(model.eval(e, model_completion=True))) for e in local)
        solver.add(z3.Not(_cube(local, s)))
        yield s
    yield None


def _cube(exprs: list, s: Sig):
    if not exprs:
        return z3.BoolVal(True)
    return z3.And(*[e if b else z3.Not(e) for e, b in zip(exprs, s)])


def _check(z: Session, constraints: list):
    """sat, unsat or unknown. The string solver's luck depends on the order it meets
    constraints in (a derived value's definitions before or after the test on it): an
    unknown is asked once more the other way round before it is left unknown."""
    for order in (constraints, constraints[::-1]):
        r = z.check(z.solver(*order))
        if r != z3.unknown:
            return r
    return r


def _witness(z: Session, enc: Encoder, constraints: list, avoid: list) -> Any:
    """A concrete value meeting `constraints`, none of `avoid`: a readable one first
    (printable strings, numbers in quarters or in binary fractions), then any."""
    x = enc.x
    extra = [x != enc.const(v) for v in avoid]
    if enc.domain in ("array", "object"):
        tries = [[x <= 8], []]
    elif enc.domain == "string":
        nice = [z3.InRe(x, z3.Star(z3.Range(" ", "~")))]
        tries = [nice, []]
    else:
        k = z3.Int("k")
        tries = [[x * 4 == z3.ToReal(k)], [x * 1024 == z3.ToReal(k)], []]
    for more in tries:
        solver = z.solver(*constraints, *extra, *more)
        if z.check(solver) != z3.sat:
            continue
        v = solver.model().eval(z.local(x), model_completion=True)
        if enc.domain in ("array", "object"):
            return _collection(enc.domain, v.as_long())
        if enc.domain == "string":
            return re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m.group(1), 16)), v.as_string())
        q = Fraction(v.as_fraction())
        if float(q) != q and q.denominator != 1:
            continue
        return json_number(q)
    return None


def _collection(domain: str, n: int) -> Any:
    """An array or object of `n` members (what the encoding knows of it is its size)."""
    return list(range(n)) if domain == "array" else {f"k{i}": i for i in range(n)}
