"""Name resolution: the first pass over the IR of a whole policy.

Groups the rules of every module by their full path (`data.<package>.<name>`), checks
that the definitions of one name agree in kind and arity, and rewrites every rule so
that later passes never look at names again: a variable that names a rule of the
package or an import becomes a `data`/`input` reference, every `_` becomes a fresh
variable, and function calls carry the full path of a user function or the name of a
known builtin. A call of a name OPA does not know is an undefined function, as OPA
reports it; calls of OPA builtins outside the subset are refused as `unsupported`,
unless a `with` of the policy replaces that builtin (`with time.now_ns as 1`): then the
call is kept, and `closures` makes it look for the replacement and, where an evaluation
reaches it without one, stop with `unsupported` naming the builtin (see `resolve`).
"""

from __future__ import annotations

import contextlib
import itertools
from typing import assert_never

from policydiff import ir
from policydiff.compile.builtins import (
    BUILTINS,
    OUT_OF_SCOPE,
    Unsupported,
    glob_regex,
    regex_problem,
)
from policydiff.compile.builtins.opa_builtins import OPA_ARITY, OPA_DEPRECATED
from policydiff.compile.plan import RELATION_OUTPUT, with_targets
from policydiff.compile.plan import term_vars as plan_vars
from policydiff.compile.types import OPA_BUILTINS
from policydiff.errors import Code, Diagnostic
from policydiff.source import Span

ROOTS = ("input", "data")
DEPRECATED = "deprecated built-in function calls in expression"  # (the message of OPA's check)



# OPA's names of the kinds of terms, as its errors print them
_TYPE_NAMES = {
    ir.Scalar: lambda t: "number" if t.text is not None or type(t.value) in (int, float)
    else "boolean" if type(t.value) is bool else "string" if type(t.value) is str else "null",
    ir.Ref: lambda t: "ref", ir.Call: lambda t: "call", ir.Set: lambda t: "set",
    ir.ArrayCompr: lambda t: "arraycomprehension", ir.SetCompr: lambda t: "setcomprehension",
    ir.ObjectCompr: lambda t: "objectcomprehension",
}

class Group:
    """Every definition of one rule path, in source order."""

    def __init__(self, path: tuple[str, ...], kind: str):
        self.path = path
        self.kind = kind
        self.defs: list[ir.Rule] = []
        self.default: ir.Rule | None = None
        self.arity = -1

    @property
    def name(self) -> str:
        return "data." + ".".join(self.path)


VAR = object()  # a position of a reference head only evaluation knows


class Member:
    """One part of a `TreeGroup`: a general reference-head rule, or the group of a
    plain rule below the tree's root. `pattern` is its path below the root, a constant
    per position or `VAR`; `shape` says what it puts there: a `value`, or the members
    of a `set`."""

    __slots__ = ("group", "node", "pattern", "rule", "shape", "span")

    def __init__(self, pattern: tuple, shape: str, node: int, rule: ir.Rule | None = None,
                 group: Group | None = None):
        self.pattern = pattern
        self.shape = shape
        self.node = node  # how many leading positions are OPA's rule-tree node (the ground prefix)
        self.rule = rule
        self.group = group
        self.span = rule.span if rule is not None else (group.defs or [group.default])[0].span

    @property
    def rules(self) -> list[ir.Rule]:
        return [self.rule] if self.rule is not None else self.group.defs


class TreeGroup(Group):
    """The rules below a path where a rule head has a variable (`roles[t][u] := true`,
    a partial object `p[k] := v`): their value is one object, built from every solution
    of every member, as OPA's general reference heads have it."""

    def __init__(self, path: tuple[str, ...], members: list[Member]):
        super().__init__(path, "tree")
        self.members = members
        self.defs = [r for m in members for r in m.rules]


