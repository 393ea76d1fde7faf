"""What the policies read from `input`, and what they compare it with.

A unification-based value-flow analysis over the IR, in the style of Steensgaard's
points-to analysis: every term gets a node, and equality, membership, assignment,
argument passing and data lookups merge nodes into classes. A class that holds input
paths therefore collects every constant those paths may be compared with (literals,
keys and values of data documents and object literals), every other input path they
may be compared with (path-to-path equality and membership), and the string patterns
(`startswith`, `endswith`, `glob.match`, `contains`) applied to them. Merging is an
over-approximation: it can only add constants and paths to a class, never lose one,
so the classes that `policydiff.matrix` builds from it split requests at least as
finely as the policies do.

Uses of input the classes cannot capture (ordering, arithmetic, `count`, `sprintf`,
regular expressions, ...) are recorded as `incomplete` reasons naming the rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, assert_never

import msgspec

from policydiff import ir
from policydiff.source import Span

ELEM = "[]"  # path step: "any element of this collection"

Path = tuple[str, ...]
Scalar = str | int | float | bool | None


class Pattern(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """A string test with a constant argument: `prefix`, `suffix`, `contains` or
    `glob` (with the delimiters in effect: none for `null`, `.` for `[]`)."""

    kind: str
    text: str
    delimiters: tuple[str, ...] = ()


class InputClass(msgspec.Struct, frozen=True, kw_only=True):
    """Input paths that may be compared with each other, and what they are compared
    with. Elements of a collection path `p` appear as `p + ("[]",)`."""

    paths: tuple[Path, ...]
    constants: tuple[Scalar, ...] = ()
    patterns: tuple[Pattern, ...] = ()
    # False when the policies only test membership in these paths (`x in coll`):
    # then elements equal to no value of the class cannot change a decision.
    whole: bool = True


class Analysis(msgspec.Struct, frozen=True, kw_only=True):
    classes: tuple[InputClass, ...]
    incomplete: tuple[str, ...] = ()  # "file:line: why"

    @property
    def paths(self) -> frozenset[Path]:
        return frozenset(p for c in self.classes for p in c.paths)

    def class_of(self, path: Path) -> InputClass | None:
        for c in self.classes:
            if path in c.paths:
                return c
        return None


# --------------------------------------------------------------------- union-find


class _Node:
    __slots__ = ("children", "collapsed", "computed", "consts", "parent", "paths", "patterns", "whole")

    def __init__(self) -> None:
        self.parent: _Node | None = None
        self.children: dict[tuple, _Node] = {}
        self.consts: set[tuple[type, Any]] = set()
        self.patterns: set[Pattern] = set()
        self.paths: set[Path] = set()
        self.collapsed = False
        self.whole = False  # used as a whole value, not only as the right of `x in coll`
        self.computed: str | None = None  # "file:line: `f`": a builtin result of unknown value


def _find(n: _Node) -> _Node:
    root = n
    while root.parent is not None:
        root = root.parent
    while n.parent is not None and n.parent is not root:
        n.parent, n = root, n.parent
    return root


def _key(value: Scalar) -> tuple[type, Any]:
    # True == 1 in Python; keep constants of different JSON types apart.
    return (type(value), value)


class _Graph:
    """The nodes and the merge operations; no knowledge of the IR."""

    def node(self, *consts: Scalar) -> _Node:
        n = _Node()
        n.consts.update(_key(c) for c in consts)
        return n

    def union(self, a: _Node, b: _Node) -> _Node:
        ra, rb = _find(a), _find(b)
        if ra is rb:
            return ra
        if len(rb.children) > len(ra.children):
            ra, rb = rb, ra
        rb.parent = ra
        ra.consts |= rb.consts
        ra.patterns |= rb.patterns
        ra.whole = ra.whole or rb.whole
        ra.computed = ra.computed or rb.computed
        new_a, new_b = ra.paths - rb.paths, rb.paths - ra.paths
        ra.paths |= rb.paths
        collapsed = ra.collapsed or rb.collapsed
        pending = list(rb.children.items())
        rb.children = {}
        # Children of one side gain the paths the other side brought in.
        for label, child in list(ra.children.items()):
            if label not in dict(pending):
                self._add_paths(child, _extend(new_b, label))
        for label, child in pending:
            mine = ra.children.get(label)
            if mine is None:
                ra.children[label] = child
                self._add_paths(child, _extend(new_a, label))
            else:
                self.union(mine, child)
        root = _find(ra)
        if collapsed:
            self.collapse(root)
        return _find(root)

    def _add_paths(self, n: _Node, paths: set[Path], active: frozenset[int] = frozenset()) -> None:
        r = _find(n)
        new = paths - r.paths
        if not new or id(r) in active:  # a class that is its own field: stop at the cycle
            return
        r.paths |= new
        for label, child in list(r.children.items()):
            self._add_paths(child, _extend(new, label), active | {id(r)})

    def child(self, n: _Node, label: tuple) -> _Node:
        r = _find(n)
        c = r.children.get(label)
        if c is None:
            c = _Node()
            r.children[label] = c
            c.paths = _extend(r.paths, label)
        return _find(c)

    def field(self, n: _Node, key: Scalar) -> _Node:
        r = _find(n)
        if r.collapsed:
            return self.child(r, ("e",))
        return self.child(r, ("f", key))

    def elem(self, n: _Node) -> _Node:
        r = _find(n)
        if any(label[0] == "f" for label in r.children):
            self.collapse(r)
        return self.child(_find(r), ("e",))

    def keys(self, n: _Node) -> _Node:
        return self.child(n, ("k",))

    def collapse(self, n: _Node) -> None:
        """From now on, every field of `n` is one class with its elements: used for
        documents indexed by a variable, whose keys are not known statically."""
        r = _find(n)
        r.collapsed = True
        e = self.child(r, ("e",))
        for label in [lab for lab in _find(r).children if lab[0] == "f"]:
            c = _find(r).children.pop(label, None)
            if c is not None:
                e = self.union(e, c)


def _extend(paths: set[Path], label: tuple) -> set[Path]:
    if not paths:
        return set()
    match label:
        case ("f", key):
            return {p + (str(key),) for p in paths}
        case ("e",):
            return {p + (ELEM,) for p in paths}
    return set()  # keys of input collections carry no path; iterating them is flagged


# ------------------------------------------------------------------------- walker

# Builtins whose result is a set or array of their arguments' elements.
_SET_OPS = {"and", "or", "union", "intersection", "array.concat"}
_PATTERNS = {"startswith": "prefix", "endswith": "suffix", "contains": "contains"}
_ORDERING = {"lt", "lte", "gt", "gte"}


class _Walker:
    def __init__(self, modules: Sequence[ir.Module], data: Mapping[str, Any] | None,
                 shared: _Walker | None = None) -> None:
        self.g = shared.g if shared else _Graph()
        if shared:
            self.input = shared.input
        else:
            self.input = self.g.node()
            self.input.paths = {()}
        self.data = self._document(data or {})
        self.packages: dict[tuple[str, ...], dict[str, list[ir.Rule]]] = {}
        for m in modules:
            rules = self.packages.setdefault(m.package, {})
            for r in m.rules:
                rules.setdefault(r.name, []).append(r)
                if r.kind != "function" and (r.ref or "." in r.name):
                    # a reference head: its value is read through the name it starts with
                    rules.setdefault(r.name.split(".")[0], []).append(r)
        self.rule_nodes: dict[tuple, _Node] = {}
        self.params: dict[tuple, list[_Node]] = {}
        self.checks: list[tuple[str, Span, list[_Node]]] = []
        self.deferred_patterns: list[tuple[str, _Node, _Node, tuple[str, ...], Span]] = []
        self.modules = modules

    # ---- documents

    def _document(self, value: Any) -> _Node:
        n = self.g.node()
        if isinstance(value, Mapping):
            self.g.collapse(n)
            keys = self.g.keys(n)
            for k, v in value.items():
                _find(keys).consts.add(_key(k))
                self.g.union(self.g.elem(n), self._document(v))
        elif isinstance(value, (list, tuple, set, frozenset)):
            for v in value:
                self.g.union(self.g.elem(n), self._document(v))
        else:
            n.consts.add(_key(value))
        return n

    # ---- rules

    def rule_node(self, pkg: tuple[str, ...], name: str) -> _Node:
        key = (pkg, name)
        if key not in self.rule_nodes:
            self.rule_nodes[key] = self.g.node()
        return self.rule_nodes[key]

    def param_nodes(self, pkg: tuple[str, ...], name: str, n: int) -> list[_Node]:
        ps = self.params.setdefault((pkg, name), [])
        while len(ps) < n:
            ps.append(self.g.node())
        return ps

    def walk(self) -> None:
        for m in self.modules:
            imports = {}
            for imp in m.imports:
                if imp.path[0] in ("data", "input") and len(imp.path) > 1:
                    imports[imp.alias or imp.path[-1]] = imp.path
            for r in m.rules:
                rule = r
                while rule is not None:
                    self._rule(m.package, rule, imports)
                    rule = rule.else_

    def _rule(self, pkg, rule: ir.Rule, imports) -> None:
        scope = _Scope(self, pkg, imports, rule)
        if rule.kind == "function":
            node = self.rule_node(pkg, rule.name)
        else:  # a reference head (`a.b[x].c := v`) puts its value inside the document `a`
            head, *rest = rule.name.split(".")
            node = self.rule_node(pkg, head)
            for k in rest:
                node = self.g.field(node, k)
        if rule.kind == "function":
            params = self.param_nodes(pkg, rule.name, len(rule.args))
            for p, arg in zip(params, rule.args):
                if isinstance(arg, ir.Var):
                    scope.declare(arg.name)
                self.g.union(p, scope.flow(arg))
        scope.body(rule.body)
        for t in rule.ref:
            if isinstance(t, ir.Scalar):
                node = self.g.field(node, t.value)
            else:
                self.g.union(self.g.keys(node), scope.flow(t))
                self.g.collapse(node)
                node = self.g.elem(node)
        match rule.kind:
            case "complete" | "function":
                if rule.value is not None:
                    self.g.union(node, scope.flow(rule.value))
            case "partial_set":
                if rule.key is not None:
                    self.g.union(self.g.elem(node), scope.flow(rule.key))
            case "partial_object":
                if rule.key is not None:
                    self.g.union(self.g.keys(node), scope.flow(rule.key))
                self.g.collapse(node)
                if rule.value is not None:
                    self.g.union(self.g.elem(node), scope.flow(rule.value))

    def check(self, why: str, span: Span, *nodes: _Node, deep: bool = True) -> None:
        """Incomplete if any of `nodes` holds input (`deep`: anywhere inside it)."""
        self.checks.append((why, span, list(nodes), deep))

    def result(self, others: Sequence[_Walker] = ()) -> Analysis:
        for w in others:
            self.checks.extend(w.checks)
            self.deferred_patterns.extend(w.deferred_patterns)
        for kind, s, arg, delims, span in self.deferred_patterns:
            texts = [v for t, v in _find(arg).consts if t is str]
            if _find(arg).paths or _find(arg).computed or not texts:
                self.checks.append((f"`{kind}` with a pattern computed at evaluation", span, [s], False))
            for v in texts:
                _find(s).patterns.add(Pattern(kind=kind, text=v, delimiters=delims))
        reasons = []
        for why, span, nodes, deep in self.checks:
            if any(_reads_input(n) if deep else bool(_find(n).paths) for n in nodes):
                reasons.append(f"{span.where}: {why}")
        classes = [r for r in _reachable(self.input) if r.paths]
        for r in classes:
            if r.computed:  # compared with a value no constant stands for
                reasons.append(f"{r.computed} compared with input")
        out = []
        for r in classes:
            consts = sorted((v for _, v in r.consts), key=_const_order)
            out.append(InputClass(paths=tuple(sorted(_acyclic(r.paths))), constants=tuple(consts),
                                  patterns=tuple(sorted(r.patterns)), whole=r.whole))
        out.sort(key=lambda c: c.paths)
        return Analysis(classes=tuple(out), incomplete=tuple(sorted(set(reasons))))


def _reads_input(n: _Node) -> bool:
    """Whether a value holds input anywhere inside it (an array of input paths, ...).
    Keys are left out: looking a document up by an input value reads the input through
    equality, which the classes capture."""
    return any(r.paths for r in _reachable(n, keys=False))


def _reachable(n: _Node, *, keys: bool = True) -> Iterator[_Node]:
    """Every class root reachable from `n` through its children, once each, depth first;
    without `keys`, not through the children that are lookup keys."""
    seen: set[int] = set()
    stack = [n]
    while stack:
        r = _find(stack.pop())
        if id(r) in seen:
            continue
        seen.add(id(r))
        yield r
        stack.extend(c for label, c in r.children.items() if keys or label[0] != "k")


def _acyclic(paths: set[Path]) -> set[Path]:
    """Drop the unrolled repetitions of a class that is its own field (`x` merged with
    `x.name`): keep `x` and `x.name`, not `x.name.name`."""

    def chain(q: Path) -> int:
        return sum(1 for i in range(len(q)) if q[:i] in paths)

    return {q for q in paths if chain(q) < 2}


def _const_order(v: Scalar) -> tuple:
    return (str(type(v).__name__), str(v))


class _Scope:
    """Local variables of one rule (comprehensions share it: merging two variables
    of the same name only coarsens the classes)."""

    def __init__(self, w: _Walker, pkg, imports, rule: ir.Rule) -> None:
        self.w, self.g, self.pkg, self.imports, self.rule = w, w.g, pkg, imports, rule
        self.vars: dict[str, _Node] = {}

    def declare(self, name: str) -> _Node:
        if name == "_":
            return self.g.node()
        self.vars[name] = self.vars.get(name) or self.g.node()
        return self.vars[name]

    # ---- literals

    def body(self, lits: Iterable[ir.Literal]) -> None:
        for lit in lits:
            self.literal(lit)

    def literal(self, lit: ir.Literal) -> None:
        match lit:
            case ir.Expr(term=term):
                n = self.flow(term)
                _find(n).consts.add(_key(False))  # truthiness: false and anything else
            case ir.Assign(lhs=lhs, rhs=rhs):
                r = self.flow(rhs)
                self._declare_pattern(lhs)
                self.g.union(self.flow(lhs), r)
            case ir.Unify(lhs=lhs, rhs=rhs):
                self.g.union(self.flow(lhs), self.flow(rhs))
            case ir.Some(vars=names):
                for name in names:
                    self.declare(name)
            case ir.SomeIn(key=key, value=value, collection=coll):
                c = self.flow(coll)
                self._declare_pattern(value)
                self.g.union(self.flow(value), self.g.elem(c))
                if key is not None:
                    self._declare_pattern(key)
                    self._keys_of(c, key, lit.span)
            case ir.Every(key=key, value=value, domain=domain, body=body):
                c = self.flow(domain)
                self.g.union(self.declare(value), self.g.elem(c))
                if key is not None:
                    k = self.declare(key)
                    self.g.union(k, self.g.keys(c))
                    if key != "_":
                        self.w.check("iterates the keys of an input collection", lit.span, c, deep=False)
                self.body(body)
            case ir.With(literal=inner, values=values):
                # the input, or a function, replaced: the classes cannot follow that
                for v in values:
                    self.flow(v)
                self.literal(inner)
                self.w.check("`with` replaces the input or a function", lit.span, self.w.input)
            case _:
                assert_never(lit)

    def _keys_of(self, coll: _Node, key: ir.Term, span: Span) -> None:
        k = self.flow(key)
        self.g.union(k, self.g.keys(coll))
        if not (isinstance(key, ir.Var) and key.name == "_"):
            self.w.check("iterates the keys of an input collection", span, coll, deep=False)

    def _declare_pattern(self, t: ir.Term) -> None:
        match t:
            case ir.Var(name=name):
                self.declare(name)
            case ir.Array(items=items) | ir.Set(items=items):
                for i in items:
                    self._declare_pattern(i)
            case ir.Object(items=items):
                for _, v in items:
                    self._declare_pattern(v)

    # ---- terms

    def var(self, name: str) -> _Node:
        if name == "_":
            return self.g.node()
        if name in self.vars:
            return self.vars[name]
        if name == "input":
            return self.w.input
        if name == "data":
            return self._data_ref(())
        rules = self.w.packages.get(self.pkg, {})
        if name in rules:
            return self.w.rule_node(self.pkg, name)
        if name in self.imports:
            path = self.imports[name]
            if path[0] == "input":
                return self._walk_path(self.w.input, path[1:])
            return self._data_ref(path[1:])
        return self.declare(name)

    def _walk_path(self, n: _Node, keys: Iterable[str]) -> _Node:
        for k in keys:
            n = self.g.field(n, k)
        return n

    def _data_ref(self, path: tuple[str, ...]) -> _Node:
        """`data.a.b...`: a rule of a loaded package, else the data document."""
        for pkg, rules in self.w.packages.items():
            n = len(pkg)
            if path[:n] == pkg and len(path) > n and path[n] in rules:
                return self._walk_path(self.w.rule_node(pkg, path[n]), path[n + 1:])
        return self._walk_path(self.w.data, path)

    def flow(self, t: ir.Term) -> _Node:
        """The node of `t`'s value, marked as used whole."""
        n = self._flow(t)
        _find(n).whole = True
        return n

    def _flow(self, t: ir.Term) -> _Node:
        g = self.g
        match t:
            case ir.Scalar(value=v):
                return g.node(v)
            case ir.Var(name=name):
                return self.var(name)
            case ir.Ref(head=head, path=path):
                return self._ref(head, path, t.span)
            case ir.Array(items=items) | ir.Set(items=items):
                n = g.node()
                for i in items:
                    g.union(g.elem(n), self.flow(i))
                return n
            case ir.Object(items=items):
                n = g.node()
                for k, v in items:
                    g.union(g.keys(n), self.flow(k))
                    if isinstance(k, ir.Scalar):
                        g.union(g.field(n, k.value), self.flow(v))
                    else:
                        g.collapse(n)
                        g.union(g.elem(n), self.flow(v))
                return n
            case ir.ArrayCompr(term=term, body=body) | ir.SetCompr(term=term, body=body):
                self.body(body)
                n = g.node()
                g.union(g.elem(n), self.flow(term))
                return n
            case ir.ObjectCompr(key=key, value=value, body=body):
                self.body(body)
                n = g.node()
                g.collapse(n)
                g.union(g.keys(n), self.flow(key))
                g.union(g.elem(n), self.flow(value))
                return n
            case ir.Call():
                return self.call(t)
            case _:
                assert_never(t)

    def _ref(self, head: ir.Term, path: tuple[ir.Term, ...], span: Span) -> _Node:
        g = self.g
        if isinstance(head, ir.Var) and head.name == "data" and head.name not in self.vars:
            prefix = []
            for k in path:
                if isinstance(k, ir.Scalar) and isinstance(k.value, str):
                    prefix.append(k.value)
                else:
                    break
            n = self._data_ref(tuple(prefix))
            path = path[len(prefix):]
        else:
            n = self.flow(head)
        for k in path:
            if isinstance(k, ir.Scalar) and isinstance(k.value, str):
                n = self._field(n, k.value)
                continue
            key = self.flow(k)
            _find(n).whole = True  # `coll[_] != x` sees elements that `x in coll` cannot
            if isinstance(k, ir.Scalar):  # a number: an array index
                self.w.check("indexes an input array by position", span, n, deep=False)
            g.union(key, g.keys(n))
            if isinstance(k, (ir.Var, ir.Ref, ir.Call)) and not (isinstance(k, ir.Var) and k.name == "_"):
                self.w.check("looks up input by a computed key", span, n, deep=False)
            n = g.elem(n)
        return n

    def _field(self, n: _Node, key: Scalar) -> _Node:
        """`n.key`; a document whose keys may come from input (`obj[input.x] := ...`)
        is then looked up by a constant those keys are compared with."""
        if not _find(n).paths:
            self.g.union(self.g.keys(n), self.g.node(key))
        return self.g.field(n, key)

    def call(self, t: ir.Call) -> _Node:
        g, f, span = self.g, t.func, t.span
        func = self._user_function(f)
        if func is not None:
            pkg, name = func
            args = [self.flow(a) for a in t.args]
            for p, a in zip(self.w.param_nodes(pkg, name, len(args)), args):
                g.union(p, a)
            return self.w.rule_node(pkg, name)
        if f in ("equal", "neq", "internal.unify"):
            g.union(self.flow(t.args[0]), self.flow(t.args[1]))
            return g.node(True, False)
        if f == "internal.member_2":
            g.union(self.flow(t.args[0]), g.elem(self._flow(t.args[1])))
            return g.node(True, False)
        if f == "internal.member_3":
            c = self.flow(t.args[2])
            g.union(self.flow(t.args[1]), g.elem(c))
            self._keys_of(c, t.args[0], span)
            return g.node(True, False)
        if f in _PATTERNS or f == "glob.match":
            return self._pattern(t)
        if f == "graph.reachable":
            graph, init = (self.flow(a) for a in t.args)
            out = g.node()
            e = g.elem(out)
            g.union(e, g.elem(init))
            g.union(e, g.keys(graph))
            g.union(e, g.elem(g.elem(graph)))
            return out
        if f == "object.get":
            obj, key, default = t.args
            n = self.flow(obj)
            match key:
                case ir.Scalar(value=v):
                    n = self._field(n, v)
                case ir.Array(items=items) if all(isinstance(i, ir.Scalar) for i in items):
                    for i in items:
                        n = self._field(n, i.value)
                case _:
                    g.union(self.flow(key), g.keys(n))
                    self.w.check("looks up input by a computed key", span, n, deep=False)
                    n = g.elem(n)
            return g.union(n, self.flow(default))
        if f == "object.keys":
            out = g.node()
            g.union(g.elem(out), g.keys(self.flow(t.args[0])))
            return out
        if f in _SET_OPS:
            out = g.node()
            for a in t.args:
                n = self.flow(a)
                g.union(g.elem(out), g.elem(g.elem(n)) if f in ("union", "intersection") else g.elem(n))
            return out
        args = [self.flow(a) for a in t.args]
        what = "ordering comparison" if f in _ORDERING else f"`{f}`"
        self.w.check(f"{what} on a value read from input", span, *args)
        out = g.node()
        out.computed = f"{span.where}: the result of `{f}`"
        return out

    def _pattern(self, t: ir.Call) -> _Node:
        g = self.g
        if t.func == "glob.match":
            pattern, delims, subject = t.args
            dl: tuple[str, ...] = ()  # OPA: null means no delimiters, [] means ["."]
            if isinstance(delims, ir.Array):
                dl = tuple(str(d.value) for d in delims.items if isinstance(d, ir.Scalar)) or (".",)
            elif not (isinstance(delims, ir.Scalar) and delims.value is None):
                self.w.check("`glob.match` with computed delimiters", t.span, self.flow(subject))
            kind = "glob"
        else:
            subject, pattern = t.args
            kind, dl = _PATTERNS[t.func], ()
        s = self.flow(subject)
        if isinstance(pattern, ir.Scalar) and isinstance(pattern.value, str):
            _find(s).patterns.add(Pattern(kind=kind, text=pattern.value, delimiters=dl))
        else:
            self.w.deferred_patterns.append((kind, s, self.flow(pattern), dl, t.span))
        return g.node(True, False)

    def _user_function(self, name: str) -> tuple[tuple[str, ...], str] | None:
        rules = self.w.packages.get(self.pkg, {})
        if name in rules and rules[name][0].kind == "function":
            return self.pkg, name
        parts = tuple(name.split("."))
        if parts[0] == "data":
            for pkg, rules in self.w.packages.items():
                if parts[1:-1] == pkg and parts[-1] in rules:
                    return pkg, parts[-1]
        if parts[0] in self.imports and self.imports[parts[0]][0] == "data":
            full = self.imports[parts[0]][1:] + parts[1:]
            for pkg, rules in self.w.packages.items():
                if full[:-1] == pkg and full[-1] in rules:
                    return pkg, full[-1]
        return None


def analyze(modules: Sequence[ir.Module], data: Mapping[str, Any] | None = None) -> Analysis:
    """The input classes of `modules` (evaluated over `data`)."""
    w = _Walker(modules, data)
    w.walk()
    return w.result()


def analyze_policies(*policies: Any) -> Analysis:
    """One analysis over several policies, so that their classes are common: the
    constants either policy compares a path with split that path for both. Each
    policy keeps its own packages and data; only `input` is shared."""
    walkers: list[_Walker] = []
    for p in policies:
        w = _Walker(p.modules, p.data, walkers[0] if walkers else None)
        w.walk()
        walkers.append(w)
    return walkers[0].result(walkers[1:])
