"""Type checking: refuse at load time what OPA's type checker refuses at compile time.

Runs once `resolve`, safety and recursion found nothing, over the rewritten rules. It
gives every term the type it has without any input (see `types`): constants,
collection literals, comprehensions, the results of builtins, and the values of rules
and functions (inferred from their definitions, each rule once, before the rules that
read it). A local variable takes the type of what `:=`, `=` or `some … in` first binds
it to, and a variable key of a reference (`xs[k]`) the type of the keys; a function
parameter, as in OPA, the type its first use as an operand or key asks for, and
callers must fit it; a parameter pattern (`f([a, b])`) is typed position by position
and key by key, so an argument of another length, other keys, or a member of another
type than the body gave a variable of the pattern fits it no more than it does OPA's. References into `input`, base `data` documents and `every`
variables are of unknown type and never refused, as OPA without a schema does not
refuse them.

Where OPA's types know an object's keys or an array's length, here the collection
literals do: a value's shapes pair the literal it may be (if known) with its type, one
shape per definition of a rule, per member an iteration (`some … in`, `x := xs[_]`)
may give, and a comprehension's members the shapes of its head. Values that pass
through builtins or functions keep their type only, so a key they lack is not always
refused.

What is refused, with `rego_type_error` as OPA does: a builtin or function operand
whose type cannot fit the parameter; a unification (or an equality standing alone as
a body literal, which OPA rewrites into one) of two terms no value can match;
iterating what can only be a scalar; a key that no shape of a value can have (a
constant key a literal lacks, a string into an array, a number into an object of
string keys), and any key into a scalar. Arity is `resolve`'s concern; calls of the
wrong arity are skipped.
"""

from __future__ import annotations

import re
from typing import assert_never

from policydiff import ir
from policydiff.compile import types as T
from policydiff.compile.builtins.opa_builtins import OPA_STATIC_ARGS
from policydiff.compile.resolve import VAR, Group
from policydiff.compile.types import ANY, SIGNATURES, Type, fits, show
from policydiff.errors import Code, Diagnostic
from policydiff.source import Span

__all__ = ["check_body", "typecheck"]


def typecheck(groups: dict[tuple[str, ...], Group]) -> list[Diagnostic]:
    """The type errors of every rule of `groups` (as `resolve` left them)."""
    rules = _Rules(groups)
    for path in groups:
        rules.type_of(path)
    return rules.diags


def check_body(body: tuple[ir.Literal, ...], groups: dict[tuple[str, ...], Group]) -> list[Diagnostic]:
    """The type errors of a query body over compiled `groups` (where OPA leaves `a == b`
    a comparison)."""
    rules = _Rules(groups)
    _Checker(rules, rewrites_equals=False).body(body)
    return rules.diags


