"""Where a set or object literal OPA keeps as a term can be seen member by member.

OPA keeps a set or object literal with non-constant members as a term (`values.order`):
iterating it sees every member, even two equal ones, in the term's own order (constants
first), while a builtin's argument, a comparison or a printed binding gets its value.

A `some … in` or an `every` over such a literal, or a reference to it whose first key
is not a pattern (`s[k]`, `s[_]`, `o.x`, `o[input.k]`), is a `site`: the compiler has it
walk the members as OPA does (`Use.sites`), so wherever it stands it answers as OPA (a
reference whose key is bound looks up the first equal key in that order, as OPA does).
Any other iteration (a key that is a pattern) walks the value, in value order, so its
order must not show: it shows where the solutions are listed in order (an array
comprehension, a query whose solutions are listed, a rule's values), or may stop early
while something after it can raise an error (`every`, `not`, a rule's or an unlisted
query's body, which stop at the first failure or success). A set or object
comprehension sees every solution and keeps none of their order, but of two equal
elements written apart (`0`, `0.0`) it keeps the first: such a comprehension is a
`guard`, whose collisions the compiler refuses (`Use.guards`).

`observe` reads one unit's body (a rule definition with its head folded in, or a query)
and tells, for each literal it can follow (iterated right where it stands, or bound by
`:=`/`=` to a local whose every use, and every copy's (`t := s`), it sees), how its
term is used (`Use`). A literal it cannot follow (the local reaches another literal, a
rule's value, a user function, a `with`) is absent and keeps the conservative check of
`values.order`.
"""

from __future__ import annotations

from policydiff import ir

# builtins that cannot raise: an early stop after them is the same in any order
_QUIET = frozenset({"equal", "neq", "lt", "gt", "lte", "gte", "internal.member_2", "internal.member_3"})

_VALUE, _ITERATE, _UNKNOWN, _DEF, _ALIAS, _SITE = range(6)


class Use:
    """How a kept literal's term is used: `iterated` (other than at a site: either
    sees equal members apart), `ordered` (such an iteration whose order may show), `guards` (the set and object comprehensions that
    iterate it so, whose equal elements written apart must be refused) and `sites`
    (the `some … in`, `every` and references with a variable key that iterate it: the
    compiler has them walk its members in OPA's order, which the builder keeps in frame
    slot `slot`). When the compiler cannot guard a comprehension or walk a site so,
    it sets `ordered` and `iterated`."""

    __slots__ = ("guards", "iterated", "ordered", "sites", "slot")

    def __init__(self, iterated: bool = False, ordered: bool = False, guards: tuple = (), sites: tuple = ()):
        self.iterated = iterated
        self.ordered = ordered
        self.guards = guards
        self.sites = sites
        self.slot = -1


Uses = dict[int, tuple[ir.Node, Use]]


def observe(body, *, listed: bool, mocked: frozenset = frozenset(), params: frozenset = frozenset()) -> Uses:
    """The uses of the literals of a unit's `body` that can be followed, by `id` (with
    the node, so a stale id is not mistaken). `listed`: the unit's solutions are listed
    in order; `mocked`: the builtins some `with` replaces (a call to one is not
    followed); `params`: a function's parameters (bound before the body)."""
    kinds: set = set()
    _kinds(body, kinds)
    if ir.With in kinds or not kinds & {ir.Set, ir.Object}:  # most bodies: nothing to follow
        return {}
    walk = _Walk(mocked)
    walk.body(body, listed or _may_raise(body))
    out: Uses = {}
    for node, use in walk.direct:
        _merge(out, node, use)
    for name, node in walk.defs:
        occs = _uses_of(walk, name, params, frozenset({name}))
        if occs is None:
            continue
        use = Use(iterated=any(kind == _ITERATE for kind, _, _ in occs),
                  ordered=any(kind == _ITERATE and sensitive for kind, sensitive, _ in occs),
                  guards=tuple(g for kind, sensitive, g in occs if kind == _ITERATE and not sensitive and g),
                  sites=tuple(site for kind, _, site in occs if kind == _SITE))
        _merge(out, node, use)
    owners: dict[int, list] = {}  # a site finds its literal's use
    for _, use in list(out.values()):
        for site in use.sites:
            owners.setdefault(id(site), []).append((site, use))
    for key, found in owners.items():
        if len(found) == 1:
            out[key] = found[0]
        else:  # two literals' (never expected): walked by neither, so refused out of order
            for _, use in found:
                use.ordered = use.iterated = True
    return out