def resolve(modules: list[ir.Module], rules: list[ir.Rule] | None = None
            ) -> tuple[dict[tuple[str, ...], Group], list[Diagnostic]]:
    """Group and rewrite the rules of `modules`; returns the groups and any diagnostics.
    Given `rules`, every rule rewritten is added to it, those a conflict keeps out of
    the groups included."""
    diags: list[Diagnostic] = root_overrides(modules)
    groups: dict[tuple[str, ...], Group] = {}
    if diags:  # OPA's first stage: it stops there, and nothing after it would read right
        return groups, diags
    general: list[tuple[tuple[str, ...], ir.Rule]] = []
    first = first_rules(modules)
    packages: dict[int, Span | None] = {}  # the package declaration of each first default rule
    for m in modules:
        for r in m.rules:
            path = m.package + tuple(r.name.split("."))  # `a.b.c` for a ref head
            if r.ref:
                general.append((path, r))
                continue
            g = groups.get(path)
            if g is None:
                g = groups[path] = Group(path, r.kind)
            if g.kind != r.kind:
                diags.append(Diagnostic(code=Code.REGO_TYPE_ERROR,
                                        message=f"conflicting rules `{g.name}` found", span=first[path]))
                continue
            if r.kind == "function":
                if g.arity not in (-1, len(r.args)):
                    diags.append(Diagnostic(code=Code.REGO_TYPE_ERROR,
                                            message=f"conflicting rules `{g.name}` found: a function of "
                                                    f"{g.arity} and one of {len(r.args)} arguments",
                                            span=first[path]))
                    continue
                g.arity = len(r.args)
            if r.default:
                if g.default is not None:  # OPA reports it at the package of the first
                    diags.append(Diagnostic(code=Code.REGO_TYPE_ERROR,
                                            message=f"multiple default rules `{g.name}` found (at "
                                                    f"{g.default.span} and {r.span})",
                                            span=packages.get(id(g.default)) or r.span))
                else:
                    packages[id(r)] = m.package_span if m.package_span.line else None
                g.default = r
            else:
                g.defs.append(r)
    heads: dict[tuple[str, ...], set[str]] = {}
    for m in modules:
        heads.setdefault(m.package, set()).update(r.name.split(".")[0] for r in m.rules)
    guarded: list[tuple[str, Diagnostic]] = []
    for m in modules:
        names = Names(m, groups, diags, heads[m.package], guarded=guarded)
        rewritten: dict[int, ir.Rule] = {}
        for r in m.rules:
            rewritten[id(r)] = names.rule(r)
        if rules is not None:
            rules.extend(rewritten.values())
        for g in groups.values():
            g.defs = [rewritten.get(id(r), r) for r in g.defs]
            if g.default is not None:
                g.default = rewritten.get(id(g.default), g.default)
        general = [(path, rewritten.get(id(r), r)) for path, r in general]
    _plant_trees(groups, general, diags, first)
    diags.extend(_rules_below_rules(groups, first))
    # A builtin outside the subset that some `with` of the policy replaces is kept: OPA
    # evaluates it under that `with` without the clock, network or environment. Proving
    # that every path to a call runs under such a `with` is not attempted; the call
    # itself refuses at evaluation when reached without a replacement (`closures`), so
    # no answer ever comes from the real builtin. The targets are the ones `Program`
    # installs replacements for (`Program.mocked`), computed the same way.
    replaced = {t[1] for g in groups.values() for t in with_targets(g.defs) if t[0] == "fn"}
    kept = {id(d) for name, d in guarded if name in replaced}
    return groups, [d for d in diags if id(d) not in kept] if kept else diags


def first_rules(modules: list[ir.Module]) -> dict[tuple[str, ...], Span]:
    """The span of the first rule at each node of OPA's rule tree (the ground prefix of
    a rule's path: `a` for `a[x].c`), where OPA reports a conflict among the rules at
    that node or below it. OPA orders its modules by name, then each by position."""
    out: dict[tuple[str, ...], Span] = {}
    for m in modules:
        for r in m.rules:
            path = m.package + tuple(r.name.split("."))
            for t in r.ref:
                if not isinstance(t, ir.Scalar):
                    break
                path += (t.value,)
            if path not in out or _position(r.span) < _position(out[path]):
                out[path] = r.span
    return out


def _position(span: Span) -> tuple:
    return span.file, span.line, span.col


def root_overrides(modules: list[ir.Module]) -> list[Diagnostic]:
    """OPA's first check: a rule named `data` or `input`, a function parameter holding
    a variable of that name, and `data := …` or `input := …` anywhere (comprehensions
    and `every` bodies included) are compile errors, before any other."""
    diags: list[Diagnostic] = []

    def args(t: ir.Term, span) -> None:
        match t:
            case ir.Var(name=name) if name in ROOTS:
                diags.append(Diagnostic(code=Code.REGO_COMPILE_ERROR, span=t.span or span,
                                        message=f"args must not shadow {name} (use a different variable name)"))
            case ir.Array(items=items) | ir.Set(items=items):
                for x in items:
                    args(x, span)
            case ir.Object(items=pairs):
                for k, v in pairs:
                    args(k, span)
                    args(v, span)

    def assigns(lits) -> None:  # by exact type: this walks every literal and term once
        for lit in lits:
            k = type(lit)
            if k is ir.Assign:
                if type(lit.lhs) is ir.Var and lit.lhs.name in ROOTS:
                    diags.append(Diagnostic(code=Code.REGO_COMPILE_ERROR, span=lit.span,
                                            message=f"variables must not shadow {lit.lhs.name} "
                                                    f"(use a different variable name)"))
                terms(lit.lhs)
                terms(lit.rhs)
            elif k is ir.Expr:
                terms(lit.term)
            elif k is ir.Unify:
                terms(lit.lhs)
                terms(lit.rhs)
            elif k is ir.SomeIn:
                terms(lit.collection)
            elif k is ir.Every:
                terms(lit.domain)
                assigns(lit.body)
            elif k is ir.With:
                assigns((lit.literal,))
                for v in lit.values:
                    terms(v)

    def terms(t) -> None:  # only comprehensions hold literals
        k = type(t)
        if k is ir.Scalar or k is ir.Var or t is None:
            return
        if k is ir.Ref:
            for x in t.path:
                terms(x)
        elif k is ir.Call or k is ir.Array or k is ir.Set:
            for x in (t.args if k is ir.Call else t.items):
                terms(x)
        elif k is ir.Object:
            for a, b in t.items:
                terms(a)
                terms(b)
        elif k is ir.ObjectCompr:
            terms(t.key)
            terms(t.value)
            assigns(t.body)
        elif k is ir.ArrayCompr or k is ir.SetCompr:
            terms(t.term)
            assigns(t.body)

    for m in modules:
        for r in m.rules:
            root = r.name.split(".")[0]
            if root in ROOTS:
                diags.append(Diagnostic(code=Code.REGO_COMPILE_ERROR, span=r.span,
                                        message=f"rules must not shadow {root} (use a different rule name)"))
            for a in r.args:
                args(a, r.span)
            e = r
            while e is not None:
                assigns(e.body)
                for t in (*e.ref, e.key, e.value):
                    terms(t)
                e = e.else_
    return diags