class _Rules:
    """The type of each rule's value, inferred on demand so that a rule is checked after
    the rules it reads (a recursive reference, refused elsewhere, reads as unknown)."""

    def __init__(self, groups: dict[tuple[str, ...], Group]):
        self.groups = groups
        self.types: dict[tuple[str, ...], Type] = {}
        self.params: dict[tuple[str, ...], tuple[Type, ...]] = {}  # of functions
        # of functions: each definition's parameter patterns, and the types its body gave their variables
        self.patterns: dict[tuple[str, ...], list[tuple[tuple[ir.Term, ...], dict[str, Type]]]] = {}
        # of functions: per definition, what OPA declares each parameter as, by position (or None)
        self.param_decls: dict[tuple[str, ...], list[tuple[dict | None, ...]]] = {}
        self.values: dict[tuple[str, ...], list[Shape]] = {}  # of what the definitions give
        self.shapes: dict[tuple[str, ...], list[Shape]] = {}
        self.items: dict[int, list[Shape]] = {}  # of members of literals, by their id
        self.tree_values: dict[int, list[Shape]] = {}  # of the value of each rule of a tree, by its id
        self.key_values: dict[int, list[Shape]] = {}  # of the member a partial set rule gives, by its id
        self.placeholders: list[ir.Var] = []  # members of partial sets known by their type only
        self.prefixes = {p[:n] for p in groups for n in range(1, len(p))}  # objects of rules
        self.diags: list[Diagnostic] = []

    def type_of(self, path: tuple[str, ...]) -> Type:
        if path in self.types:
            return self.types[path]
        self.types[path] = ANY
        g = self.groups[path]
        if g.kind == "tree":
            t = self.types[path] = self._tree_type(g)
            return t
        found, params, values = [], [], []
        for r in g.defs + ([g.default] if g.default is not None else []):
            for d in _chain(r):
                checker = _Checker(self)
                found.append(checker.rule(d))
                if d.kind == "partial_set" and d.key is not None and not _constant(d.key):
                    self.key_values[id(d)] = checker.shape(d.key)
                params.append(tuple(checker.pattern_type(a) for a in d.args))
                self.patterns.setdefault(path, []).append((d.args, dict(checker.vars)))
                self.param_decls.setdefault(path, []).append(
                    tuple(checker.decls.get(a.name) if isinstance(a, ir.Var) else None for a in d.args))
                values += [(node, T.loose(v)) for node, v in checker.value_shapes]
        if g.kind == "function" and params:  # a caller must fit one definition's parameters
            self.params[path] = tuple(T.union(*ts) for ts in zip(*params))
        found = [T.loose(f) for f in found]
        if g.kind in ("complete", "function") and found:
            self.values[path] = values
        if g.kind == "partial_set":
            t = T.set_(T.union(*found)) if found else T.SET
        else:
            t = T.union(*found) if found else ANY
        self.types[path] = t
        return t

    def _tree_type(self, g) -> Type:
        """The object the rules of a `TreeGroup` build: for each member, the objects
        its head's keys lead through to what it puts there (checking its bodies)."""
        pairs = []
        for m in g.members:
            for r in m.rules:
                checker = _Checker(self)
                found = checker.rule(r)
                self.tree_values[id(r)] = checker.value_shapes
                keys = [_key_type(k) for k in m.pattern[:len(m.pattern) - len(r.ref)]]
                keys += [T.loose(t) for t in checker.ref_types]
                if r.kind == "partial_set":
                    leaf = T.set_(T.loose(found))
                else:
                    leaf = T.loose(found)
                for k in reversed(keys[1:]):
                    leaf = T.object_((k, leaf))
                if keys and (keys[0], leaf) not in pairs:
                    pairs.append((keys[0], leaf))
        return T.object_(*pairs) if pairs else T.OBJECT

    def of_ref(self, path: tuple[ir.Term, ...]) -> tuple[list[Shape], int, bool]:
        """The shapes of the rule a `data` reference names (see `_shapes`), how many keys
        of `path` named the rule, and whether OPA checks the keys after those against
        its type (it does below a rule, a leaf of its rule tree, but not below the nodes
        a reference-head rule goes through)."""
        keys: list[str] = []
        for k in path:
            if not isinstance(k, ir.Scalar) or not isinstance(k.value, str):
                break
            keys.append(k.value)
        for n in range(len(keys), 0, -1):
            p = tuple(keys[:n])
            if p in self.groups:
                g = self.groups[p]
                if g.kind == "function":  # a function read as a value: `link` reported it
                    return [(None, ANY)], len(path), False
                leaf = g.kind != "tree" or all(m.node == 0 for m in g.members)
                if p not in self.shapes:
                    self.shapes[p] = self._shapes(g)
                return self.shapes[p], n, leaf
            if p in self.prefixes:  # a package, or the object a ref-head rule is in
                return [(None, T.OBJECT)], n, False
        return [(None, ANY)], len(path), False

    def _shapes(self, g: Group) -> list[Shape]:
        """What the value of rule `g` may be: the shapes of what each definition of a
        complete rule gives, the members of a partial set whose members are all
        constant one set literal, and otherwise just the rule's type."""
        t = self.type_of(g.path)
        if g.kind == "tree" and g.members and all(
                m.rule is not None and m.shape == "value" and len(m.pattern) == 1 and m.pattern[0] is VAR
                and m.rule.value is not None for m in g.members):
            # `p[k] := v`: one object comprehension per definition and literal `v` may be
            # (`v` itself, or the literal a variable `v` is bound to in the body)
            # (typed each by its own value: a literal's members are typed by position)
            keys = T.members(t)[0]
            return [(ir.ObjectCompr(key=m.rule.ref[-1] if m.rule.ref else ir.Var(name="_"),
                                    value=node if node is not None else m.rule.value, body=()),
                     T.object_((keys, T.loose(vt))))
                    for m in g.members for node, vt in self.tree_values.get(id(m.rule), [(None, ANY)])]
        defs = [d for r in g.defs + ([g.default] if g.default is not None else []) for d in _chain(r)]
        if g.kind == "partial_set" and defs:
            # a set literal of every member a definition may give: its key, or the
            # literals a variable key is bound to in its body
            members = [self.key_values.get(id(d), [(None, ANY)]) if not _constant(d.key) else [(d.key, ANY)]
                       for d in defs]
            if all(node is not None or mt != ANY for shapes in members for node, mt in shapes):
                # a member known only by its type (`v = 0`) stands in the literal as a
                # placeholder whose shape is that type (see `_members`)
                items = []
                for node, mt in (x for shapes in members for x in shapes):
                    if node is None:
                        node = ir.Var(name="$member")
                        self.placeholders.append(node)  # (kept alive: `items` is keyed by id)
                        self.items[id(node)] = [(None, T.loose(mt))]
                    items.append(node)
                return [(ir.Set(items=tuple(items)), t)]
        return self.values.get(g.path) or [(None, t)]


