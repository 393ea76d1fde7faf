"""Atoms as z3 formulas: the encoding `policydiff.solver` enumerates combinations with.

An `Encoder` turns the tests of `policydiff.atoms` on one value `x` of one JSON type
(and, for a relation, a second value `y`) into formulas of z3's theories of strings and
real arithmetic: comparisons, arithmetic, the string builtins (`concat`, `sprintf` with
`%s`, `substring`, `indexof`, `trim*`, `split` members, `count`), membership in
constant collections, string patterns, and `regex.match` for a subset of RE2's syntax
(`_RegexParser`). A builtin's type error makes the expression undefined, as in OPA's
default mode; a construct outside the encoding is None, and the solver then searches
for witnesses instead of proving.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import z3

from policydiff import ir
from policydiff.atoms import OTHER, VALUE, Atom

NUMERIC = "number"
# the order of JSON types, as OPA compares values of different types
RANK = {"null": 0, "boolean": 1, NUMERIC: 2, "string": 3, "array": 4, "object": 5}

_UNDEF = ("undefined",)


class Encoder:
    """Atoms as z3 formulas over the value `x` of one JSON type. A value is a pair
    (kind, z3 term) with kind a JSON type name; `_UNDEF` is an undefined expression
    (a builtin's type error); None means the construct is not encoded."""

    def __init__(self, domain: str, other: str | None = None, *, names: tuple[str, str] = ("x", "y")):
        # `names`: the z3 constants of the two values, so that the formulas of several
        # encoders share them (`policydiff.relations` relates up to four values)
        self.domain = domain
        self.base: list = []  # constraints every value of the type meets
        if domain == "string":
            self.x = z3.String(names[0])
        elif domain == NUMERIC:
            self.x = z3.Real(names[0])
        else:  # an array or object, known by its number of members
            self.x = z3.Int("n" if names[0] == "x" else f"n_{names[0]}")
            self.base.append(self.x >= 0)
        # the second value of a relation (`input.y`): a string or a number
        self.other = other
        self.y = None if other is None else z3.String(names[1]) if other == "string" else z3.Real(names[1])
        self.side: list = []  # what the current literal needs to be defined
        # the policy's rules and functions an atom reads, by name (`Atom.functions`)
        self.fns: dict[str, list[ir.Rule]] = {}
        self._fresh = 0
        self._tag = "" if names == ("x", "y") else f"_{names[0]}_{names[1]}_"

    def fresh(self):
        self._fresh += 1
        return z3.String(f"s{self._tag}{self._fresh}")

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
        fns: dict[str, list[ir.Rule]] = {}
        for r in atom.functions:
            fns.setdefault(r.name, []).append(r)
        self.fns = fns
        return self._body(atom.body, {}, fns, atom=True)

    def _body(self, body: tuple[ir.Literal, ...], env: dict, fns: dict, *, atom: bool = False):
        """The truth of a conjunction of literals (an atom's body, or a function clause's
        with its parameter in `env`)."""
        conds: list = []
        for lit in body:
            if conds and conds[-1] is False:
                return False  # a conjunction: what follows a false literal does not matter
            self.side = []
            match lit:
                case ir.Assign(lhs=ir.Var(name=name), rhs=rhs) if not atom or lit is not body[-1]:
                    v = self.term(rhs, env)
                    if v is None:
                        return None
                    if v is _UNDEF:
                        return False
                    env[name] = v
                    conds += self.side
                case ir.Expr(term=ir.Call(func=func, args=args), negated=neg) \
                        if func in fns and fns[func][0].kind == "function":
                    t = self._function(fns[func], args, env)
                    if t is None:
                        return None
                    conds.append(_not(t) if neg else t)
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

    def _function(self, clauses: list[ir.Rule], args: tuple, env: dict):
        """`f(args)` as a test, `f` a policy function reading nothing but its parameters
        (`policydiff.atoms`): defined when the arguments are, and true when the first
        clause of an `else` chain whose body holds gives a value other than `false`."""
        vals = [self.term(a, env) for a in args]
        if any(v is None for v in vals):
            return None
        if any(v is _UNDEF for v in vals):
            return False
        side = self.side
        branches = self._branches(clauses, vals)
        if branches is None:
            return None
        holds, before = [], []
        for cond, (kind, v) in branches:
            holds.append(_and(before + [cond, v if kind == "boolean" else True]))
            before.append(_not(cond))
        self.side = side
        return _and(side + [_or(holds)])

    def _is_rule(self, name: str) -> bool:
        return name in self.fns and self.fns[name][0].kind == "complete"

    def _is_function(self, name: str) -> bool:
        return name in self.fns and self.fns[name][0].kind == "function"

    def _branches(self, rules: list[ir.Rule], args: list | None = None):
        """The clauses of a rule derived from the value, or of a function called with the
        encoded `args`, as (condition, value) in the order they are tried: each clause of
        an `else` chain where its body holds and its value is defined, then the default.
        None when a part is not encoded, or when a function has several definitions of
        different values (they could conflict, an error no formula stands for)."""
        if args is not None and may_conflict(rules):
            return None
        side = self.side
        branches = []
        default = None
        for r in rules:
            if r.default:
                default = self.term(r.value, {})
                if default is None:
                    return None
                continue
            params = r.args  # an `else` takes its head's parameters
            while r is not None:
                env: dict = {}
                bound = [] if args is None else self._bind(r.args or params, args, env)
                if bound is None:
                    return None
                body = self._body(r.body, env, self.fns)
                if body is None:
                    return None
                cond = _and(bound + [body])
                if cond is False:  # never tried: its value need not be encoded
                    r = r.else_
                    continue
                self.side = []
                v = self.term(r.value if r.value is not None else ir.Scalar(value=True), env)
                if v is None:
                    return None
                if v is not _UNDEF:
                    branches.append((_and([cond] + self.side), v))
                r = r.else_
        self.side = side
        if default is not None and default is not _UNDEF:
            branches.append((True, default))
        return branches

    def _bind(self, params: tuple, args: list, env: dict) -> list | None:
        """Bind a function clause's parameters to the arguments' values in `env`: the
        conditions a constant or repeated parameter puts on them, None when one is not
        encoded."""
        if len(params) != len(args):
            return None
        conds = []
        for p, a in zip(params, args):
            if isinstance(p, ir.Var) and p.name == "_":
                continue
            if isinstance(p, ir.Var) and p.name not in env:
                env[p.name] = a
                continue
            if not isinstance(p, (ir.Var, ir.Scalar)):
                return None
            t = self._truth(self._equal(a, env[p.name] if isinstance(p, ir.Var) else self.term(p, env)))
            if t is None:
                return None
            conds.append(t)
        return conds

    def _rule_value(self, rules: list[ir.Rule], args: list | None = None):
        """The value of a rule derived from the value (`policydiff.atoms`), or of a function
        called with `args`: the first clause of its `else` chain whose body holds and
        whose value is defined, else its default, else undefined (the definedness goes
        to `side`)."""
        if args is not None:
            if any(v is None for v in args):
                return None
            if any(v is _UNDEF for v in args):
                return _UNDEF
        branches = self._branches(rules, args)
        if branches is None:
            return None
        if not branches:
            return _UNDEF
        if len(branches) == 1:
            cond, v = branches[0]
            self.side.append(cond)
            return v
        kinds = {v[0] for _, v in branches}
        if len(kinds) != 1 or kinds & {"null", "split"}:
            return None  # a value of another type in each clause: not encoded
        (kind,) = kinds
        # a fresh value each clause defines where it is the one tried (implications: the
        # string solver does far better with them than with `If` under a regular expression)
        self._fresh += 1
        name = f"r{self._tag}{self._fresh}"
        value = {"string": z3.String, NUMERIC: z3.Real, "boolean": z3.Bool}.get(kind, z3.Int)(name)
        before: list = []
        for cond, v in branches:
            self.base.append(z3.Implies(_z3(_and(before + [cond])), value == _z3(v[1])))
            before.append(_not(cond))
        self.side.append(_or([c for c, _ in branches]))
        return (kind, value)

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
            case ir.Var(name=name) if self._is_rule(name):
                return self._rule_value(self.fns[name])
            case ir.Ref(head=ir.Var(name=name), path=(ir.Scalar(value=int() as i),)) if self._is_rule(name):
                return self._index(self._rule_value(self.fns[name]), i)
            case ir.Call(func=func, args=args):
                return self._call(func, args, env)
        return None

    def _call(self, func: str, args, env: dict):
        if self._is_function(func):
            return self._rule_value(self.fns[func], [self.term(a, env) for a in args])
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
                if length < 0 and start > 0:
                    # the rest after `start` characters, as a fresh string the value is
                    # that prefix and it (the string solver decides `s == p ++ r` far
                    # better than `substr` under a regular expression)
                    pre, rest = self.fresh(), self.fresh()
                    self.base.append(z3.If(z3.Length(es[0]) >= start,
                                           z3.And(es[0] == z3.Concat(pre, rest), z3.Length(pre) == start),
                                           rest == z3.StringVal("")))
                    return ("string", rest)
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
            less = RANK[ka] < RANK[kb]
            return ("boolean", less if func in ("lt", "lte") else not less)
        if ka in ("null", "boolean", "array", "object"):
            return None
        op = {"lt": lambda: ea < eb, "lte": lambda: ea <= eb, "gt": lambda: ea > eb,
              "gte": lambda: ea >= eb}[func]
        return ("boolean", op())


def may_conflict(rules: Sequence[ir.Rule]) -> bool:
    """Whether a function's definitions may give two values for one argument: several
    definitions, not all of one constant value (`f(x) := 1 if x > 2; f(x) := 2 if x > 3`
    fails with a conflict on 4)."""
    heads = [r for r in rules if not r.default]
    if len(heads) < 2:
        return False
    values = {_constant(r.value) for h in heads for r in _else_chain(h)}
    return len(values) != 1 or None in values


def _else_chain(rule: ir.Rule | None):
    while rule is not None:
        yield rule
        rule = rule.else_


def _constant(value: Any) -> tuple | None:
    """A clause's value when it is a constant scalar (`true` when it has none), told
    apart by type (`1` is not `true`); None otherwise."""
    if value is None:
        return ("bool", True)
    if isinstance(value, ir.Scalar):
        return (type(value.value).__name__, value.value)
    return None


def _z3(e):
    return z3.BoolVal(e) if isinstance(e, bool) else e


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