def _unshadowed(t: ir.Term) -> ir.Term:
    """`t` with each variable named `data` or `input` renamed to a local of its own."""
    match t:
        case ir.Var(name="data" | "input" as name):
            return ir.Var(span=t.span, name=f"{name}~shadow")
        case ir.Array(items=items):
            return ir.Array(span=t.span, items=tuple(map(_unshadowed, items)))
        case ir.Object(items=pairs):
            return ir.Object(span=t.span, items=tuple((k, _unshadowed(v)) for k, v in pairs))
    return t


def _rules_below_rules(groups: dict[tuple[str, ...], Group], first: dict[tuple[str, ...], Span]) -> list[Diagnostic]:
    """A rule at a path other rules (or a package's) go below, each group already planted:
    OPA finds these conflicts with the others, before undefined functions and safety,
    and reports them at the first rule of the upper path (`Program` would find them too,
    later)."""
    out = []
    paths = sorted(groups)
    for path, below in itertools.pairwise(paths):  # sorted: the paths below one follow it
        if len(below) > len(path) and below[:len(path)] == path:
            out.append(Diagnostic(code=Code.REGO_TYPE_ERROR, span=first.get(path, Span()),
                                  message=f"rule `{groups[path].name}` conflicts with the rules below it "
                                          f"(`{groups[below].name}`)"))
    return out


def _refs_in(t: ir.Term) -> list[ir.Ref]:
    """The references with a variable head in a function parameter's pattern."""
    match t:
        case ir.Ref(head=ir.Var()):
            return [t]
        case ir.Array(items=items) | ir.Set(items=items):
            return [r for x in items for r in _refs_in(x)]
        case ir.Object(items=pairs):
            return [r for k, v in pairs for x in (k, v) for r in _refs_in(x)]
    return []


def _plant_trees(groups: dict[tuple[str, ...], Group], general: list[tuple[tuple[str, ...], ir.Rule]],
                 diags: list[Diagnostic], first: dict[tuple[str, ...], Span]) -> None:
    """Gather the rules below each path where a head has a variable (partial objects
    included) into one `TreeGroup` there, with OPA's compile-time conflicts: a single-value and a
    multi-value rule at one rule-tree node, a rule at a path other rules' heads go
    below, a function below such a path."""
    # `p[k] := v` is a head with a variable too: as OPA, a lookup `p.a` meets only the
    # solutions with key "a" (a conflict or error at another key does not show)
    for path, g in list(groups.items()):
        if g.kind == "partial_object":
            del groups[path]
            general += [(path, ir.Rule(span=r.span, kind="complete", name=r.name, ref=(r.key,), body=r.body,
                                       value=r.value)) for r in g.defs]
    candidates = {path for path, _ in general}
    roots = {c for c in candidates if not any(c[:n] in candidates for n in range(1, len(c)))}

    def root_of(path: tuple[str, ...]) -> tuple[str, ...] | None:
        return next((path[:n] for n in range(1, len(path) + 1) if path[:n] in roots), None)

    trees: dict[tuple[str, ...], list[Member]] = {root: [] for root in sorted(roots)}
    for path, r in general:
        root = root_of(path)
        sub = path[len(root):]
        lead = 0
        while lead < len(r.ref) and isinstance(r.ref[lead], ir.Scalar):
            lead += 1
        pattern = sub + tuple(t.value if isinstance(t, ir.Scalar) else VAR for t in r.ref)
        trees[root].append(Member(pattern, "set" if r.kind == "partial_set" else "value", len(sub) + lead, rule=r))
    for path in list(groups):
        root = root_of(path)
        if root is None:
            continue
        g = groups.pop(path)
        sub = path[len(root):]
        if g.kind == "function" or not sub:
            # OPA reports a rule at the tree's root at the first rule there; a function
            # below a rule with a variable at that rule, unless rules go below the function
            # too (then at the function's first)
            below = [pos for pos in first if len(pos) > len(path) and pos[:len(path)] == path]
            span = first[path] if not sub or below else min(
                (r.span for p, r in general if path[:len(p)] == p), key=_position, default=first[path])
            diags.append(Diagnostic(code=Code.REGO_TYPE_ERROR, span=span,
                                    message=f"conflicting rules `{g.name}` found: rules with a "
                                            f"variable in their head go below `data.{'.'.join(root)}`"))
            continue
        trees[root].append(Member(sub, "set" if g.kind == "partial_set" else "value", len(sub), group=g))
        # OPA 1.20 leaves out a `default` whose path is inside a tree (p.a is undefined
        # next to `default p.a := 5` and `p[x] := …`), though the rule still conflicts
        # with rules below it: so does policydiff
        g.default = None
    for root, members in trees.items():
        diags.extend(_tree_conflicts(root, members, first))
        groups[root] = TreeGroup(root, members)