class _Checker:
    def __init__(self, rules: _Rules, rewrites_equals: bool = True):
        self.rules = rules
        self.diags = rules.diags
        self.rewrites_equals = rewrites_equals
        self.vars: dict[str, Type] = {}  # names are unique per rule after `resolve`
        self.literals: dict[str, ir.Term] = {}  # variables bound to a collection literal
        self.shapes: dict[str, list[Shape]] = {}  # variables bound to a member of one
        self.open: set[str] = set()  # function parameters, typed by their first use
        self.decls: dict[str, dict] = {}  # of parameters first used as a builtin's operand OPA declares by position
        self.ref_types: list[Type] = []  # of the terms of the last rule's reference head
        self.value_shapes: list[Shape] = []  # of the last rule's value
        self.where: Span | None = None  # the rule being checked: where an error of no position of its own stands

    def rule(self, r: ir.Rule) -> Type:
        """Check one definition; the type of what it contributes to its rule's value."""
        self.where = r.span
        for a in r.args:
            self.term(a)
            self.open |= _pattern_vars(a)
        self.body(r.body)
        self.ref_types = [self.term(t) for t in r.ref]
        key = self.term(r.key) if r.key is not None else ANY
        self.value_shapes = self.shape(r.value) if r.value is not None else [(None, T.BOOLEAN)]
        return key if r.kind == "partial_set" else _type_of(self.value_shapes)

    def body(self, body: tuple[ir.Literal, ...]) -> None:
        for lit in body:
            self.literal(lit)

    def literal(self, lit: ir.Literal) -> None:
        match lit:
            case ir.Expr(term=ir.Call(func="equal", args=(lhs, rhs))) if self.rewrites_equals:
                # OPA rewrites `a == b` standing alone into `a = b`, then checks it so
                self.unify_terms(lit.span, lhs, rhs)
            case ir.Expr(term=term):
                self.term(term)
            case ir.Assign(lhs=lhs, rhs=rhs):
                shapes = self.shape(rhs)
                self.match(lit.span, lhs, shapes)
                self.bind(lhs, _type_of(shapes), rhs, shapes)
            case ir.Unify(lhs=lhs, rhs=rhs):
                self.unify_terms(lit.span, lhs, rhs)
            case ir.Some():
                pass
            case ir.SomeIn(key=key, value=value, collection=coll):
                found = self.shape(coll)
                # as OPA, iterate over each type the collection may have but scalars
                shapes = [(node, c) for node, c in _split(found) if c[0] not in _SCALARS]
                if not shapes:
                    self._error(lit.span, "match error", f"cannot iterate over {show(_type_of(found))}")
                    shapes = [(None, ANY)]
                if key is not None:
                    kt = T.union(*(_keys(node, c) for node, c in shapes))
                    if isinstance(key, ir.Var) and key.name in self.vars and key.name not in self.open \
                            and not T.meets(self.vars[key.name], kt):  # `x := "a"; some x, _ in [x]`
                        self._error(lit.span, "match error", f"{show(self.vars[key.name])} is no key of "
                                                             f"{show(_type_of(shapes))}")
                    self.bind(key, kt)
                values = [m for s in shapes for m in self._members(*s)]
                self.match(lit.span, value, values) or self.repeats(lit.span, value, values)
                self.bind(value, _type_of(values), None, values)
            case ir.Every(domain=domain, body=body):
                self.term(domain)  # OPA does not type the variables of `every` from its domain
                self.nested(body)
            case ir.With(literal=inner, values=values):
                for v in values:
                    self.term(v)
                self.literal(inner)
            case _:
                assert_never(lit)

    def nested(self, body: tuple[ir.Literal, ...], *heads: ir.Term) -> list[Type]:
        """Check a nested body and type its head terms; what the body binds stays in it
        (two comprehensions may each bind their own `x`)."""
        saved = dict(self.vars), dict(self.literals), dict(self.shapes)
        try:
            self.body(body)
            return [self.item(h) for h in heads]
        finally:
            self.vars, self.literals, self.shapes = saved

    def unify_terms(self, span, lhs: ir.Term, rhs: ir.Term) -> None:
        left, right = self.shape(lhs), self.shape(rhs)
        lt, rt = _type_of(left), _type_of(right)
        self.unify(span, lt, rt)
        if T.meets(lt, rt):
            # OPA matches a side holding variables against the other, or ground sides both ways
            lv = type(lhs) is not ir.Var and bool(_pattern_vars(lhs))
            rv = type(rhs) is not ir.Var and bool(_pattern_vars(rhs))
            (lv or not rv) and self.match(span, lhs, right) or (rv or not lv) and self.match(span, rhs, left) \
                or self.repeats(span, lhs, right) or self.repeats(span, rhs, left)
        self.bind(lhs, rt, rhs, right)
        self.bind(rhs, lt, lhs, left)

    def bind(self, pattern: ir.Term, t: Type, value: ir.Term | None = None,
             shapes: list[Shape] | None = None) -> None:
        """The first binding of a variable gives its type (unknown ones included, so a
        later `x = 1` does not narrow what `x := input.a` left open), and, when it is a
        member of collection literals (`some v in xs`, `v := xs[_]`), the shapes of
        those members. An array pattern binds by position, an object pattern by the keys
        of the literal it matches."""
        if isinstance(value, ir.Var):
            value = self.literals.get(value.name, value)
        match pattern:
            case ir.Var(name=name) if name not in self.vars:
                self.vars[name] = T.loose(t)
                self.open.discard(name)
                if (lit := _literal(value)) is not None:
                    self.literals[name] = lit
                elif shapes and any(node is not None for node, _ in shapes):
                    self.shapes[name] = shapes
            case ir.Array(items=items) if t[0] == "array" and len(t[1]) in (1, len(items)):
                values = value.items if isinstance(value, ir.Array) and len(value.items) == len(items) \
                    else (None,) * len(items)
                for p, mt, v in zip(items, t[1] * len(items) if len(t[1]) == 1 else t[1], values):
                    self.bind(p, mt, v, self.rules.items.get(id(v)))
            case ir.Object(items=pairs) if t[0] == "object" and isinstance(value, ir.Object):
                for k, p in pairs:
                    if isinstance(k, ir.Scalar) and (found := _lookup(value, t, k.value)) not in (None, _MISSING):
                        self.bind(p, found[1], found[0], self.rules.items.get(id(found[0])))

    def term(self, t: ir.Term) -> Type:
        """The static type of `t`, checking the calls inside it on the way."""
        match t:
            case ir.Scalar(value=v):
                return T.of_value(v)
            case ir.Var(name=name):
                return self.vars.get(name, ANY)
            case ir.Ref():
                return self.ref(t)
            case ir.Array(items=items):
                return T.array(*map(self.item, items))
            case ir.Set(items=items):
                members = [self.term(x) for x in items]
                # OPA types a set with a non-constant member unpredictably: leave it open
                return T.set_(*members) if all(_constant(x) for x in items) else T.SET
            case ir.Object(items=items):
                return T.object_(*((self.term(k), self.item(v)) for k, v in items))
            case ir.ArrayCompr(term=head, body=body):
                return T.array(*self.nested(body, head))
            case ir.SetCompr(term=head, body=body):
                return T.set_(*self.nested(body, head))
            case ir.ObjectCompr(key=key, value=value, body=body):
                return T.object_(tuple(self.nested(body, key, value)))
            case ir.Call(func="internal.unify", args=(lhs, rhs)):  # `not a = b`
                self.unify(t.span, self.term(lhs), self.term(rhs))
                return T.BOOLEAN
            case ir.Call(func=func, args=args):
                typed, errored = [], []
                for a in args:  # OPA types an argument that is in error itself as unknown
                    n = len(self.diags)
                    typed.append(self.term(a))
                    errored.append(len(self.diags) > n)
                have = tuple(ANY if bad else h for h, bad in zip(typed, errored))
                if func.startswith("data."):
                    path = tuple(func.split(".")[1:])
                    if path not in self.rules.groups:
                        return ANY
                    result = self.rules.type_of(path)
                    want = self.rules.params.get(path)
                    if want is None or len(want) != len(have):
                        return result
                else:
                    sig = SIGNATURES.get(func)
                    if sig is None or len(sig[0]) != len(have):
                        return ANY
                    want, result = sig
                static = OPA_STATIC_ARGS.get(func)
                for i, (a, w) in enumerate(zip(args, want)):  # OPA types a parameter by its first use
                    if isinstance(a, ir.Var) and a.name in self.open:
                        if static is not None:
                            self.decls.setdefault(a.name, static[i])
                        self.bind(a, w)
                if not all(fits(h, w) for h, w in zip(have, want)) or static is not None and not all(
                        self._fits_decl(a, h, d) for a, h, d in zip(args, have, static)) or (
                        func.startswith("data.") and not self._fits_patterns(path, args, errored)):
                    self._error(t.span, f"`{func}`: invalid argument(s)",
                                f"have: ({', '.join(map(show, have))}), want: ({', '.join(map(show, want))})")
                return result
        assert_never(t)

    def _fits_patterns(self, path: tuple[str, ...], args: tuple[ir.Term, ...], errored: list[bool]) -> bool:
        """False when some argument of a call of the function at `path` can match the
        parameter pattern of no definition at its position, as OPA types a pattern
        position by position (`f([a, b])` takes arrays of two members, and of a number
        first if its body adds `a` to one) and a function's definitions position by
        position too."""
        defs = self.rules.patterns.get(path)
        if not defs:
            return True
        decls = self.rules.param_decls.get(path, [])
        for i, arg in enumerate(args):
            if errored[i]:
                continue
            # a parameter passed on to a builtin that declares its operand by position
            # (`g(p) := time.weekday(p)`): the argument must fit that declaration
            if decls and all(d[i] is not None for d in decls) and not any(
                    self._fits_decl(arg, self.term_quiet(arg), d[i]) for d in decls):
                return False
            n = len(self.diags)
            shapes = self.shape(arg)
            del self.diags[n:]  # reported when the argument was typed
            if all(_rejects(params[i], node, t, types) or _empty_written(params[i], arg)
                   for params, types in defs for node, t in shapes):
                return False
        return True

    def term_quiet(self, t: ir.Term) -> Type:
        """The type of `t`, its errors left out (they were reported when it was typed)."""
        n = len(self.diags)
        out = self.term(t)
        del self.diags[n:]
        return out

    def _fits_decl(self, node: ir.Term | None, t: Type, decl: dict) -> bool:
        """False only when OPA's checker refuses a value of type `t` (the literal `node`,
        if known) for an operand OPA declares as `decl` (capabilities notation), with its
        types by position and by key: a literal array must have as many members as the
        positions (unless more are allowed), each of the position's type, and a literal
        object's constant keys the types their keys are declared with; a value of
        unknown literal must have members that fit every position or key."""
        node = self.literals.get(node.name) if isinstance(node, ir.Var) else _literal(node)
        kind = decl["type"]
        if t == ANY or t[0] == "any" and t[1]:
            opts = t[1] if t != ANY else ()
            return not opts or any(self._fits_decl(None, o, decl) for o in opts)
        if kind == "any":
            return not decl.get("of") or any(self._fits_decl(node, t, d) for d in decl["of"])
        if t[0] != kind:
            return False
        static, dyn = decl.get("static", ()), decl.get("dynamic")
        if kind == "array":
            if isinstance(node, ir.Array):
                if len(node.items) != len(static) and dyn is None:
                    return False
                return all(self._fits_decl(item, it, static[i] if i < len(static) else dyn)
                           for i, (item, it) in enumerate(zip(node.items, t[1])))
            m = T.union(*t[1]) if t[1] else ANY
            return all(self._fits_decl(None, m, d) for d in (*static, *([dyn] if dyn else ())))
        if kind == "object":
            by_key = {p["key"]: p["value"] for p in static}
            if isinstance(node, ir.Object):
                if len(node.items) != len(static) and dyn is None:
                    return False
                for (k, v), (_, vt) in zip(node.items, t[1]):
                    if isinstance(k, ir.Scalar):
                        want = by_key.get(k.value) if isinstance(k.value, str) else None
                        if want is None and dyn is not None and self._fits_decl(None, T.of_value(k.value), dyn["key"]):
                            want = dyn["value"]
                        if want is None or not self._fits_decl(v, vt, want):
                            return False
                return True
            if t[1] and static:  # a value under any string key may be what each key needs
                keys, values = T.union(*(k for k, _ in t[1])), T.union(*(v for _, v in t[1]))
                if self._fits_decl(None, keys, {"type": "string"}):
                    return all(self._fits_decl(None, values, d) for d in by_key.values())
            return True
        if kind == "set":
            return "of" not in decl or all(self._fits_decl(None, m, decl["of"]) for m in t[1])
        return True

    def ref(self, t: ir.Ref) -> Type:
        return _type_of(self.ref_shapes(t))

    def item(self, t: ir.Term) -> Type:
        """The type of a member of an array or object literal, keeping its shapes for
        when the literal is looked into."""
        shapes = self.shape(t)
        if not _constant(t):
            self.rules.items[id(t)] = [(node, T.loose(m)) for node, m in shapes]
        return _type_of(shapes)

    def shape(self, t: ir.Term) -> list[Shape]:
        """What `t` may be: one shape per collection literal it may be a member of."""
        if type(t) is ir.Ref:  # the commonest first
            return self.ref_shapes(t)
        match t:
            case ir.Ref():
                return self.ref_shapes(t)
            case ir.Var(name=name) if name in self.shapes:
                return self.shapes[name]
            case ir.Var(name=name):
                return [(self.literals.get(name), self.term(t))]
            case ir.ArrayCompr() | ir.SetCompr() | ir.ObjectCompr():
                return [(t, self.term(t))]
            case ir.Call(func=func) if func.startswith("data."):  # what the definitions give
                result = self.term(t)
                return self.rules.values.get(tuple(func.split(".")[1:])) or [(None, result)]
        return [(_literal(t), self.term(t))]

    def ref_shapes(self, t: ir.Ref) -> list[Shape]:
        """The shapes of `head.a[b]…`, refusing what OPA's type checker refuses: a key
        none of the shapes `head` may have can have (a constant key a collection literal
        lacks, a string into an array), and any key into a scalar. A variable key not
        yet bound takes the type of the keys, as in OPA."""
        path = t.path
        if isinstance(t.head, ir.Var) and t.head.name == "input":  # the commonest, never typed
            for key in path:
                if not isinstance(key, ir.Scalar):
                    self.term(key)
            return [(None, ANY)]
        checked = True
        if isinstance(t.head, ir.Var) and t.head.name == "data":  # the keys naming a rule are strings
            shapes, used, checked = self.rules.of_ref(path)
            path = path[used:]
        else:
            shapes = self.shape(t.head)
        for key in path:
            shapes = _split(shapes)
            kt = self.term(key)
            const = _constant_key(key)
            if checked and isinstance(key, ir.Var) and (key.name not in self.vars or key.name in self.open):
                keys = [_keys(node, c) for node, c in shapes if c[0] not in _SCALARS]
                if keys:
                    # a key of a set is a member: of the set literal's, when it is one
                    members = [m for node, c in shapes for m in self._members(node, c)] \
                        if all(isinstance(node, ir.Set) for node, _ in shapes) else None
                    self.bind(key, T.union(*keys), None, members)
            found, why = [], ""
            for node, cur in shapes:
                step = self._select(node, cur, key, kt, const, checked)
                if isinstance(step, str):
                    why = why or step
                else:
                    found += step
            if not found:
                self._error(key.span, "undefined ref", why)
                return [(None, ANY)]
            shapes = found
        return shapes

    def _select(self, node, cur: Type, key: ir.Term, kt: Type, const, checked: bool) -> list[Shape] | str:
        """What `key` selects in a value of type `cur` (the collection literal `node` if
        known), or why it selects nothing; below a node of OPA's rule tree (not
        `checked`) only a literal's keys and a set's member types are looked at."""
        if cur == ANY:
            return [(None, ANY)]
        if cur[0] in _SCALARS:
            return f"a {show(cur)} has no members"
        if node is not None and const is not _NOT_CONST:
            found = _lookup(node, cur, const)
            if found is _MISSING:
                return f"`{const!r}` is not a key of {show(cur)}"
            if found is not None:
                return self._shapes_of(found[0], found[1])
        if checked or cur[0] == "set":
            if cur[0] == "array" and const is not _NOT_CONST:  # OPA reads the key's text as an int64
                fits = isinstance(const, int) and not isinstance(const, bool) and 0 <= const < 2 ** 63 \
                    and (key.text is None or re.fullmatch(r"-?[0-9]+", key.text) is not None)
            else:
                fits = not cur[1] or T.meets(kt, _keys(node, cur))
            if not fits:
                return f"a {show(cur)} has no {show(kt)} keys"
        if isinstance(node, _COMPREHENSIONS) or node is not None and node.items and const is _NOT_CONST:
            return self._members(node, cur)
        return [(None, _member(cur, kt))]

    def _members(self, node, cur: Type) -> list[Shape]:
        """The shapes of the values `some v in` a value of shape `(node, cur)` gives:
        each constant member of a collection literal its own, the rest as one."""
        if isinstance(node, _COMPREHENSIONS):  # each member is what the head gives
            head = node.value if isinstance(node, ir.ObjectCompr) else node.term
            return self._shapes_of(head, T.members(cur)[1]) if not _constant(head) \
                else [(_literal(head), T.loose(self.term(head)))]
        if node is None or not node.items:
            return [(None, T.members(cur)[1])]
        values = [v for _, v in node.items] if isinstance(node, ir.Object) else list(node.items)
        shapes, rest = [], False
        for v in values:
            if _constant(v):
                shapes.append((_literal(v), T.loose(self.term(v))))
            elif id(v) in self.rules.items:
                shapes += self.rules.items[id(v)]
            else:
                rest = True
        if rest:
            shapes.append((None, T.members(cur)[1]))
        return shapes

    def _shapes_of(self, member: ir.Term, t: Type) -> list[Shape]:
        """The shapes of a member of a collection literal, of type `t`."""
        if (lit := _literal(member)) is not None:
            return [(lit, t)]
        return self.rules.items.get(id(member), [(None, t)])

    def pattern_type(self, t: ir.Term) -> Type:
        """The type a function's parameter pattern has once its body is checked."""
        match t:
            case ir.Var(name=name):
                return self.vars.get(name, ANY)
            case ir.Array(items=items):
                return T.array(T.union(*map(self.pattern_type, items))) if items else T.ARRAY
            case ir.Object():
                return T.OBJECT
            case ir.Scalar() | ir.Set():
                return self.term(t)
        return ANY

    def match(self, span, pattern: ir.Term, shapes: list[Shape]) -> bool:
        """Refuse, as OPA's checker does, an array or object pattern no shape of the
        value it is unified with can match: an array of another length, an object of
        other keys, another type (OPA types a literal position by position, key by
        key). True when refused."""
        if type(pattern) not in (ir.Array, ir.Object) or not shapes:
            return False
        if all(_mismatch(pattern, node, t) for node, t in shapes):
            self._error(span, "match error", f"`{_kind(pattern)}` pattern cannot match: "
                                             f"{show(_type_of(shapes))}")
            return True
        return False

    def repeats(self, span, pattern: ir.Term, shapes: list[Shape]) -> bool:
        """Refuse, as OPA's checker does, a pattern that holds one variable twice where
        every shape of the value puts two values of different static types (`[a, a] =
        [1, "s"]`: OPA types `a` by its first position, then cannot unify the second).
        True when refused."""
        if type(pattern) not in (ir.Array, ir.Object) or not shapes:
            return False
        if all(_repeats(pattern, node, t, {}) for node, t in shapes):
            self._error(span, "match error", f"a variable of the `{_kind(pattern)}` pattern would be bound "
                                             f"to values of two types: {show(_type_of(shapes))}")
            return True
        return False

    def unify(self, span, left: Type, right: Type) -> None:
        if not T.meets(left, right):
            self._error(span, "match error", f"left: {show(left)}, right: {show(right)}")

    def _error(self, span, message: str, help: str) -> None:
        if not span.line and self.where is not None:  # a term of no tokens of its own (`{} == []`)
            span = self.where
        self.diags.append(Diagnostic(code=Code.REGO_TYPE_ERROR, message=message, span=span, help=help))