def _uses_of(walk: _Walk, name: str, params: frozenset, seen: frozenset) -> list | None:
    """The uses of the local `name` and of the locals it is copied to (`t := s`: OPA
    keeps the term there too), or None when one cannot be followed."""
    if name in params or name.startswith("$") or name == "_":
        return None
    occs = walk.occs.get(name, [])
    if sum(kind == _DEF for kind, _, _ in occs) != 1 or any(kind == _UNKNOWN for kind, _, _ in occs):
        return None
    out = [o for o in occs if o[0] not in (_DEF, _ALIAS)]
    for copy in walk.aliases.get(name, ()):
        more = None if copy in seen else _uses_of(walk, copy, params, seen | {copy})
        if more is None:
            return None
        out.extend(more)
    return out


def _merge(out: Uses, node, use: Use) -> None:
    old = out.get(id(node))
    if old is not None:
        o = old[1]
        use = Use(o.iterated or use.iterated, o.ordered or use.ordered, o.guards + use.guards,
                  o.sites + use.sites)
    out[id(node)] = (node, use)


def _kept(t) -> bool:
    return isinstance(t, (ir.Set, ir.Object))


class _Walk:
    def __init__(self, mocked: frozenset):
        self.mocked = mocked
        self.defs: list[tuple[str, ir.Node]] = []
        self.direct: list[tuple[ir.Node, Use]] = []
        self.occs: dict[str, list[tuple[int, bool, ir.Node | None]]] = {}
        self.guard: ir.Node | None = None  # the set or object comprehension collecting here
        self.aliases: dict[str, list[str]] = {}  # a local -> the locals `:=` copies it to

    def occ(self, name: str, kind: int, sensitive: bool = False) -> None:
        self.occs.setdefault(name, []).append((kind, sensitive, self.guard))

    def body(self, lits, sensitive: bool, guard: ir.Node | None = None) -> None:
        outer, self.guard = self.guard, guard
        for lit in lits:
            negated = isinstance(lit, ir.Expr) and lit.negated
            self.literal(lit, sensitive or (negated and _may_raise(lit)))
        self.guard = outer

    def _direct(self, t, sensitive: bool) -> None:
        guards = (self.guard,) if self.guard is not None and not sensitive else ()
        self.direct.append((t, Use(iterated=True, ordered=sensitive, guards=guards)))

    def literal(self, lit, sensitive: bool) -> None:
        match lit:
            case ir.Assign(lhs=ir.Var(name=n), rhs=rhs) | ir.Unify(lhs=ir.Var(name=n), rhs=rhs) if _kept(rhs):
                self.defs.append((n, rhs))
                self.occ(n, _DEF)
                self.term(rhs, sensitive, _UNKNOWN)
            case ir.Assign(lhs=ir.Var(name=copy), rhs=ir.Var(name=n)):
                self.aliases.setdefault(n, []).append(copy)
                self.occ(n, _ALIAS)
                self.occ(copy, _DEF)
            case ir.Unify(lhs=lhs, rhs=ir.Var(name=n)) if _kept(lhs):
                self.defs.append((n, lhs))
                self.occ(n, _DEF)
                self.term(lhs, sensitive, _UNKNOWN)
            case ir.Assign(lhs=lhs, rhs=rhs) | ir.Unify(lhs=lhs, rhs=rhs):
                self.term(lhs, sensitive, _UNKNOWN)
                self.term(rhs, sensitive, _UNKNOWN)
            case ir.Expr(term=term):
                self.term(term, sensitive, _VALUE)
            case ir.SomeIn(key=key, value=value, collection=coll):
                if isinstance(coll, ir.Var):
                    self.occs.setdefault(coll.name, []).append((_SITE, sensitive, lit))
                elif _kept(coll):
                    self.direct.append((coll, Use(sites=(lit,))))
                    self.term(coll, sensitive, _UNKNOWN)
                else:
                    self.term(coll, sensitive, _UNKNOWN)
                if key is not None:
                    self.term(key, sensitive, _UNKNOWN)
                self.term(value, sensitive, _UNKNOWN)
            case ir.Every(key=key, value=value, domain=domain, body=body):
                stops = _may_raise(body)  # every stops at the first member that fails
                for n in (key, value):
                    if n:
                        self.occ(n, _UNKNOWN)
                if isinstance(domain, ir.Var):  # a site, walked as `some … in`
                    self.occs.setdefault(domain.name, []).append((_SITE, stops, lit))
                elif _kept(domain):
                    self.direct.append((domain, Use(sites=(lit,))))
                    self.term(domain, stops, _UNKNOWN)
                else:
                    self.term(domain, stops, _UNKNOWN)
                self.body(body, stops)
            case ir.Some(vars=names):
                for n in names:
                    self.occ(n, _UNKNOWN)
            case _:  # `with` (not followed at all) or a kind added later
                raise AssertionError(f"not followed: {type(lit).__name__}")

    def term(self, t, sensitive: bool, kind: int) -> None:
        """Walks `t`, whose use is `kind` when it is a variable."""
        match t:
            case ir.Var(name=n):
                self.occ(n, kind)
            case ir.Scalar():
                pass
            case ir.Ref(head=head, path=path):
                first = path[0] if path else None
                # `s[k]`, `s[_]`, `o.x`, `o[input.k]`: a site, unless the key is a pattern
                site = first is not None and not isinstance(first, (ir.Array, ir.Object, ir.Set))
                if isinstance(head, ir.Var):
                    if site:
                        self.occs.setdefault(head.name, []).append((_SITE, sensitive, t))
                    else:
                        self.occ(head.name, _UNKNOWN if first is None else _ITERATE, sensitive)
                else:
                    if _kept(head) and first is not None:
                        if site:
                            self.direct.append((head, Use(sites=(t,))))
                        else:
                            self._direct(head, sensitive)
                    self.term(head, sensitive, _UNKNOWN)
                for k in path:
                    self.term(k, sensitive, _UNKNOWN)
            case ir.Call(func=func, args=args):
                plugged = not func.startswith("data.") and func not in self.mocked
                for a in args:
                    self.term(a, sensitive, _VALUE if plugged else _UNKNOWN)
            case ir.Array(items=xs) | ir.Set(items=xs):
                for x in xs:
                    self.term(x, sensitive, _UNKNOWN)
            case ir.Object(items=pairs):
                for k, v in pairs:
                    self.term(k, sensitive, _UNKNOWN)
                    self.term(v, sensitive, _UNKNOWN)
            case ir.ArrayCompr(term=head, body=body):
                self.term(head, True, _UNKNOWN)
                self.body(body, True)
            case ir.SetCompr(term=head, body=body):
                self.term(head, False, _UNKNOWN)
                self.body(body, False, t)
            case ir.ObjectCompr(key=k, value=v, body=body):
                self.term(k, False, _UNKNOWN)
                self.term(v, False, _UNKNOWN)
                self.body(body, False, t)
            case _:
                raise AssertionError(f"not followed: {type(t).__name__}")


def _may_raise(node) -> bool:
    """Whether evaluating `node` may raise an error: a call other than a comparison, or
    a reference into `data` (a rule may raise)."""
    if isinstance(node, ir.Call) and node.func not in _QUIET:
        return True
    if isinstance(node, ir.Ref) and isinstance(node.head, ir.Var) and node.head.name == "data":
        return True
    return _any(node, _may_raise)


def _kinds(node, out: set) -> None:
    """Adds the kinds of the nodes in `node` to `out`."""
    if isinstance(node, (list, tuple)):
        for x in node:
            _kinds(x, out)
    elif isinstance(node, ir.Node):
        out.add(type(node))
        for f in node.__struct_fields__:
            x = getattr(node, f)
            if isinstance(x, (list, tuple, ir.Node)):
                _kinds(x, out)


def _any(node, pred) -> bool:
    if isinstance(node, (list, tuple)):
        return any(pred(x) for x in node)
    if isinstance(node, ir.Node):
        return any(pred(getattr(node, f)) for f in node.__struct_fields__)
    return False