def _tree_conflicts(root: tuple[str, ...], members: list[Member],
                    first: dict[tuple[str, ...], Span]) -> list[Diagnostic]:
    """Conflicts among the rules of one tree, each reported where OPA reports it: at the
    first rule of the rule-tree node the conflict is found at (`first`)."""
    out: list[Diagnostic] = []
    where = "data." + ".".join(root)
    for i, a in enumerate(members):
        for b in members[i + 1:]:
            same_node = a.node == b.node and a.pattern[:a.node] == b.pattern[:b.node]
            if same_node and (a.shape == "set") != (b.shape == "set"):
                out.append(Diagnostic(code=Code.REGO_TYPE_ERROR, span=first.get(root + a.pattern[:a.node], b.span),
                                      message=f"conflicting rules at `{where}` found: a multi-value and "
                                              f"a single-value rule with the same head"))
                continue
            below = [(x, y) for x, y in ((a, b), (b, a))  # a rule with no variable, and a rule below it
                     if VAR not in x.pattern and len(y.pattern) > len(x.pattern)
                     and _may_meet(y.pattern[:len(x.pattern)], x.pattern) and VAR not in y.pattern[:len(x.pattern)]]
            for x, y in below:
                out.append(Diagnostic(code=Code.REGO_TYPE_ERROR, span=first.get(root + x.pattern, y.span),
                                      message=f"rule `{where}.{'.'.join(map(str, x.pattern))}` conflicts "
                                              f"with a rule below it"))
    return out


def _may_meet(p: tuple, q: tuple) -> bool:
    return all(x is VAR or y is VAR or (x == y and (type(x) is bool) == (type(y) is bool)) for x, y in zip(p, q))