_SCALARS = ("null", "boolean", "number", "string")
_NOT_CONST, _MISSING = object(), object()

Shape = tuple  # (the collection literal or comprehension a value is, or None; its type)
_COMPREHENSIONS = (ir.ArrayCompr, ir.SetCompr, ir.ObjectCompr)


def _type_of(shapes: list[Shape]) -> Type:
    return shapes[0][1] if len(shapes) == 1 else T.union(*(t for _, t in shapes))


def _split(shapes: list[Shape]) -> list[Shape]:
    """One shape per type a value of unknown literal may have, as OPA selects in each
    type of a union and refuses a key only when no type has it."""
    out: list[Shape] = []
    for node, t in shapes:
        if node is None and t[0] == "any" and t[1]:
            out += [(None, o) for o in t[1]]
        else:
            out.append((node, t))
    return out


def _chain(r: ir.Rule):
    while r is not None:
        yield r
        r = r.else_


def _constant_key(key: ir.Term):
    return key.value if isinstance(key, ir.Scalar) else _NOT_CONST


def _same_key(a, b) -> bool:
    """Key equality as Rego has it: `true` is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
    return (numbers or type(a) is type(b)) and a == b


def _lookup(node, t: Type, key):
    """`(member node, member type)` a constant `key` selects in a collection literal,
    `_MISSING` when it selects nothing, None when that is only known at run time."""
    match node:
        case ir.Array(items=()) | ir.Object(items=()):  # OPA types `[]` and `{}` as open
            return None
        case ir.Array(items=items):
            if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(items):
                return items[key], t[1][key]
            return _MISSING
        case ir.Object(items=items):
            for i, (k, v) in enumerate(items):
                if isinstance(k, ir.Scalar) and _same_key(k.value, key):
                    return v, t[1][i][1]
            dynamic = _dynamic_key(node, t)
            if dynamic is None or not T.meets(_key_type(key), dynamic):
                return _MISSING
    return None


def _keys(node, t: Type) -> Type:
    """The type of the keys of a value of type `t` (the literal `node` if known): of an
    object literal, OPA's types keep its constant keys and its last non-constant one."""
    if isinstance(node, ir.Object) and node.items and t[0] == "object" and len(t[1]) == len(node.items):
        dynamic = _dynamic_key(node, t)
        return T.union(*(t[1][i][0] for i, (k, _) in enumerate(node.items) if _constant(k)),
                       *(() if dynamic is None else (dynamic,)))
    return T.members(t)[0]


