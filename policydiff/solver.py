"""The SMT solver behind the class space: values for tests the partition cannot split on.

A class of input paths whose values the policies test with atoms (`policydiff.atoms`:
`input.level > 2`, `regex.match(...)`, `split(input.cn, ",")[0] == "CN=a"`, ...) needs
one representative value per combination of truths of its atoms and string patterns
that some value realises. `values_for` finds them, one JSON type at a time:

- `null`, `true` and `false` are single values: each is evaluated.
- For strings, numbers, arrays and objects, atoms are encoded in z3's theories of
  strings and real arithmetic (`_Encoder`). Combinations are enumerated by the solver
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
from policydiff.atoms import VALUE, Atom

Sig = tuple[bool, ...]
_MAX_COMBINATIONS = 512  # solver rounds per type before the class is reported unproved
_NUMERIC = "number"
_DOMAINS = ("null", "boolean", _NUMERIC, "string", "array", "object")
_RANK = {"null": 0, "boolean": 1, _NUMERIC: 2, "string": 3, "array": 4, "object": 5}


class Values:
    """What `values_for` found: per combination, the distinct values seen (up to the
    number asked for), whether that list is every such value, and why the
    combinations are not proved complete (empty when they are)."""

    def __init__(self) -> None:
        self.by_sig: dict[Sig, list[Any]] = {}
        self.exhausted: set[Sig] = set()
        self.unproved: list[str] = []

    def add(self, sig: Sig, value: Any, need: int) -> None:
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


def truth(atom: Atom, value: Any) -> bool:
    """Whether `atom` holds when its path has `value` (`absent` leaves it out)."""
    from policydiff.compile import Ctx, freeze

    doc = {} if value is ABSENT else {VALUE: value}
    try:
        return bool(_query(atom).solutions(Ctx(freeze(doc))))
    except Exception:  # noqa: BLE001 - a builtin error makes the literal undefined
        return False


ABSENT: Any = object()  # a path left out of the input (`policydiff.matrix` builds it so)


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
                    out.add(s, v, need)
                out.exhausted.add(s)
            continue
        proved = _solve(domain, atoms, patterns, constants, sig, found, need, out)
        for s, vs in found.items():
            for v in vs:
                out.add(s, v, need)
        if not proved and len(found) < 2 ** (len(patterns) + len(atoms)):
            hard = [a for a in atoms if _Encoder(domain).atom(a) is None]
            what = ", ".join(f"{a.construct} at {a.where}" for a in hard[:3]) or "the tests"
            out.unproved.append(f"{what}: no proof that the {domain} values of "
                                f"`input.{'.'.join(atoms[0].path)}` realise only the "
                                f"{len(found)} combinations found")
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
    return {"null": [None], "boolean": [False, True], _NUMERIC: [_number(n) for n in sorted(nums)],
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


def _number(q: Fraction) -> int | float:
    return int(q) if q.denominator == 1 else float(q)


def _ckey(v: Any) -> Any:
    return (type(v).__name__, v) if isinstance(v, (bool, int, float, str, type(None))) else ("x", repr(v))


# --------------------------------------------------------------------------- solver


def _solve(domain: str, atoms, patterns, constants, sig, found: dict[Sig, list], need: int,
           out: Values) -> bool:
    """Enumerate the combinations `domain`'s values realise with z3, adding a witness
    to `found` for each new one. True when z3 proved there are no others."""
    enc = _Encoder(domain)
    items = [enc.pattern(p) for p in patterns] + [enc.atom(a) for a in atoms]
    if any(i is None for i in items):
        return False
    if domain in ("array", "object"):  # no variable: each item has one truth for the type
        if any(not isinstance(i, bool) for i in items):
            return False
        s = tuple(items)
        make = (lambda i: [i] * i) if domain == "array" else (lambda i: {f"k{i}": i} if i else {})
        for v in (make(i) for i in range(need)):  # every value of the type is in `s`
            if sig(v) != s:
                return False  # the encoding and the evaluator disagree: not proved
            vs = found.setdefault(s, [])
            if not any(_same(v, w) for w in vs):
                vs.append(v)
        return True
    x = enc.x
    base = [x != enc.const(c) for c in constants if enc.kind(c) == domain]
    exprs = [z3.BoolVal(i) if isinstance(i, bool) else i for i in items]
    solver = z3.Solver()
    solver.set("timeout", 2000)
    solver.add(*base)
    for s in found:
        solver.add(z3.Not(_cube(exprs, s)))
    for _ in range(_MAX_COMBINATIONS):
        r = solver.check()
        if r == z3.unsat:
            break
        if r != z3.sat:
            return False
        model = solver.model()
        s = tuple(z3.is_true(model.eval(e, model_completion=True)) for e in exprs)
        solver.add(z3.Not(_cube(exprs, s)))
        v = _witness(enc, base + [_cube(exprs, s)], [])
        if v is None or sig(v) != s:
            return False  # no JSON value for it, or the encoding and the evaluator disagree
        found[s] = [v]
    else:
        return False
    # more values of each combination, or the proof that there are no more
    for s, vs in found.items():
        while len(vs) < need:
            v = _witness(enc, base + [_cube(exprs, s)], vs)
            if v is None or sig(v) != s:
                if v is None and _unsat(base + [_cube(exprs, s)] + [x != enc.const(w) for w in vs]):
                    out.exhausted.add(s)
                break
            vs.append(v)
    return True


def _cube(exprs: list, s: Sig):
    return z3.And(*[e if b else z3.Not(e) for e, b in zip(exprs, s)]) if exprs else z3.BoolVal(True)


def _unsat(constraints: list) -> bool:
    solver = z3.Solver()
    solver.set("timeout", 2000)
    solver.add(*constraints)
    return solver.check() == z3.unsat


def _witness(enc: _Encoder, constraints: list, avoid: list) -> Any:
    """A concrete value meeting `constraints`, none of `avoid`: a readable one first
    (printable strings, numbers in quarters or in binary fractions), then any."""
    x = enc.x
    extra = [x != enc.const(v) for v in avoid]
    if enc.domain == "string":
        nice = [z3.InRe(x, z3.Star(z3.Range(" ", "~")))]
        tries = [nice, []]
    else:
        k = z3.Int("k")
        tries = [[x * 4 == z3.ToReal(k)], [x * 1024 == z3.ToReal(k)], []]
    for more in tries:
        solver = z3.Solver()
        solver.set("timeout", 2000)
        solver.add(*constraints, *extra, *more)
        if solver.check() != z3.sat:
            continue
        v = solver.model().eval(x, model_completion=True)
        if enc.domain == "string":
            return re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m.group(1), 16)), v.as_string())
        q = Fraction(v.as_fraction())
        if float(q) != q and q.denominator != 1:
            continue
        return _number(q)
    return None


# ------------------------------------------------------------------------- encoding

_UNDEF = ("undefined",)


class _Encoder:
    """Atoms as z3 formulas over the value `x` of one JSON type. A value is a pair
    (kind, z3 term) with kind a JSON type name; `_UNDEF` is an undefined expression
    (a builtin's type error); None means the construct is not encoded."""

    def __init__(self, domain: str):
        self.domain = domain
        self.x = z3.String("x") if domain == "string" else z3.Real("x")

    def kind(self, c: Any) -> str:
        if c is None:
            return "null"
        if isinstance(c, bool):
            return "boolean"
        if isinstance(c, (int, float)):
            return _NUMERIC
        if isinstance(c, str):
            return "string"
        return "array" if isinstance(c, list) else "object"

    def const(self, c: Any):
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
            match lit:
                case ir.Assign(lhs=ir.Var(name=name), rhs=rhs) if lit is not atom.body[-1]:
                    v = self.term(rhs, env)
                    if v is None:
                        return None
                    if v is _UNDEF:
                        return False
                    env[name] = v
                case ir.Expr(term=term, negated=neg):
                    t = self._truth(self.term(term, env))
                    if t is None:
                        return None
                    conds.append(_not(t) if neg else t)
                case ir.Unify(lhs=lhs, rhs=rhs):
                    t = self._truth(self._equal(self.term(lhs, env), self.term(rhs, env)))
                    if t is None:
                        return None
                    conds.append(t)
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
                if self.domain in ("array", "object"):
                    return (self.domain, None)
                return (self.domain, self.x)
            case ir.Var(name=name) if name in env:
                return env[name]
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
                return (_NUMERIC, z3.ToReal(z3.IndexOf(es[0], es[1], 0)))
            case "count":
                if kinds == ["string"]:
                    return (_NUMERIC, z3.ToReal(z3.Length(es[0])))
                return None if kinds[0] in ("array", "object") else _UNDEF
            case "trim_prefix" | "trim_suffix":
                if kinds != ["string", "string"]:
                    return _UNDEF
                s, p = es
                n = z3.Length(p)
                if func == "trim_prefix":
                    return ("string", z3.If(z3.PrefixOf(p, s), z3.SubString(s, n, z3.Length(s) - n), s))
                return ("string", z3.If(z3.SuffixOf(p, s), z3.SubString(s, 0, z3.Length(s) - n), s))
            case "plus" | "minus" | "mul":
                if kinds != [_NUMERIC, _NUMERIC]:
                    return None if func == "minus" and "array" in kinds else _UNDEF
                a, b = es
                return (_NUMERIC, a + b if func == "plus" else a - b if func == "minus" else a * b)
            case "abs":
                if kinds != [_NUMERIC]:
                    return _UNDEF
                return (_NUMERIC, z3.If(es[0] >= 0, es[0], -es[0]))
        return None

    def _join(self, func: str, args, env: dict):
        head = self.term(args[0], env)
        items = [self.term(i, env) for i in args[1].items]
        if head is None or any(i is None for i in items):
            return None
        if head is _UNDEF or any(i is _UNDEF for i in items):
            return _UNDEF
        if head[0] != "string" or any(i[0] != "string" for i in items):
            return None  # numbers formatted by `sprintf`, type errors of `concat`: not encoded
        parts = [i[1] for i in items]
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
        if ka in ("array", "object"):
            return None
        if ka == "boolean" and (isinstance(ea, bool) or isinstance(eb, bool)):
            if isinstance(ea, bool) and isinstance(eb, bool):
                return ("boolean", ea == eb)
            return None
        return ("boolean", ea == eb)

    def _order(self, func: str, vals):
        (ka, ea), (kb, eb) = vals
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


def _or(es: list):
    if any(e is True for e in es):
        return True
    es = [e for e in es if e is not False]
    return z3.Or(*es) if es else False