class Names:
    """Resolves the names of one module's rules against every group (`compile.Query`
    resolves a query's body as a rule of its module through it)."""

    def __init__(self, module: ir.Module, groups: dict, diags: list[Diagnostic],
                 local_rules: set[str] | None = None, guarded: list | None = None):
        self.package = module.package
        self.diags = diags
        # `(builtin, diagnostic)` for calls of builtins outside the subset: `resolve`
        # drops the diagnostic when a `with` of the policy replaces the builtin
        self.guarded = guarded
        self.groups = groups
        self.local_rules = local_rules if local_rules is not None else {r.name.split(".")[0] for r in module.rules}
        self.imports: dict[str, tuple[str, ...]] = {}
        # `import future.keywords(.not)`: `not` negates its whole expression, calls and
        # references included, where it otherwise leaves them outside (see `_not_body`)
        self.not_body = any(imp.path in (("future", "keywords"), ("future", "keywords", "not"))
                            for imp in module.imports)
        for imp in module.imports:
            if imp.path[0] in ("rego", "future"):
                continue
            alias = imp.alias or imp.path[-1]
            self.imports[alias] = imp.path
        self.fresh = itertools.count()
        self.declared: set[str] = set()
        self.renames: dict[str, str] = {}
        self.pending: set[str] = set()  # declared further down the rule body being resolved

    # ---- rules and bodies

    def rule(self, r: ir.Rule) -> ir.Rule:
        for a in r.args:  # a reference in a parameter is no pattern: OPA finds its head unsafe
            for ref in _refs_in(a):
                self.diags.append(Diagnostic(code=Code.REGO_UNSAFE_VAR_ERROR, span=ref.span or r.span,
                                             message=f"var `{ref.head.name}` is unsafe"))
        self.declared = set()
        for a in r.args:
            self.declared |= _pattern_vars(a)
        self.declared |= _declared_here(r.body)  # nested bodies get their own scope
        e = r.else_
        while e is not None:
            self.declared |= _declared_here(e.body)
            e = e.else_
        return self._rule(r)

    def _rule(self, r: ir.Rule) -> ir.Rule:
        return ir.Rule(
            span=r.span, kind=r.kind, name=r.name, default=r.default,
            ref=tuple(self.term(t) for t in r.ref),
            body=self.rule_body(r.body),
            key=self.term(r.key) if r.key is not None else None,
            value=self.term(r.value) if r.value is not None else None,
            args=tuple(self.term(a) for a in r.args),
            else_=self._rule(r.else_) if r.else_ is not None else None,
        )

    def body(self, body: tuple[ir.Literal, ...]) -> tuple[ir.Literal, ...]:
        return tuple(self.literal(lit) for lit in body)

    def rule_body(self, body: tuple[ir.Literal, ...]) -> tuple[ir.Literal, ...]:
        """A rule's body. A variable it declares (`x := …`, `some x`) is its own from
        that literal on: a comprehension before it that uses `x` has an `x` of its own,
        as OPA renames declared variables (`y := {x | xs[x]}; x := count(y)`)."""
        out = []
        self.pending = _declared_here(body)
        try:
            for lit in body:
                if self.pending:  # nothing left to declare: nothing to take off
                    self.pending -= _declared_here((lit,))
                out.append(self.literal(lit))
        finally:
            self.pending = set()
        return tuple(out)

    def literal(self, lit: ir.Literal) -> ir.Literal:
        out = self._literal(lit)
        if self.not_body and isinstance(out, ir.Expr) and out.negated:
            return _not_body(out)
        return out

    def _literal(self, lit: ir.Literal) -> ir.Literal:
        match lit:
            case ir.Expr(term=ir.Call(func=func, args=args), negated=negated) \
                    if self._arity(func) == len(args) - 1:
                # `f(x, y)` with one argument more than `f` takes: the last is its output
                call = ir.Call(span=lit.term.span, func=func, args=args[:-1])
                out, value = self.term(args[-1]), self.term(call)
                if negated:
                    unify = ir.Call(span=lit.term.span, func="internal.unify", args=(out, value))
                    return ir.Expr(span=lit.span, term=unify, negated=True)
                return ir.Unify(span=lit.span, lhs=out, rhs=value)
            case ir.Expr():
                return ir.Expr(span=lit.span, term=self.term(lit.term), negated=lit.negated)
            case ir.Assign():
                self._assignable(lit.lhs)
                # a local named `data` or `input` inside the pattern is refused as unsupported
                # (`_assignable`); read as a local meanwhile, not as the document (which
                # would make the rule read itself: a recursion OPA does not report)
                lhs = _unshadowed(lit.lhs) if isinstance(lit.lhs, (ir.Array, ir.Object)) else lit.lhs
                return ir.Assign(span=lit.span, lhs=self.term(lhs), rhs=self.term(lit.rhs))
            case ir.Unify():
                return ir.Unify(span=lit.span, lhs=self.term(lit.lhs), rhs=self.term(lit.rhs))
            case ir.Some():
                return ir.Some(span=lit.span, vars=tuple(self.renames.get(v, v) for v in lit.vars))
            case ir.SomeIn():
                return ir.SomeIn(span=lit.span, key=self.term(lit.key) if lit.key is not None else None,
                                 value=self.term(lit.value), collection=self.term(lit.collection))
            case ir.With():
                return self._with(lit)
            case ir.Every():
                domain = self.term(lit.domain)
                with self._scope():
                    self._declare({v for v in (lit.key, lit.value) if v and v != "_"})
                    key = self._fresh() if lit.key == "_" else self.renames.get(lit.key, lit.key)
                    value = self._fresh() if lit.value == "_" else self.renames[lit.value]
                    body = self.nested_body(lit.body)
                return ir.Every(span=lit.span, key=key, value=value, domain=domain, body=body)
        assert_never(lit)

    def _assignable(self, t: ir.Term, top: bool = True, seen: set | None = None) -> None:
        """`:=` assigns to variables, in arrays and in object values (keys are matched):
        anything else there is OPA's `cannot assign to …`, a variable twice its
        `assigned above`."""
        seen = set() if seen is None else seen
        match t:
            case ir.Var(name="input" | "data" as root):
                if top:
                    self.diags.append(Diagnostic(code=Code.REGO_COMPILE_ERROR, span=t.span,
                                                 message=f"variables must not shadow {root} (use a different variable name)"))
                else:  # OPA declares a local of that name, which policydiff would read as the document
                    self.diags.append(Diagnostic(code=Code.UNSUPPORTED, span=t.span,
                                                 message=f"a variable named `{root}` that shadows the {root} document"))
                return
            case ir.Var(name=name):
                if name in seen and name != "_":
                    self.diags.append(Diagnostic(code=Code.REGO_COMPILE_ERROR, span=t.span,
                                                 message=f"var `{name}` assigned above"))
                seen.add(name)
                return
            case ir.Array(items=items):
                for x in items:
                    self._assignable(x, False, seen)
                return
            case ir.Object(items=pairs):
                for _, v in pairs:
                    self._assignable(v, False, seen)
                return
        self.diags.append(Diagnostic(code=Code.REGO_COMPILE_ERROR, span=t.span,
                                     message=f"cannot assign to {_TYPE_NAMES[type(t)](t)}"))

    def _with(self, lit: ir.With) -> ir.With:
        """Targets as `("input", …)`, `("data", …)` or `("fn", full name)`; a value that
        names a function or builtin replacing a function becomes a replacement."""
        targets, values, reps = [], [], []
        where = lit.where or (lit.span,) * len(lit.targets)
        for path, value, span in zip(lit.targets, lit.values, where):
            target = self._with_target(path, span)
            rep = self._function_named(value) if target[0] == "fn" else None
            if rep is not None and not rep.startswith("data.") and rep not in BUILTINS:
                self.diags.append(Diagnostic(code=Code.UNSUPPORTED, span=value.span,
                                             message=f"builtin `{rep}` is not supported"))
            targets.append(target)
            values.append(ir.Scalar(span=value.span, value=None) if rep else self.term(value))
            reps.append(rep)
        return ir.With(span=lit.span, literal=self.literal(lit.literal), targets=tuple(targets),
                       values=tuple(values), replacements=tuple(reps), where=lit.where)

    def _with_target(self, path: tuple[str, ...], span) -> tuple[str, ...]:
        if path[0] == "input" and path[0] not in self.renames:
            return path
        full = self._full_name(".".join(path))
        if full.startswith("data.") or path[0] == "data":
            g = self.groups.get(tuple(full.split(".")[1:]))
            if g is not None and g.kind == "function":
                return ("fn", full)
            return tuple(full.split("."))
        if full in OPA_ARITY:
            return ("fn", full)
        self.diags.append(Diagnostic(code=Code.REGO_COMPILE_ERROR, span=span,
                                     message=f"`with` target `{'.'.join(path)}` must reference input, data, "
                                             f"or a function"))
        return path

    def _function_named(self, t: ir.Term) -> str | None:
        """The function or builtin a `with` value names (`f`, `object.union_n`), if so."""
        path = None
        if isinstance(t, ir.Var):
            path = (t.name,)
        elif isinstance(t, ir.Ref) and isinstance(t.head, ir.Var) and all(
                isinstance(k, ir.Scalar) and isinstance(k.value, str) for k in t.path):
            path = (t.head.name,) + tuple(k.value for k in t.path)
        if path is None or path[0] in self.declared or path[0] in self.renames or path[0] in ROOTS[:1]:
            return None
        full = self._full_name(".".join(path))
        if full.startswith("data."):
            g = self.groups.get(tuple(full.split(".")[1:]))
            return full if g is not None and g.kind == "function" else None
        return full if full in OPA_ARITY else None

    # ---- terms

    def _fresh(self) -> str:
        return f"$_{next(self.fresh)}"

    @contextlib.contextmanager
    def _scope(self):
        """A nested body (comprehension, `every`): the variables it declares are its
        own, so they get names no enclosing variable has (`x~3`), as OPA's scoping;
        they are forgotten when the body ends."""
        saved = self.renames
        self.renames = dict(saved)
        for v in self.pending - saved.keys():  # declared later by the rule's body: not this one
            self.renames[v] = f"{v}~{next(self.fresh)}"
        try:
            yield
        finally:
            self.renames = saved

    def _declare(self, names) -> None:
        for v in names:
            if v != "_":
                self.renames[v] = f"{v}~{next(self.fresh)}"

    def nested_body(self, body: tuple[ir.Literal, ...]) -> tuple[ir.Literal, ...]:
        """A nested body, in order: a declaration takes effect from its literal on
        (what `x := …` or `some x in …` reads is still the enclosing `x`)."""
        out = []
        for lit in body:
            match lit:
                case ir.Assign(lhs=lhs, rhs=rhs):
                    # OPA reads the right before declaring: an `x` there is one above (in
                    # a rule's own body, `plan.redeclarations` finds it)
                    read = plan_vars(rhs, set(), deep=False)
                    for v in sorted(_pattern_vars(lhs) & read - {"_"}):
                        self.diags.append(Diagnostic(code=Code.REGO_COMPILE_ERROR, span=lit.span,
                                                     message=f"var `{v}` referenced above"))
                    rhs = self.term(rhs)
                    self._declare(_pattern_vars(lhs))
                    out.append(ir.Assign(span=lit.span, lhs=self.term(lhs), rhs=rhs))
                case ir.SomeIn(key=key, value=value, collection=coll):
                    # `some x in input[x]`: OPA reads a collection's `x` as the `x` above when
                    # there is one (a membership test) and as the declared one when not;
                    # which `x` is above in a nested body is not worked out here
                    declared = (_pattern_vars(key) if key is not None else set()) | _pattern_vars(value)
                    for v in sorted(declared & plan_vars(coll, set(), deep=False) - {"_"}):
                        self.diags.append(Diagnostic(
                            code=Code.UNSUPPORTED, span=lit.span,
                            message=f"`some … in` declaring `{v}` in a nested body over a collection that reads `{v}`"))
                    coll = self.term(coll)
                    self._declare((_pattern_vars(key) if key is not None else set()) | _pattern_vars(value))
                    out.append(ir.SomeIn(span=lit.span, key=self.term(key) if key is not None else None,
                                         value=self.term(value), collection=coll))
                case ir.Some(vars=vs):
                    self._declare(vs)
                    out.append(self.literal(lit))
                case _:
                    out.append(self.literal(lit))
        return tuple(out)

    def term(self, t: ir.Term) -> ir.Term:
        kind = type(t)
        if kind is ir.Scalar:  # the commonest terms first, without the match below
            return t
        if kind is ir.Ref:
            head = self.term(t.head)
            path = t.path
            if any(type(k) is not ir.Scalar for k in path):
                path = tuple(self.term(k) for k in path)
            if type(head) is ir.Ref:
                return ir.Ref(span=t.span, head=head.head, path=head.path + path)
            # a new node even when nothing changed: `typecheck` keys literal members by id
            return ir.Ref(span=t.span, head=head, path=path)
        if kind is ir.Var:
            return self._var(t)
        match t:
            case ir.Scalar():
                return t
            case ir.Var():
                return self._var(t)
            case ir.Ref():
                head = self.term(t.head)
                path = tuple(self.term(k) for k in t.path)
                if isinstance(head, ir.Ref):
                    return ir.Ref(span=t.span, head=head.head, path=head.path + path)
                return ir.Ref(span=t.span, head=head, path=path)
            case ir.Array():
                return ir.Array(span=t.span, items=tuple(self.term(x) for x in t.items))
            case ir.Set():
                return ir.Set(span=t.span, items=tuple(self.term(x) for x in t.items))
            case ir.Object():
                return ir.Object(span=t.span, items=tuple((self.term(k), self.term(v)) for k, v in t.items))
            case ir.ArrayCompr():
                with self._scope():  # the body first: the head reads what it declares
                    body = self.nested_body(t.body)
                    return ir.ArrayCompr(span=t.span, term=self.term(t.term), body=body)
            case ir.SetCompr():
                with self._scope():
                    body = self.nested_body(t.body)
                    return ir.SetCompr(span=t.span, term=self.term(t.term), body=body)
            case ir.ObjectCompr():
                with self._scope():
                    body = self.nested_body(t.body)
                    return ir.ObjectCompr(span=t.span, key=self.term(t.key), value=self.term(t.value),
                                          body=body)
            case ir.Call():
                call = ir.Call(span=t.span, func=self.function(t), args=tuple(self.term(a) for a in t.args))
                if call.func == "walk" and len(call.args) == 1:
                    # a relation: one solution per `[path, value]` of the document, as
                    # iterating the array of them all (`walk(x)[_]`)
                    output = f"{RELATION_OUTPUT}{next(self.fresh)}"
                    return ir.Ref(span=t.span, head=call, path=(ir.Var(span=t.span, name=output),))
                return call
        assert_never(t)

    def _var(self, t: ir.Var) -> ir.Term:
        name = t.name
        if name in self.renames:
            return ir.Var(span=t.span, name=self.renames[name])
        if name == "_":
            return ir.Var(span=t.span, name=self._fresh())
        if name in self.declared or name in ROOTS:
            return t
        if name in self.imports:
            path = self.imports[name]
            return _ref(t.span, path)
        if name in self.local_rules:
            return _ref(t.span, ("data",) + self.package + (name,))
        return t

    def _full_name(self, name: str) -> str:
        head, _, rest = name.partition(".")
        if head in self.imports and head not in self.declared:
            return ".".join(self.imports[head]) + ("." + rest if rest else "")
        if head in self.local_rules and head not in self.declared:
            return "data." + ".".join(self.package) + "." + name
        return name

    def _arity(self, name: str) -> int | None:
        full = self._full_name(name)
        if full.startswith("data."):
            g = self.groups.get(tuple(full.split(".")[1:]))
            return g.arity if g is not None and g.kind == "function" else None
        return BUILTINS[full][0] if full in BUILTINS else OPA_ARITY.get(full)

    def _constant_pattern(self, func: str, call: ir.Call) -> None:
        problem = _pattern_problem(func, call)
        if problem:
            self.diags.append(Diagnostic(code=Code.UNSUPPORTED, message=problem, span=call.span))

    def function(self, call: ir.Call) -> str:
        if call.func == "internal.unify":  # `not a = b`, as the frontend writes it
            return call.func
        full = self._full_name(call.func)
        if full.startswith("data."):
            path = tuple(full.split(".")[1:])
            g = self.groups.get(path)
            if g is None or g.kind != "function":
                what = "undefined function" if g is None else "not a function"
                self.diags.append(Diagnostic(code=Code.REGO_TYPE_ERROR, message=f"{what} `{full}`",
                                             span=call.span))
            elif g.arity != len(call.args):
                self.diags.append(Diagnostic(code=Code.REGO_TYPE_ERROR,
                                             message=f"`{full}` takes {g.arity} arguments, "
                                                     f"{len(call.args)} given", span=call.span))
            return full
        if full in OPA_DEPRECATED and self.package != ("$query",):
            arity = OPA_ARITY.get(full)
            if arity is not None and arity != len(call.args):  # OPA's arity check comes first
                self.diags.append(Diagnostic(code=Code.REGO_TYPE_ERROR,
                                             message=f"`{full}` takes {arity} arguments, "
                                                     f"{len(call.args)} given", span=call.span))
            else:
                self.diags.append(Diagnostic(code=Code.REGO_TYPE_ERROR, span=call.span,
                                             message=f"{DEPRECATED}: {full}"))
            return full
        if full in BUILTINS:
            arity = BUILTINS[full][0]
            if arity != len(call.args):
                self.diags.append(Diagnostic(code=Code.REGO_TYPE_ERROR,
                                             message=f"`{full}` takes {arity} arguments, "
                                                     f"{len(call.args)} given", span=call.span))
            self._constant_pattern(full, call)
            return full
        if full not in OPA_BUILTINS:
            self.diags.append(Diagnostic(code=Code.REGO_TYPE_ERROR, message=f"undefined function `{full}`",
                                         span=call.span))
            return full
        why = (f"its answer depends on {OUT_OF_SCOPE[full]}" if full in OUT_OF_SCOPE
               else "it is not implemented (yet)")
        d = Diagnostic(code=Code.UNSUPPORTED, message=f"builtin `{full}` is not supported",
                       span=call.span, help=f"policydiff cannot compare it: {why}")
        self.diags.append(d)
        if self.guarded is not None and full in OUT_OF_SCOPE:
            self.guarded.append((full, d))
        return full