# OPA's order of terms, by kind; a variable, reference or call of a key ranks as one
# (OPA may have moved the latter two into variables of its own by then)
_KEY_RANK = {ir.Array: 6, ir.Object: 7, ir.Set: 8, ir.ArrayCompr: 9, ir.ObjectCompr: 10, ir.SetCompr: 11}


def _dynamic_key(node: ir.Object, t: Type) -> Type | None:
    """The type OPA keeps for the non-constant keys of an object literal (None: it has
    none): that of the greatest in OPA's order of terms alone, which overwrites the
    others. Keys of that greatest kind are taken together (their order is not worked
    out here), which can only accept more than OPA."""
    dynamic = [(_KEY_RANK.get(type(k), 4), i) for i, (k, _) in enumerate(node.items) if not _constant(k)]
    if not dynamic:
        return None
    top = max(rank for rank, _ in dynamic)
    return T.union(*(t[1][i][0] for rank, i in dynamic if rank == top))


def _constant(t: ir.Term) -> bool:
    match t:
        case ir.Scalar():
            return True
        case ir.Array(items=items) | ir.Set(items=items):
            return all(_constant(x) for x in items)
        case ir.Object(items=items):
            return all(_constant(k) and _constant(v) for k, v in items)
    return False


def _key_type(k) -> Type:
    """The type of a constant key of a reference head."""
    if isinstance(k, str):
        return T.STRING
    if isinstance(k, bool):
        return T.BOOLEAN
    return T.NUMBER if k is not None else T.NULL


