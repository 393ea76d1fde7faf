"""The SMT solver behind the class space: values for tests the partition cannot split on.

A class of input paths whose values the policies test with atoms (`policydiff.atoms`:
`input.level > 2`, `regex.match(...)`, `split(input.cn, ",")[0] == "CN=a"`, ...) needs
one representative value per combination of truths of its atoms and string patterns
that some value realises. `values_for` finds them, one JSON type at a time:

- `null`, `true` and `false` are single values: each is evaluated.
- For strings, numbers, arrays and objects, atoms are encoded in z3's theories of
  strings and real arithmetic (`Encoder`). Combinations are enumerated by the solver
  until it proves no other is satisfiable; each model becomes a concrete value whose
  truths the concrete evaluator computes again, so a witness never rests on the
  encoding alone.
- Constructs outside the encoding (`regex.match`, `split`, `lower`, `glob.match`, ...)
  are searched for: candidates built from the policies' own constants (prefixes,
  separators, `CN=`-style strings, their joins, boundary numbers). The combinations are
  proved complete only if the search realises every combination; otherwise the class
  is reported unproved, naming the atom.

The truth of an atom on a value is always the concrete evaluator's (`truth`). This is
the only module that imports z3.
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

Sig = tuple[bool, ...]
MAX_ROUNDS = 512  # combinations enumerated per type before the class is left unproved
TIMEOUT_MS = 5000  # per solver call; past it the combination is unknown, so unproved
NUMERIC = "number"
_DOMAINS = ("null", "boolean", NUMERIC, "string", "array", "object")
_RANK = {"null": 0, "boolean": 1, NUMERIC: 2, "string": 3, "array": 4, "object": 5}


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


@functools.lru_cache(maxsize=1)
def _program():
    from policydiff.compile import compile_modules

    return compile_modules([])


@functools.lru_cache(maxsize=4096)
def _query(atom: Atom):
    from policydiff.compile import Query

    return Query(_program(), atom.body)


def truth(atom: Atom, value: Any, *, absent: bool = False, other: Any = None,
          other_absent: bool = True) -> bool:
    """Whether `atom` holds when its path has `value`, or is left out (`absent`); for
    a relation (`atom.other`), when the other path has `other` (or is left out)."""
    from policydiff.compile import Ctx, freeze

    doc = {} if absent else {VALUE: value}
    if not other_absent:
        doc[OTHER] = other
    try:
        return bool(_query(atom).solutions(Ctx(freeze(doc))))
    except Exception:  # noqa: BLE001 - a builtin error makes the literal undefined
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
    return out


def _seeds(atoms: Sequence[Atom], patterns: Sequence[Any], constants: Sequence[Any]) -> dict[str, list]:
    """Candidate values built from the constants the tests use."""
    strings: set[str] = {c for c in constants if isinstance(c, str)}
    numbers: set[Fraction] = {Fraction(c) for c in constants
                              if isinstance(c, (int, float)) and not isinstance(c, bool)}
    for a in atoms:
        for s in _scalars(a.body):
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
    for s in _missing(exprs, base, found):
        if s is None:
            return False  # the solver gave up
        v = _witness(enc, base + [_cube(exprs, s)], [])
        if v is None or sig(v) != s:
            return False  # no JSON value for it, or the encoding and the evaluator disagree
        found[s] = [v]
    # more values of each combination, or the proof that there are no more
    for s, vs in found.items():
        while len(vs) < need:
            v = _witness(enc, base + [_cube(exprs, s)], vs)
            if v is None or sig(v) != s:
                if v is None and _unsat(base + [_cube(exprs, s)] + [x != enc.const(w) for w in vs]):
                    exhausted.add(s)
                break
            vs.append(v)
    return True


def _missing(exprs: list, base: list, found: dict[Sig, list]):
    """The combinations of `exprs` satisfiable under `base` that `found` lacks; None
    when the solver gives up. Few items: each combination is one query (the string
    solver does best on conjunctions). Many: one solver enumerates models, each
    combination found blocked, up to `MAX_ROUNDS` (ordering against many constants
    has few combinations among its 2**n)."""
    if len(exprs) <= 8:
        for s in itertools.product((False, True), repeat=len(exprs)):
            if s not in found:
                r = _check(base + [_cube(exprs, s)])
                if r == z3.sat:
                    yield s
                elif r != z3.unsat:
                    yield None
                    return
        return
    solver = z3.Solver()
    solver.set("timeout", TIMEOUT_MS)
    solver.add(*base)
    for s in found:
        solver.add(z3.Not(_cube(exprs, s)))
    for _ in range(MAX_ROUNDS):
        r = solver.check()
        if r == z3.unsat:
            return
        if r != z3.sat:
            break
        model = solver.model()
        s = tuple(z3.is_true(z3.simplify(model.eval(e, model_completion=True))) for e in exprs)
        solver.add(z3.Not(_cube(exprs, s)))
        yield s
    yield None


def _cube(exprs: list, s: Sig):
    return z3.And(*[e if b else z3.Not(e) for e, b in zip(exprs, s)]) if exprs else z3.BoolVal(True)


def _check(constraints: list):
    solver = z3.Solver()
    solver.set("timeout", TIMEOUT_MS)
    solver.add(*constraints)
    return solver.check()


def _unsat(constraints: list) -> bool:
    return _check(constraints) == z3.unsat


def _witness(enc: Encoder, constraints: list, avoid: list) -> Any:
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
        solver = z3.Solver()
        solver.set("timeout", TIMEOUT_MS)
        solver.add(*constraints, *extra, *more)
        if solver.check() != z3.sat:
            continue
        v = solver.model().eval(x, model_completion=True)
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


# ------------------------------------------------------------------------- encoding

_UNDEF = ("undefined",)


class Encoder:
    """Atoms as z3 formulas over the value `x` of one JSON type. A value is a pair
    (kind, z3 term) with kind a JSON type name; `_UNDEF` is an undefined expression
    (a builtin's type error); None means the construct is not encoded."""

    def __init__(self, domain: str, other: str | None = None):
        self.domain = domain
        self.base: list = []  # constraints every value of the type meets
        if domain == "string":
            self.x = z3.String("x")
        elif domain == NUMERIC:
            self.x = z3.Real("x")
        else:  # an array or object, known by its number of members
            self.x = z3.Int("n")
            self.base.append(self.x >= 0)
        # the second value of a relation (`input.y`): a string or a number
        self.other = other
        self.y = None if other is None else z3.String("y") if other == "string" else z3.Real("y")
        self.side: list = []  # what the current literal needs to be defined
        self._fresh = 0

    def fresh(self):
        self._fresh += 1
        return z3.String(f"s{self._fresh}")

    def kind(self, c: Any) -> str:
        if c is None:
            return "null"
        if isinstance(c, bool):
            return "boolean"
        if isinstance(c, (int, float)):
            return NUMERIC
        if isinstance(c, str):
            return "string"
        return "array" if isinstance(c, list) else "object"

    def const(self, c: Any):
        if isinstance(c, (list, dict)):
            return z3.IntVal(len(c))
        if isinstance(c, str):
            return z3.StringVal(c)
        return z3.RealVal(str(Fraction(c)))

    def pattern(self, p: Any):
        if self.domain != "string":
            return False  # string tests fail on every other type
        t = z3.StringVal(p.text)
        match p.kind:
            case "prefix":
                return z3.PrefixOf(t, self.x)
            case "suffix":
                return z3.SuffixOf(t, self.x)
            case "contains":
                return z3.Contains(self.x, t)
        return None

    def atom(self, atom: Atom):
        env: dict[str, Any] = {}
        conds = []
        for lit in atom.body:
            self.side = []
            match lit:
                case ir.Assign(lhs=ir.Var(name=name), rhs=rhs) if lit is not atom.body[-1]:
                    v = self.term(rhs, env)
                    if v is None:
                        return None
                    if v is _UNDEF:
                        return False
                    env[name] = v
                    conds += self.side
                case ir.Expr(term=term, negated=neg):
                    t = self._truth(self.term(term, env))
                    if t is None:
                        return None
                    t = _and(self.side + [t])
                    conds.append(_not(t) if neg else t)
                case ir.Unify(lhs=lhs, rhs=rhs):
                    t = self._truth(self._equal(self.term(lhs, env), self.term(rhs, env)))
                    if t is None:
                        return None
                    conds.append(_and(self.side + [t]))
                case _:
                    return None
        if any(c is False for c in conds):
            return False
        conds = [c for c in conds if c is not True]
        return z3.And(*conds) if conds else True

    def _truth(self, v):
        """A literal holds when its value is defined and not false."""
        if v is None:
            return None
        if v is _UNDEF:
            return False
        kind, e = v
        if kind == "boolean":
            return e
        return True

    def term(self, t: Any, env: dict):
        match t:
            case ir.Scalar(value=c):
                k = self.kind(c)
                if k in ("null",):
                    return ("null", None)
                if k == "boolean":
                    return ("boolean", bool(c))
                return (k, self.const(c))
            case ir.Ref(head=ir.Var(name="input"), path=(ir.Scalar(value=name),)) if name == VALUE:
                return (self.domain, self.x)
            case ir.Ref(head=ir.Var(name="input"), path=(ir.Scalar(value=name),)) if name == OTHER:
                return None if self.y is None else (self.other, self.y)
            case ir.Var(name=name) if name in env:
                return env[name]
            case ir.Ref(head=ir.Var(name=name), path=(ir.Scalar(value=int() as i),)) if name in env:
                return self._index(env[name], i)
            case ir.Call(func=func, args=args):
                return self._call(func, args, env)
        return None

    def _call(self, func: str, args, env: dict):
        if func in ("concat", "sprintf") and len(args) == 2 and isinstance(args[1], ir.Array):
            return self._join(func, args, env)
        if func == "internal.member_2" and isinstance(args[1], (ir.Array, ir.Set)):
            a = self.term(args[0], env)
            items = [self.term(i, env) for i in args[1].items]
            tests = [self._equal(a, i) for i in items]
            if any(t is None for t in tests):
                return None
            if a is _UNDEF:
                return _UNDEF
            return ("boolean", _or([t[1] for t in tests]))
        vals = [self.term(a, env) for a in args]
        if any(v is None for v in vals):
            return None
        if any(v is _UNDEF for v in vals):
            return _UNDEF
        kinds = [v[0] for v in vals]
        es = [v[1] for v in vals]
        match func:
            case "equal":
                return self._equal(*vals)
            case "neq":
                r = self._equal(*vals)
                return None if r is None else ("boolean", _not(r[1]))
            case "lt" | "lte" | "gt" | "gte":
                return self._order(func, vals)
            case "startswith" | "endswith" | "contains":
                if kinds != ["string", "string"]:
                    return _UNDEF
                a, b = es
                f = {"startswith": lambda: z3.PrefixOf(b, a), "endswith": lambda: z3.SuffixOf(b, a),
                     "contains": lambda: z3.Contains(a, b)}[func]
                return ("boolean", f())
            case "indexof":
                if kinds != ["string", "string"]:
                    return _UNDEF
                return (NUMERIC, z3.ToReal(z3.IndexOf(es[0], es[1], 0)))
            case "count":
                if kinds == ["string"]:
                    return (NUMERIC, z3.ToReal(z3.Length(es[0])))
                if kinds[0] in ("array", "object"):
                    return (NUMERIC, z3.ToReal(es[0]))
                return None if kinds[0] == "split" else _UNDEF
            case "split":
                if kinds != ["string", "string"]:
                    return _UNDEF
                return ("split", (es[0], es[1]))
            case "substring":
                if kinds != ["string", NUMERIC, NUMERIC] or not all(
                        isinstance(a, ir.Scalar) and isinstance(a.value, int) for a in args[1:]):
                    return None if kinds[0] == "string" else _UNDEF
                start, length = args[1].value, args[2].value
                if start < 0:
                    return _UNDEF
                n = z3.Length(es[0]) - start if length < 0 else z3.IntVal(length)
                return ("string", z3.SubString(es[0], start, n))
            case "regex.match":
                if not (isinstance(args[0], ir.Scalar) and kinds[0] == "string"):
                    return None
                if kinds[1] != "string":
                    return _UNDEF
                r = _regex(args[0].value)
                return None if r is None else ("boolean", z3.InRe(es[1], r))
            case "trim_prefix" | "trim_suffix":
                if kinds != ["string", "string"]:
                    return _UNDEF
                s, p = es
                n = z3.Length(p)
                if func == "trim_prefix":
                    return ("string", z3.If(z3.PrefixOf(p, s), z3.SubString(s, n, z3.Length(s) - n), s))
                return ("string", z3.If(z3.SuffixOf(p, s), z3.SubString(s, 0, z3.Length(s) - n), s))
            case "plus" | "minus" | "mul":
                if kinds != [NUMERIC, NUMERIC]:
                    return None if func == "minus" and "array" in kinds else _UNDEF
                a, b = es
                return (NUMERIC, a + b if func == "plus" else a - b if func == "minus" else a * b)
            case "abs":
                if kinds != [NUMERIC]:
                    return _UNDEF
                return (NUMERIC, z3.If(es[0] >= 0, es[0], -es[0]))
        return None

    def _join(self, func: str, args, env: dict):
        head = self.term(args[0], env)
        items = [self.term(i, env) for i in args[1].items]
        if head is None or any(i is None for i in items):
            return None
        if head is _UNDEF or any(i is _UNDEF for i in items):
            return _UNDEF
        if head[0] != "string":
            return None
        if func == "concat" and any(i[0] != "string" for i in items):
            return _UNDEF
        parts = [i[1] if i[0] == "string" else self._formatted(i[0]) for i in items]
        if func == "concat":
            out = []
            for i, p in enumerate(parts):
                if i:
                    out.append(head[1])
                out.append(p)
            return ("string", z3.Concat(*out) if len(out) > 1 else out[0] if out else z3.StringVal(""))
        fmt = args[0].value if isinstance(args[0], ir.Scalar) else None
        if not isinstance(fmt, str) or fmt.count("%") != fmt.count("%s") or fmt.count("%s") != len(parts):
            return None
        pieces = fmt.split("%s")
        out = [z3.StringVal(pieces[0])]
        for p, text in zip(parts, pieces[1:]):
            out += [p, z3.StringVal(text)]
        return ("string", z3.Concat(*out))

    def _formatted(self, kind: str):
        """What `%s` makes of a value that is not a string: some string (an array's
        and an object's in their brackets). A superset of what OPA prints, so that
        the solver's "no such value" stays a proof; its witnesses are checked."""
        if kind == "array":
            return z3.Concat(z3.StringVal("["), self.fresh(), z3.StringVal("]"))
        if kind == "object":
            return z3.Concat(z3.StringVal("{"), self.fresh(), z3.StringVal("}"))
        f = self.fresh()  # Go's `%!s(int64=2)`, or the digits of a big number
        digits = z3.Plus(z3.Union(z3.Range("0", "9"), z3.Re("e"), z3.Re("E"), z3.Re("+"), z3.Re("-"),
                                  z3.Re(".")))
        if kind == NUMERIC:  # a constraint on the fresh string, not a condition of the literal
            self.base.append(z3.Or(z3.PrefixOf(z3.StringVal("%!s("), f), z3.InRe(f, digits)))
        return f

    def _index(self, v, i: int):
        """Member `i` of `split(s, sep)` (defined when `s` has `i` separators)."""
        if v is None or v is _UNDEF:
            return v
        if v[0] != "split" or i < 0:
            return None
        s, sep = v[1]
        if not (z3.is_string_value(sep) and sep.as_string()):
            return None  # splitting by "" cuts between characters: not encoded
        rest = s
        for _ in range(i):
            at = z3.IndexOf(rest, sep, 0)
            self.side.append(at >= 0)
            rest = z3.SubString(rest, at + z3.Length(sep), z3.Length(rest))
        at = z3.IndexOf(rest, sep, 0)
        return ("string", z3.If(at >= 0, z3.SubString(rest, 0, at), rest))

    def _equal(self, a, b):
        if a is None or b is None:
            return None
        if a is _UNDEF or b is _UNDEF:
            return _UNDEF
        (ka, ea), (kb, eb) = a, b
        if ka != kb:
            return ("boolean", False)
        if ka == "null":
            return ("boolean", True)
        if ka in ("array", "object", "split"):
            return None
        if ka == "boolean" and (isinstance(ea, bool) or isinstance(eb, bool)):
            if isinstance(ea, bool) and isinstance(eb, bool):
                return ("boolean", ea == eb)
            return None
        return ("boolean", ea == eb)

    def _order(self, func: str, vals):
        (ka, ea), (kb, eb) = vals
        if "split" in (ka, kb):
            return None
        if ka != kb:
            less = _RANK[ka] < _RANK[kb]
            return ("boolean", less if func in ("lt", "lte") else not less)
        if ka in ("null", "boolean", "array", "object"):
            return None
        op = {"lt": lambda: ea < eb, "lte": lambda: ea <= eb, "gt": lambda: ea > eb,
              "gte": lambda: ea >= eb}[func]
        return ("boolean", op())


def _not(e):
    return (not e) if isinstance(e, bool) else z3.Not(e)


def _and(es: list):
    if any(e is False for e in es):
        return False
    es = [e for e in es if e is not True]
    return z3.And(*es) if len(es) > 1 else es[0] if es else True


def _or(es: list):
    if any(e is True for e in es):
        return True
    es = [e for e in es if e is not False]
    return z3.Or(*es) if es else False


# ---------------------------------------------------------------- regular expressions

_CLASSES = {"d": [("0", "9")], "w": [("0", "9"), ("a", "z"), ("A", "Z"), ("_", "_")],
            "s": [("\t", "\n"), ("\f", "\r"), (" ", " ")]}


def _regex(pattern: Any):
    """`regex.match(pattern, s)` as a z3 regular expression over the whole of `s` (RE2
    searches anywhere unless anchored), for a subset of RE2's syntax: literals, `.`,
    classes with ranges, `\\d \\w \\s`, groups, `|`, `* + ? {m,n}`, `^` first and `$`
    last. None for anything else."""
    if not isinstance(pattern, str):
        return None
    try:
        return _RegexParser(pattern).whole()
    except (ValueError, IndexError):
        return None


class _RegexParser:
    def __init__(self, text: str):
        self.t, self.i = text, 0

    def whole(self):
        start = self.t.startswith("^")
        if start:
            self.i = 1
        end = self.t.endswith("$") and not self.t.endswith("\\$")
        body = self.t[:-1] if end else self.t
        self.t = body
        r = self.alt()
        if self.i != len(self.t):
            raise ValueError(self.t)
        anything = z3.Star(z3.AllChar(z3.ReSort(z3.StringSort())))
        parts = ([] if start else [anything]) + [r] + ([] if end else [anything])
        return z3.Concat(*parts) if len(parts) > 1 else r

    def alt(self):
        branches = [self.seq()]
        while self.i < len(self.t) and self.t[self.i] == "|":
            self.i += 1
            branches.append(self.seq())
        return z3.Union(*branches) if len(branches) > 1 else branches[0]

    def seq(self):
        parts = []
        while self.i < len(self.t) and self.t[self.i] not in "|)":
            parts.append(self.quantified(self.atom()))
        if not parts:
            return z3.Re("")
        return z3.Concat(*parts) if len(parts) > 1 else parts[0]

    def quantified(self, r):
        while self.i < len(self.t) and self.t[self.i] in "*+?{":
            c = self.t[self.i]
            self.i += 1
            if self.i < len(self.t) and self.t[self.i] in "?+":
                raise ValueError("lazy or possessive")
            if c == "*":
                r = z3.Star(r)
            elif c == "+":
                r = z3.Plus(r)
            elif c == "?":
                r = z3.Option(r)
            else:
                close = self.t.index("}", self.i)
                lo, comma, hi = self.t[self.i:close].partition(",")
                self.i = close + 1
                low = int(lo)
                if not comma:
                    r = z3.Loop(r, low, low)
                elif hi:
                    r = z3.Loop(r, low, int(hi))
                else:
                    r = z3.Concat(z3.Loop(r, low, low), z3.Star(r)) if low else z3.Star(r)
        return r

    def atom(self):
        c = self.t[self.i]
        self.i += 1
        if c == "(":
            if self.t.startswith("?:", self.i):
                self.i += 2
            elif self.t.startswith("?", self.i):
                raise ValueError("group flags")
            r = self.alt()
            if self.t[self.i] != ")":
                raise ValueError(")")
            self.i += 1
            return r
        if c == ".":
            return z3.Intersect(z3.AllChar(z3.ReSort(z3.StringSort())), z3.Complement(z3.Re("\n")))
        if c == "[":
            return self.klass()
        if c == "\\":
            e = self.t[self.i]
            self.i += 1
            if e in _CLASSES:
                return _union([z3.Range(a, b) for a, b in _CLASSES[e]])
            if e.isalnum():
                raise ValueError(e)
            return z3.Re(e)
        if c in "^$":
            raise ValueError("anchor inside")
        return z3.Re(c)

    def klass(self):
        if self.t[self.i] == "^":
            raise ValueError("negated class")
        ranges = []
        first = True
        while first or self.t[self.i] != "]":
            first = False
            c = self.t[self.i]
            self.i += 1
            if c == "\\":
                e = self.t[self.i]
                self.i += 1
                if e in _CLASSES:
                    ranges += _CLASSES[e]
                    continue
                if e.isalnum():
                    raise ValueError(e)
                c = e
            elif c == "[":
                raise ValueError("nested class")
            if self.t[self.i] == "-" and self.t[self.i + 1] != "]":
                hi = self.t[self.i + 1]
                if hi == "\\":
                    raise ValueError("escaped range end")
                self.i += 2
                ranges.append((c, hi))
            else:
                ranges.append((c, c))
        self.i += 1
        return _union([z3.Range(a, b) for a, b in ranges])


def _union(rs: list):
    return z3.Union(*rs) if len(rs) > 1 else rs[0]