def _not_body(lit: ir.Expr) -> ir.Expr:
    """`not e` under `future.keywords.not`, where an undefined call or reference inside
    `e` makes the negation hold: `count({true | e}) == 0`, which keeps all of `e` inside."""
    s = lit.term.span
    match lit.term:
        case ir.Call(func="internal.unify", args=(lhs, rhs)):
            inner: ir.Literal = ir.Unify(span=lit.span, lhs=lhs, rhs=rhs)
        case term:
            inner = ir.Expr(span=lit.span, term=term)
    found = ir.SetCompr(span=s, term=ir.Scalar(span=s, value=True), body=(inner,))
    none = ir.Call(span=s, func="equal", args=(ir.Call(span=s, func="count", args=(found,)),
                                                ir.Scalar(span=s, value=0)))
    return ir.Expr(span=lit.span, term=none)


def _pattern_problem(func: str, call: ir.Call) -> str | None:
    """For a pattern given as a constant, what makes it unsupported, found at load."""
    if not call.args or not isinstance(call.args[0], ir.Scalar) or not isinstance(call.args[0].value, str):
        return None
    pattern = call.args[0].value
    if func == "regex.match":
        return regex_problem(pattern)
    if func == "glob.match":
        try:
            glob_regex(pattern, (".",))
        except Unsupported as e:
            return str(e)
    return None


def _ref(span, path: tuple[str, ...]) -> ir.Term:
    head = ir.Var(span=span, name=path[0])
    if len(path) == 1:
        return head
    return ir.Ref(span=span, head=head, path=tuple(ir.Scalar(span=span, value=p) for p in path[1:]))


def _pattern_vars(t: ir.Term) -> set[str]:
    match t:
        case ir.Var(name=name):
            return {name}
        case ir.Array(items=items):
            return set().union(*(_pattern_vars(x) for x in items)) if items else set()
        case ir.Object(items=items):
            return set().union(*(_pattern_vars(v) for _, v in items)) if items else set()
    return set()


def _declared_here(body) -> set[str]:
    """The names a body's own literals declare (`some`, `some … in`, `:=`)."""
    out: set[str] = set()
    for lit in body:
        match lit:
            case ir.Some(vars=vs):
                out.update(vs)
            case ir.Assign(lhs=lhs):
                out |= _pattern_vars(lhs)
            case ir.SomeIn(key=key, value=value):
                if key is not None:
                    out |= _pattern_vars(key)
                out |= _pattern_vars(value)
            case ir.With(literal=inner):
                out |= _declared_here((inner,))
    out.discard("_")
    return out