def _member(t: Type, key: Type) -> Type:
    """The type of a member of a value of type `t` found by a key of type `key`."""
    match t[0]:
        case "set" if key != ANY:  # a set's member is the key that found it
            return key
        case "array" | "set" | "object":
            return T.members(t)[1]
        case "any" if t[1]:
            found = [_member(o, key) for o in t[1] if o[0] not in _SCALARS]
            return T.union(*found) if found else ANY
    return ANY


def _pattern_vars(t: ir.Term) -> set[str]:
    match t:
        case ir.Var(name=name):
            return {name}
        case ir.Array(items=items):
            return set().union(*map(_pattern_vars, items))
        case ir.Object(items=pairs):
            return set().union(*(_pattern_vars(v) for _, v in pairs))
    return set()


def _kind(t: ir.Term) -> str:
    return "array" if type(t) is ir.Array else "object"


def _const_keys(obj: ir.Object) -> list | None:
    keys = []
    for k, _ in obj.items:
        if type(k) is not ir.Scalar or type(k.value) is not str:
            return None
        keys.append(k.value)
    return keys


def _mismatch(pattern: ir.Term, node: ir.Term | None, t: Type, top: bool = True, param: bool = False) -> bool:
    """Whether `pattern` surely cannot match a value of literal `node` (None: unknown)
    of type `t`. A function's `param`eter pattern that is an empty array or object takes
    any array or object, at any depth."""
    kind = type(pattern)
    if kind not in (ir.Array, ir.Object, ir.Scalar):
        return False
    if node is None or type(node) not in (ir.Array, ir.Object, ir.Set, ir.Scalar):
        if kind is ir.Scalar:
            return False
        return type(node) is not (ir.ArrayCompr if kind is ir.Array else ir.ObjectCompr) and (
            t != ANY and not T.meets(T.ARRAY if kind is ir.Array else T.OBJECT, t))
    if kind is ir.Scalar:
        return type(node) is not ir.Scalar or not T.meets(T.of_value(pattern.value), T.of_value(node.value))
    if type(node) is not kind:
        return True
    if not node.items:
        return False  # OPA types an empty value as a collection of any length and keys
    if not pattern.items:
        return not top and not param  # and an empty pattern too, but inside another one
    if kind is ir.Array:
        return len(pattern.items) != len(node.items) or any(
            _mismatch(p, v, ANY, False, param) for p, v in zip(pattern.items, node.items))
    pk, nk = _const_keys(pattern), _const_keys(node)
    if pk is None or nk is None:
        return False
    if sorted(pk) != sorted(nk):
        return True
    values = dict(zip(nk, (v for _, v in node.items)))
    return any(_mismatch(p, values[k], ANY, False, param) for k, (_, p) in zip(pk, pattern.items))


def _rejects(pattern: ir.Term, node: ir.Term | None, t: Type, types: dict[str, Type]) -> bool:
    """Whether a parameter `pattern`, whose variables a definition's body typed as
    `types`, surely cannot match an argument of literal `node` (None: unknown) of type
    `t`: by its shape (`_mismatch`), or a variable's type at a position of the literal."""
    return _mismatch(pattern, node, t, param=True) or _clashes(pattern, node, t, types)


def _empty_written(pattern: ir.Term, arg: ir.Term) -> bool:
    """Whether an argument written as a literal holds an empty array or object where the
    pattern has members: OPA types such a literal as empty, where through a variable
    it is of any length."""
    match pattern, arg:
        case ir.Array(items=ps), ir.Array(items=xs):
            return bool(ps) and not xs or len(ps) == len(xs) and any(map(_empty_written, ps, xs))
        case ir.Object(), ir.Object():
            pk, ak = _const_keys(pattern), _const_keys(arg)
            if pk is None or ak is None:
                return False
            if pk and not ak:
                return True
            values = dict(zip(ak, (v for _, v in arg.items)))
            return any(_empty_written(p, values[k]) for k, (_, p) in zip(pk, pattern.items) if k in values)
    return False


def _clashes(pattern: ir.Term, node: ir.Term | None, t: Type, types: dict[str, Type]) -> bool:
    match pattern:
        case ir.Var(name=name):
            return not fits(t, types.get(name, ANY))
        case ir.Array(items=items) if type(node) is ir.Array and t[0] == "array" \
                and len(items) == len(node.items) == len(t[1]):
            return any(_clashes(p, v, mt, types) for p, v, mt in zip(items, node.items, t[1]))
        case ir.Array(items=items) if type(node) is ir.ArrayCompr and t[0] == "array" and len(t[1]) == 1:
            # an array of any length, each member of the head's type: each position must take it
            return any(_clashes(p, None, t[1][0], types) for p in items)
        case ir.Object(items=pairs) if type(node) is ir.Object and t[0] == "object" \
                and len(node.items) == len(t[1]) and (keys := _const_keys(node)) is not None:
            values = {k: (v, vt) for k, (_, v), (_, vt) in zip(keys, node.items, t[1])}
            return any(_clashes(p, *values[k.value], types) for k, p in pairs
                       if type(k) is ir.Scalar and k.value in values)
        case ir.Scalar(value=v) if type(node) is not ir.Scalar:
            return not T.meets(T.of_value(v), t)
        case ir.Array() | ir.Object() if type(node) not in (ir.Array, ir.Object, ir.Set):
            return not T.meets(T.ARRAY if type(pattern) is ir.Array else T.OBJECT, t)
    return False


def _repeats(pattern: ir.Term, node: ir.Term | None, t: Type, seen: dict[str, Shape]) -> bool:
    """Whether a variable `pattern` holds twice meets two values of the literal `node`
    (of type `t`) whose static types cannot be one (`seen`: the first value of each)."""
    match pattern:
        case ir.Var(name=name) if not name.startswith("$"):  # a `_` is a new variable each time
            if name in seen:
                return _static_clash(seen[name], (node, t))
            seen[name] = (node, t)
        case ir.Array(items=ps) if type(node) is ir.Array and len(ps) == len(node.items):
            ts = t[1] if t[0] == "array" and len(t[1]) == len(ps) else (ANY,) * len(ps)
            return any(_repeats(p, v, mt, seen) for p, v, mt in zip(ps, node.items, ts))
        case ir.Object(items=pairs) if type(node) is ir.Object:
            values = _values_by_key(node, t)
            return values is not None and any(_repeats(p, *values[k.value], seen) for k, p in pairs
                                              if type(k) is ir.Scalar and k.value in values)
    return False


def _static_clash(a: Shape, b: Shape) -> bool:
    """Whether two values (literal, type) have static types OPA cannot unify: of other
    kinds, or literals of other lengths or keys, or so at some position or key (an empty
    literal is typed as of any length and keys)."""
    (n1, t1), (n2, t2) = a, b
    if not T.meets(t1, t2):
        return True
    if type(n1) is ir.Array and type(n2) is ir.Array and n1.items and n2.items:
        if len(n1.items) != len(n2.items):
            return True
        ts1 = t1[1] if t1[0] == "array" and len(t1[1]) == len(n1.items) else (ANY,) * len(n1.items)
        ts2 = t2[1] if t2[0] == "array" and len(t2[1]) == len(n2.items) else (ANY,) * len(n2.items)
        return any(_static_clash((x, tx), (y, ty)) for x, tx, y, ty in zip(n1.items, ts1, n2.items, ts2))
    if type(n1) is ir.Object and type(n2) is ir.Object and n1.items and n2.items:
        v1, v2 = _values_by_key(n1, t1), _values_by_key(n2, t2)
        if v1 is None or v2 is None:
            return False
        return set(v1) != set(v2) or any(_static_clash(v1[k], v2[k]) for k in v1)
    return False


def _values_by_key(node: ir.Object, t: Type) -> dict | None:
    """An object literal's (value, type) by constant string key; None if a key is not one."""
    keys = _const_keys(node)
    if keys is None:
        return None
    ts = [vt for _, vt in t[1]] if t[0] == "object" and len(t[1]) == len(keys) else [ANY] * len(keys)
    return {k: (v, vt) for k, (_, v), vt in zip(keys, node.items, ts)}


def _literal(t: ir.Term | None) -> ir.Term | None:
    """`t` when it is a collection literal, whose keys are known before evaluation."""
    return t if isinstance(t, (ir.Array, ir.Object, ir.Set)) else None
