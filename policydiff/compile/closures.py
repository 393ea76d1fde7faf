"""Closure compilation: ordered bodies to Python functions that evaluate them.

Every rule definition runs in a frame, a list whose slot 0 holds the evaluation
context and slot 1 the sink its head writes to; every other slot is a variable. The
planner (`plan`) decides statically where each variable gets bound, so a closure never
asks whether a slot is set: it reads what an earlier step wrote. A body is a chain of
literal closures `run(env) -> stop`, each calling the next for every solution it finds
(continuation passing); `True` means stop enumerating. Terms compile to plain functions
`f(env) -> value`; references whose keys contain unbound variables are hoisted out of
their literal into iteration steps that bind those variables first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, assert_never

from policydiff import ir
from policydiff.compile import observe, plan, withs
from policydiff.compile.builtins import BUILTINS, OUT_OF_SCOPE, BuiltinError, Unsupported
from policydiff.compile.values import UNDEFINED, Obj, equal, freeze
from policydiff.compile.values.access import (
    input_path,
    input_root,
    items,
    lookup,
    members,
    path,
    walker,
)
from policydiff.compile.values.build import (
    NOT_LITERAL,
    checked_set,
    collection,
    literal,
    object_of,
    object_of_pairs,
)
from policydiff.compile.values.order import (
    OrderWatch,
    construction,
    guarded_object,
    guarded_set,
    object_builder,
    set_builder,
)
from policydiff.errors import Code, PolicyError

Run = Callable[[list], bool]
Fn = Callable[[list], Any]


def _found(env) -> bool:
    return True


def _site_walker(kind: str, arg, use: observe.Use, w):
    """A reference's first key over a kept literal, as OPA walks its members (`_site`):
    a variable meets each in its order, a bound key (`get`) finds the first equal."""
    plain = walker(kind, arg, w)
    if kind == "get":
        def get(env, v):
            walk = env[use.slot]
            if walk is None or type(v) is not Obj:  # a set's lookup is the key itself
                return plain(env, v)
            c = _first(walk, arg(env))
            return False if c is UNDEFINED else w(env, c)

        return get

    def site(env, v):
        walk = env[use.slot]
        if walk is None:  # all constant: OPA's order is the value's
            return plain(env, v)
        for k, c in walk:
            env[arg] = k
            if w(env, c):
                return True
        return False

    return site


def _first(walk: list, k):
    """The value of the first key of `walk` equal to `k` (OPA's lookup in a kept object)."""
    if k is UNDEFINED:
        return k
    for k2, c in walk:
        if equal(k2, k):
            return c
    return UNDEFINED


def _site_lookup(root: Fn, keys: list[Fn], use: observe.Use, plain: Fn) -> Fn:
    """`o.x` (and keys after) on a kept object: the first equal key in OPA's order."""
    k0, more = keys[0], keys[1:]

    def site_lookup(env):
        v = root(env)  # first: a literal standing here leaves its walk as it is built
        walk = env[use.slot]
        if walk is None or type(v) is not Obj:  # a set's lookup is the key itself
            return plain(env)
        v = _first(walk, k0(env))
        for kf in more:
            if v is UNDEFINED:
                return v
            v = lookup(v, kf(env))
        return v

    return site_lookup


def _site(cf: Fn, km, vm, use: observe.Use, nxt: Run) -> Run:
    """A `some … in` over a kept literal: its members as OPA walks them, in its own
    order and each one (`observe`), which the literal's builder leaves in `use.slot`."""

    def site(env):
        c = cf(env)
        if c is UNDEFINED:
            return False
        walk = env[use.slot]
        if walk is None:  # all constant, built without a builder: OPA's order is the value's
            walk = items(c) if type(c) is Obj or type(c) is frozenset else ()
        for k, v in walk:
            if (km is None or km(env, k)) and vm(env, v) and nxt(env):
                return True
        return False

    return site


class Frame:
    """Slot allocation for one rule definition (or query)."""

    def __init__(self):
        self.slots: dict[str, int] = {}
        self.size = 2

    def slot(self, name: str) -> int:
        s = self.slots.get(name)
        if s is None:
            s = self.slots[name] = self.size
            self.size += 1
        return s

    def temp(self) -> int:
        self.size += 1
        return self.size - 1


class Linker(Protocol):
    """What a `Compiler` asks of the program it compiles for (`program.Program`): the
    rules by path, what `with` replaces, and the closures for `data` references and
    user function calls. `deps` collects the rules a closure reads."""

    rules: dict[tuple[str, ...], Any]  # path -> `rule.CompiledRule`
    order: OrderWatch  # whether the rules' iterations' order is observed (`values.order`)
    mocked: frozenset[str]  # the functions and builtins some `with` replaces
    data_targets: frozenset[tuple[str, ...]]  # the paths below `data` some `with` replaces

    def data_root(self, path: tuple, deps: set, comp: Compiler) -> tuple[Fn, tuple]:
        """The closure for the longest prefix of `data.<path>` resolved when compiling,
        and the keys left."""
        ...

    def data_fn(self, deps: set) -> Fn:
        """The closure for the whole `data` document."""
        ...

    def function_fn(self, call: ir.Call, fs: list[Fn], deps: set) -> Fn:
        """The closure calling the user function `call` names on the values of `fs`."""
        ...

    def inlinable(self, t: ir.Term) -> tuple | None:
        """The rule a literal `t` names and its tests, when they can run in its place."""
        ...


class Compiler:
    """Compiles the bodies and terms of one frame. `program` resolves `data` references
    and user functions (a `Linker`)."""

    def __init__(self, program: Linker, frame: Frame, deps: set, owner=None):
        self.program = program
        self.frame = frame
        self.deps = deps
        self.owner = owner  # the rule being compiled, told when it reads `input`
        self.mocked = program.mocked  # a query's compiler adds the builtins its own `with`s replace
        # the term being compiled is (a member of) a builtin's argument: OPA hands the
        # builtin its value, where elsewhere it keeps a set or object literal's term
        self.plugged = False
        self.order = program.order  # a query's compiler watches its own (`values.order`)
        self.uses: observe.Uses = {}  # the kept literals of the unit followed (`observe`)
        self._guards: dict[int, ir.Node] = {}  # the comprehensions those uses need guarded
        self._guarded: set[int] = set()  # ... and those compiled so, and the sites walked
        self._origin: dict[int, ir.Node] = {}  # a rewritten site -> the one `observe` saw

    def follow(self, uses: observe.Uses) -> None:
        """Compile the unit's kept literals as `observe` found them used."""
        self.uses = uses
        self._guards = {id(g): g for _, u in uses.values() for g in u.guards}
        for _, u in uses.values():
            if u.sites and u.slot < 0:
                u.slot = self.frame.temp()  # the members in OPA's order, for the sites

    def settle(self) -> None:
        """After the unit's body: a use whose comprehension was not compiled guarded
        (rewritten on the way) counts as seeing the order."""
        for _, u in self.uses.values():
            if not all(id(g) in self._guarded for g in u.guards + u.sites):
                u.ordered = u.iterated = True  # walked in value order: refused out of order

    # ------------------------------------------------------------------------- bodies

    def body(self, body, bound: set[str], outer: frozenset[str], final: Run, span=None,
             pieces: list | None = None, ground_pieces: bool = True) -> tuple[Run, set[str]]:
        """The body's run and the variables bound after it. Given a list `pieces`, the
        body is compiled literal by literal and its `Pieces` appended there (a body
        without variables only if `ground_pieces`)."""
        if not plan.body_vars(body, set()):
            # no variables (the common `input.x == "y"`, `rule_ref`): nothing to order,
            # bind or iterate
            if pieces is not None and ground_pieces:
                run, p = self._pieces(list(body), [bound] * len(body), outer, final, True)
                pieces.append(p)
                return run, set(bound)
            run = final
            for lit in reversed(body):
                run = self.literal(lit, bound, outer, run, ground=True)
            return run, set(bound)
        diags = plan.redeclarations(body, bound) + plan.unused_declarations(body)
        if diags:
            raise PolicyError(diags)
        ordered, after, diags = plan.order(body, bound, outer, span)
        if diags:
            raise PolicyError(diags)
        bounds = []
        b = set(bound)
        for lit in ordered:
            bounds.append(set(b))
            b |= plan.analyse(lit, b, outer).binds
        if pieces is not None:
            run, p = self._pieces(ordered, bounds, outer, final, False)
            pieces.append(p)
            return run, after
        run = final
        for lit, bl in zip(reversed(ordered), reversed(bounds)):
            run = self.literal(lit, bl, outer, run)
        return run, after

    def _pieces(self, lits, bounds, outer, final: Run, ground: bool):
        """Compile ordered literals one by one, each told to a stand-in owner and deps
        of its own to learn what it reads, with a stop after each of the first (see
        `Collect`)."""
        n = len(lits)
        rests: list = [None] * n + [final]
        reads: list = [None] * n
        deps: list = [None] * n
        owner, all_deps = self.owner, self.deps
        run = final
        try:
            for i in reversed(range(n)):
                if i < MAX_STOPS and i < n - 1:  # after the last, the body's own emit stops
                    run = _stop(i, run)
                seen = self.owner = _Reads()
                used = self.deps = set()
                run = self.literal(lits[i], bounds[i], outer, run, ground)
                # most literals use no rule and many read nothing: one shared empty set
                paths = seen.input_paths  # None: reads the input whole
                if paths is not None:  # kept for `dispatch` and `prefixes`, which only read it
                    paths = frozenset(paths)
                    paths = _SHARED_READS.setdefault(paths, paths) if len(_SHARED_READS) < 4096 else paths
                rests[i], reads[i], deps[i] = run, paths, used or _NOTHING
                all_deps |= used
                if owner is not None:
                    owner.uses_input = owner.uses_input or seen.uses_input
                    if seen.input_paths is None:
                        owner.input_paths = None
                    elif owner.input_paths is not None:
                        owner.input_paths |= seen.input_paths
        finally:
            self.owner, self.deps = owner, all_deps
        return run, Pieces(rests, reads, deps, ground)

    def literal(self, lit: ir.Literal, bound: set[str], outer, nxt: Run, ground: bool = False) -> Run:
        bound = set(bound)
        match lit:
            case ir.Expr(term=term, negated=False):
                inline = self.program.inlinable(term) if isinstance(term, ir.Ref) else None
                if inline is not None:  # `same_enterprise`: its tests, in place of its value
                    rule, tests = inline
                    self.deps.add(rule)
                    run = nxt
                    for test in reversed(tests):
                        run = self.literal(test, bound, outer, run, ground=True)
                    return run
                steps: list = []
                if not ground:
                    term = self.hoist(term, bound, outer, steps)
                if isinstance(term, ir.Call) and term.func in ("equal", "neq") and len(term.args) == 2:
                    return _wrap(steps, self._comparison(term, bound, outer, nxt))
                f = self.term(term, bound, outer)

                def run(env):
                    v = f(env)
                    if v is UNDEFINED or v is False:
                        return False
                    return nxt(env)

                return _wrap(steps, run)
            case ir.Expr(term=term, negated=True):
                # OPA evaluates the references and calls nested in a negated expression
                # before the negation (its compiler moves them out): when one of them is
                # undefined, the body fails instead of the negation holding.
                hoisted: list[tuple[str, ir.Term]] = []
                term = self._carry_tree(term, plan.hoist_negated(term, hoisted, lambda: f"$not{self.frame.temp()}"))
                outside = [(self.frame.slot(n), self.term(t, bound, outer)) for n, t in hoisted]
                bound |= {n for n, _ in hoisted}
                if isinstance(term, ir.Call) and term.func == "internal.unify":
                    inner = self.literal(ir.Unify(span=lit.span, lhs=term.args[0], rhs=term.args[1]),
                                         bound, outer, _found)
                else:
                    inner = self.literal(ir.Expr(span=lit.span, term=term), bound, outer, _found)

                def negation(env):
                    for s, f in outside:
                        v = f(env)
                        if v is UNDEFINED:
                            return False
                        env[s] = v
                    if inner(env):
                        return False
                    return nxt(env)

                return negation
            case ir.With():
                return self._with(lit, bound, outer, nxt, ground)
            case ir.Assign(lhs=lhs, rhs=rhs):
                return self._match(lhs, rhs, bound, outer, nxt)
            case ir.Unify(lhs=lhs, rhs=rhs):
                n = plan.Needs()
                plan.value(rhs, bound, n, outer)
                if n.ok:
                    plan.pattern(lhs, bound | n.binds, n, outer)
                if n.ok:
                    return self._match(lhs, rhs, bound, outer, nxt)
                return self._match(rhs, lhs, bound, outer, nxt)
            case ir.Some():
                return nxt
            case ir.SomeIn(key=key, value=value, collection=coll):
                steps = []
                cf = self.term(self.hoist(coll, bound, outer, steps), bound, outer)
                km = self.matcher(key, bound, outer, steps) if key is not None else None
                vm = self.matcher(value, bound, outer, steps)
                site = self._use(lit)
                if site is not None:
                    self._guarded.add(id(lit))
                    return _wrap(steps, _site(cf, km, vm, site, nxt))

                if km is None:
                    def some_in(env):  # members only: no keys to pair them with
                        c = cf(env)
                        t = type(c)
                        if t is not tuple:
                            if t is not Obj and t is not frozenset:
                                return False
                            c = members(c)
                        for v in c:
                            if vm(env, v) and nxt(env):
                                return True
                        return False

                    return _wrap(steps, some_in)

                def some_kv_in(env):
                    c = cf(env)
                    t = type(c)
                    if t is Obj or t is tuple or t is frozenset:
                        for k, v in items(c):
                            if km(env, k) and vm(env, v) and nxt(env):
                                return True
                    return False

                return _wrap(steps, some_kv_in)
            case ir.Every(key=key, value=value, domain=domain, body=body):
                steps = []
                df = self.term(self.hoist(domain, bound, outer, steps), bound, outer)
                ks = self.frame.slot(key) if key else None
                vs = self.frame.slot(value)
                inner_bound = bound | {value} | ({key} if key else set())
                inner_outer = outer | plan.shallow_vars(body) | inner_bound
                inner, _ = self.body(body, inner_bound, frozenset(inner_outer), _found, lit.span)

                site = self._use(lit)
                if site is not None:
                    self._guarded.add(id(lit))

                def every(env):
                    d = df(env)
                    t = type(d)
                    if not (t is Obj or t is tuple or t is frozenset):
                        return False
                    walk = env[site.slot] if site is not None else None  # OPA's order (`observe`)
                    for k, v in items(d) if walk is None else walk:
                        if ks is not None:
                            env[ks] = k
                        env[vs] = v
                        if not inner(env):
                            return False
                    return nxt(env)

                return _wrap(steps, every)
        assert_never(lit)

    def _comparison(self, t: ir.Call, bound, outer, nxt: Run) -> Run:
        """`a == b` / `a != b` as a body literal: the commonest test in a policy."""
        want = t.func == "equal"
        lhs, rhs = t.args
        if type(lhs) not in _NEVER_LITERAL and literal(lhs) is not NOT_LITERAL:
            lhs, rhs = rhs, lhs
        c = NOT_LITERAL if type(rhs) in _NEVER_LITERAL else literal(rhs)
        if type(c) is str:  # `input.x == "admin"`: one call less per test
            a = self.term(lhs, bound, outer)

            def compare_str(env):
                x = a(env)
                if (x == c and type(x) is str) is want and x is not UNDEFINED:
                    return nxt(env)
                return False

            return compare_str
        a, b = self.term(lhs, bound, outer), self.term(rhs, bound, outer)

        def compare(env):
            x = a(env)
            if x is UNDEFINED:
                return False
            y = b(env)
            if y is UNDEFINED:
                return False
            same = (x == y) if type(x) is str else equal(x, y)
            if same is want:
                return nxt(env)
            return False

        return compare

    def _match(self, pat, val, bound, outer, nxt: Run) -> Run:
        steps: list = []
        vf = self.term(self.hoist(val, bound, outer, steps), bound, outer)
        m = self.matcher(pat, bound, outer, steps)

        def match(env):
            v = vf(env)
            if v is UNDEFINED or not m(env, v):
                return False
            return nxt(env)

        return _wrap(steps, match)

    def matcher(self, t, bound: set[str], outer, steps) -> Callable[[list, Any], bool]:
        """A function matching a value against pattern `t`, binding its unbound vars."""
        match t:
            case ir.Var(name=name) if plan.is_local(name) and name not in bound:
                bound.add(name)
                s = self.frame.slot(name)

                def bind(env, v):
                    env[s] = v
                    return True

                return bind
            case ir.Array(items=items_) if not plan.ground(t, bound, outer):
                ms = [self.matcher(x, bound, outer, steps) for x in items_]
                n = len(ms)

                def array(env, v):
                    if type(v) is not tuple or len(v) != n:
                        return False
                    for m, x in zip(ms, v):
                        if not m(env, x):
                            return False
                    return True

                return array
            case ir.Object(items=pairs) if not plan.ground(t, bound, outer):
                kfs = [self.term(self.hoist(k, bound, outer, steps), bound, outer) for k, _ in pairs]
                vms = [self.matcher(v, bound, outer, steps) for _, v in pairs]
                n = len(pairs)

                def obj(env, v):
                    if type(v) is not Obj or len(v) != n:
                        return False
                    for kf, m in zip(kfs, vms):
                        x = v.get(kf(env), UNDEFINED)
                        if x is UNDEFINED or not m(env, x):
                            return False
                    return True

                return obj
        c = literal(t)
        if type(c) is str:  # `f("admin")`: a constant argument

            def same_str(env, v):
                return v == c

            return same_str
        f = self.term(self.hoist(t, bound, outer, steps), bound, outer)

        def same(env, v):
            return equal(f(env), v)

        return same

    # ------------------------------------------------------------------------ hoisting

    def hoist(self, t, bound: set[str], outer, steps: list):
        """Move references that must iterate out of `t` into `steps`; returns `t` with
        each replaced by a temporary variable (bound by its step)."""
        match t:
            case ir.Ref(head=head, path=path):
                head = self.hoist(head, bound, outer, steps)
                keys = []
                iterate = False
                for k in path:
                    if plan.ground(k, bound, outer):
                        keys.append(self.hoist(k, bound, outer, steps))
                    else:
                        iterate = True
                        keys.append(k)
                if head is t.head and all(k is k0 for k, k0 in zip(keys, path)):
                    ref = t  # unchanged: itself, as `observe` saw it
                else:
                    ref = self._carry(t, ir.Ref(span=t.span, head=head, path=tuple(keys)))
                if not iterate:
                    return ref
                name = f"$ref{self.frame.temp()}"
                steps.append(self._iteration(ref, bound, outer, steps, name))
                bound.add(name)
                return ir.Var(span=t.span, name=name)
            case ir.Call(args=args):
                ys = tuple(self.hoist(a, bound, outer, steps) for a in args)
                return t if all(x is y for x, y in zip(args, ys)) else ir.Call(span=t.span, func=t.func, args=ys)
            case ir.Array(items=xs):
                ys = tuple(self.hoist(x, bound, outer, steps) for x in xs)
                return t if all(x is y for x, y in zip(xs, ys)) else ir.Array(span=t.span, items=ys)
            case ir.Set(items=xs):
                ys = tuple(self.hoist(x, bound, outer, steps) for x in xs)
                # unchanged, the literal stays itself (`observe` follows it); with members
                # moved out, it is another literal to OPA's parser and is not followed
                return t if all(x is y for x, y in zip(xs, ys)) else ir.Set(span=t.span, items=ys)
            case ir.Object(items=pairs):
                ps = tuple((self.hoist(k, bound, outer, steps), self.hoist(v, bound, outer, steps)) for k, v in pairs)
                same = all(k is k2 and v is v2 for (k, v), (k2, v2) in zip(pairs, ps))
                return t if same else ir.Object(span=t.span, items=ps)
        return t

    def _carry_tree(self, old, new):
        """`new`, a rewrite of `old`: its references that stand where `old`'s did are
        used as those are (`_carry`); a literal rewritten is another literal."""
        if self.uses and type(old) is type(new):
            if isinstance(old, ir.Ref) and old is not new:  # a site: its key may be rewritten
                self._carry(old, new)
            if isinstance(old, ir.Node) and old is not new:
                for f in old.__struct_fields__:
                    self._carry_tree(getattr(old, f), getattr(new, f))
            elif isinstance(old, tuple) and len(old) == len(new):
                for x, y in zip(old, new):
                    self._carry_tree(x, y)
        return new

    def _carry(self, old, new):
        """`new`, a rewrite of the literal or site `old`, used as `old` is (`observe`)."""
        found = self.uses.get(id(old))
        if found is not None and found[0] is old:
            self.uses[id(new)] = (new, found[1])
            self._origin[id(new)] = self._origin.get(id(old), old)
        return new

    def _iteration(self, ref: ir.Ref, bound: set[str], outer, steps, name: str):
        """A step builder enumerating `ref`, binding the variables of its keys."""
        root, rest = self.root(ref, bound, outer)
        walkers: list = []
        for k in rest:
            if plan.ground(k, bound, outer):
                walkers.append(("get", self.term(k, bound, outer)))
            elif isinstance(k, ir.Var):
                bound.add(k.name)
                walkers.append(("each", self.frame.slot(k.name)))
            else:
                walkers.append(("match", self.matcher(k, bound, outer, steps)))
        site = self._use(ref)
        if site is not None and len(rest) == len(ref.path) and walkers[0][0] in ("get", "each"):
            # a site (`observe`): a key bound already looks up, else the walk is OPA's
            self._guarded.add(id(self._origin.get(id(ref), ref)))
            walkers[0] = ("site", (walkers[0][0], walkers[0][1], site))
        out = self.frame.slot(name)

        def build(nxt: Run) -> Run:
            def last(env, v):
                env[out] = v
                return nxt(env)

            w = last
            for kind, arg in reversed(walkers):
                w = _site_walker(*arg, w) if kind == "site" else walker(kind, arg, w)
            first = w

            def iterate(env):
                v = root(env)
                if v is UNDEFINED:
                    return False
                return first(env, v)

            return iterate

        return build

    # --------------------------------------------------------------------------- terms

    def term(self, t, bound: set[str], outer) -> Fn:
        plugged = self.plugged
        self.plugged = False
        try:
            return self._term(t, bound, outer, plugged)
        finally:
            self.plugged = plugged

    def _term(self, t, bound: set[str], outer, plugged: bool) -> Fn:
        kind = type(t)
        if kind is ir.Ref and type(t.head) is ir.Var and t.head.name == "input" and t.path and all(
                type(k) is ir.Scalar and type(k.value) is str for k in t.path):
            return self._input_path(tuple(k.value for k in t.path))  # the commonest term
        if kind not in _NEVER_LITERAL:
            c = literal(t)
            if c is not NOT_LITERAL:
                return lambda env: c
        match t:
            case ir.Scalar(value=v):
                return _const(v)
            case ir.Ref(head=ir.Var(name="input"), path=p) if p and all(
                    isinstance(k, ir.Scalar) and type(k.value) is str for k in p):
                return self._input_path(tuple(k.value for k in p))
            case ir.Var(name=name):
                if name == "input":
                    if self.owner is not None:
                        self.owner.uses_input = True
                        self.owner.input_paths = None  # read whole: no slice to key on
                    return input_root
                if name == "data":
                    whole = self.program.data_fn(self.deps)
                    return withs.data_view((), whole) if self.program.data_targets else whole
                s = self.frame.slot(name)
                return lambda env: env[s]
            case ir.Ref():
                root, rest = self.root(t, bound, outer)
                keys = [self.term(k, bound, outer) for k in rest]
                plain = path(root, keys, [k.value for k in rest if isinstance(k, ir.Scalar)]
                             if all(isinstance(k, ir.Scalar) for k in rest) else None)
                site = self._use(t)
                if site is None or len(rest) != len(t.path):
                    return plain
                self._guarded.add(id(self._origin.get(id(t), t)))  # a site (`observe`) looking up
                return _site_lookup(root, keys, site, plain)
            case ir.Array(items=xs):
                self.plugged = plugged  # members are plugged with the literal
                fs = [self.term(x, bound, outer) for x in xs]
                return collection(fs, tuple)
            case ir.Set(items=xs):
                self.plugged = plugged
                fs = [self.term(x, bound, outer) for x in xs]
                built = construction(list(xs))
                if built.plain:
                    return collection(fs, frozenset)
                return set_builder(fs, built, t.span, plugged, self.order, self._use(t))
            case ir.Object(items=pairs):
                self.plugged = plugged
                kfs = [self.term(k, bound, outer) for k, _ in pairs]
                vfs = [self.term(v, bound, outer) for _, v in pairs]
                built = construction([k for k, _ in pairs])
                if built.plain:
                    return object_of(kfs, vfs)
                return object_builder(kfs, vfs, built, t.span, plugged, self.order, self._use(t))
            case ir.Call():
                return self.call(t, bound, outer)
            case ir.ArrayCompr(term=head, body=body):
                self.order.observed = True
                return self._compr(t, [head], body, bound, outer, lambda acc: tuple(acc))
            case ir.SetCompr(term=head, body=body):
                return self._compr(t, [head], body, bound, outer, guarded_set(t.span) if self._guard(t)
                                   else checked_set)
            case ir.ObjectCompr(key=k, value=v, body=body):
                return self._compr(t, [k, v], body, bound, outer, guarded_object(t.span, object_of_pairs(t))
                                   if self._guard(t) else object_of_pairs(t))
        assert_never(t)

    def _guard(self, t) -> bool:
        """Whether comprehension `t` iterates a kept literal out of OPA's order (`observe`)."""
        if self._guards.get(id(t)) is t:
            self._guarded.add(id(t))
            return True
        return False

    def _use(self, t) -> observe.Use | None:
        found = self.uses.get(id(t))
        return found[1] if found is not None and found[0] is t else None

    def _input_path(self, keys: tuple) -> Fn:
        if self.owner is not None:  # a slice of the input: memos key on it
            self.owner.uses_input = True
            if self.owner.input_paths is not None:
                self.owner.input_paths.add(keys)
        f = _INPUT_PATHS.get(keys)
        if f is None:
            if len(_INPUT_PATHS) >= 4096:
                _INPUT_PATHS.clear()
            f = _INPUT_PATHS[keys] = input_path(keys)
        return f

    def _compr(self, t, heads, body, bound, outer, finish) -> Fn:
        sink = self.frame.temp()
        names = [f"$compr{self.frame.temp()}" for _ in heads]
        extra = [ir.Unify(span=t.span, lhs=ir.Var(span=t.span, name=n), rhs=h) for n, h in zip(names, heads)]
        inner_outer = frozenset(outer | plan.shallow_vars(body) | plan.term_vars(ir.Array(items=tuple(heads)), set()))
        slots = [self.frame.slot(n) for n in names]
        if len(slots) == 1:
            (s,) = slots

            def emit(env):
                env[sink].append(env[s])
                return False
        else:
            ks, vs = slots

            def emit(env):
                env[sink].append((env[ks], env[vs]))
                return False

        run, _ = self.body(tuple(body) + tuple(extra), set(bound), inner_outer, emit, t.span)

        def comprehension(env):
            acc: list = []
            env[sink] = acc
            run(env)
            return finish(acc)

        return comprehension

    def _with(self, lit: ir.With, bound, outer, nxt: Run, ground: bool) -> Run:
        """The literal in an evaluation with the input or functions replaced (see
        `withs`); what follows it runs in the evaluation it came from."""
        outside = self.frame.temp()

        def after(env):
            inside = env[0]
            env[0] = env[outside]
            try:
                return nxt(env)
            finally:
                env[0] = inside

        inner = self.literal(lit.literal, bound, outer, after, ground)
        values = [self.term(v, bound, outer) for v in lit.values]
        makers = [self._replacement(rep, lit.span) for rep in lit.replacements]
        targets = lit.targets

        def with_(env):
            ctx = env[0]
            vals = []
            for t, f, make in zip(targets, values, makers):
                if make is not None:
                    vals.append(make)
                    continue
                v = f(env)
                if v is UNDEFINED:
                    return False
                vals.append(v if t[0] != "fn" else withs.Replacement(value=v))
            env[outside] = ctx
            env[0] = withs.derive(ctx, targets, vals)
            try:
                return inner(env)
            finally:
                env[0] = ctx

        return with_

    def _replacement(self, name: str | None, span):
        if name is None:
            return None
        if name.startswith("data."):
            r = self.program.rules.get(tuple(name.split(".")[1:]))
            if r is None:
                return withs.Replacement()
            self.deps.add(r)
            return withs.Replacement(call=r.call)
        if name not in BUILTINS:  # already reported by `resolve`; never evaluated
            return withs.Replacement()
        fn = BUILTINS[name][1]

        def builtin(ctx, args):
            try:
                return fn(*args)
            except Unsupported as e:
                raise PolicyError.at(Code.UNSUPPORTED, str(e), span) from None
            except (BuiltinError, TypeError, ValueError, KeyError, IndexError, OverflowError,
                    ZeroDivisionError) as e:
                if ctx.strict:
                    raise PolicyError.at(getattr(e, "code", "eval_builtin_error"), f"{name}: {e}", span) from None
                return UNDEFINED

        return withs.Replacement(call=builtin)

    def call(self, t: ir.Call, bound, outer) -> Fn:
        fn = self._call(t, bound, outer)
        if t.func not in self.mocked:
            return fn
        fs = [self.term(a, bound, outer) for a in t.args]
        call = withs.mocked(t.func, fn)
        return lambda env: call(env, fs)

    def _call(self, t: ir.Call, bound, outer) -> Fn:
        self.plugged = t.func in BUILTINS and t.func not in self.mocked
        fs = [self.term(a, bound, outer) for a in t.args]
        self.plugged = False
        if t.func.startswith("data."):
            return self.program.function_fn(t, fs, self.deps)
        span = t.span
        if t.func not in BUILTINS:
            return _unreplaced(t.func, fs, span)
        fn = BUILTINS[t.func][1]
        name = t.func

        def failed(env, e: Exception):
            if isinstance(e, Unsupported):
                raise PolicyError.at(Code.UNSUPPORTED, str(e), span)
            if env[0].strict:
                code = getattr(e, "code", "eval_builtin_error")
                raise PolicyError.at(code, f"{name}: {e}" if not str(e).startswith(name) else str(e), span)
            return UNDEFINED

        errors = (BuiltinError, TypeError, ValueError, KeyError, IndexError, OverflowError, ZeroDivisionError)
        if len(fs) == 1:
            (f0,) = fs

            def call1(env):
                a = f0(env)
                if a is UNDEFINED:
                    return UNDEFINED
                try:
                    return fn(a)
                except errors as e:
                    return failed(env, e)

            return call1
        if len(fs) == 2:
            f0, f1 = fs

            def call2(env):
                a = f0(env)
                if a is UNDEFINED:
                    return UNDEFINED
                b = f1(env)
                if b is UNDEFINED:
                    return UNDEFINED
                try:
                    return fn(a, b)
                except errors as e:
                    return failed(env, e)

            return call2

        def calln(env):
            args = []
            for f in fs:
                a = f(env)
                if a is UNDEFINED:
                    return UNDEFINED
                args.append(a)
            try:
                return fn(*args)
            except errors as e:
                return failed(env, e)

        return calln

    def root(self, ref: ir.Ref, bound, outer) -> tuple[Fn, tuple]:
        """The function producing the value the deterministic prefix of `ref` names,
        and the keys left to apply. `data` prefixes are resolved against the rules."""
        head = ref.head
        if isinstance(head, ir.Var) and head.name == "data":
            if self.program.data_targets:
                return self._replaced_data(ref)
            return self.program.data_root(ref.path, self.deps, self)
        return self.term(head, bound, outer), ref.path

    def _replaced_data(self, ref: ir.Ref) -> tuple[Fn, tuple]:
        """A `data` reference in a program where `with` replaces documents below data:
        its constant prefix read through `withs.data_view` when it meets one of them."""
        n = 0
        while n < len(ref.path) and isinstance(ref.path[n], ir.Scalar) and isinstance(ref.path[n].value, str):
            n += 1
        prefix = tuple(k.value for k in ref.path[:n])
        if not any(t[:n] == prefix[:len(t)] for t in self.program.data_targets):
            return self.program.data_root(ref.path, self.deps, self)
        root, rest = self.program.data_root(ref.path[:n], self.deps, self)
        keys = [k.value for k in rest]

        def plain(env):
            v = root(env)
            for k in keys:
                if v is UNDEFINED:
                    break
                v = v.get(k, UNDEFINED) if type(v) is Obj else UNDEFINED
            return v

        return withs.data_view(prefix, plain), ref.path[n:]


# ------------------------------------------------------------------------ pieces

MAX_STOPS = 3  # the first literals of a body compiled in pieces, after which it can stop
MAX_SOLUTIONS = 64  # solutions a `Collect` takes before it stops the body


class Pieces:
    """A body compiled literal by literal, in evaluation order: `rests[i]` runs it from
    literal `i` on; `reads[i]` is the set of input paths literal `i` reads itself (None
    when it reads the input whole) and `deps[i]` the rules it uses. `ground`: the body
    has no variables."""

    __slots__ = ("deps", "ground", "reads", "rests")

    def __init__(self, rests, reads, deps, ground: bool):
        self.rests = rests
        self.reads = reads
        self.deps = deps
        self.ground = ground


class Collect(list):
    """A sink for slot 1 that stops a body compiled in pieces after its literal `at`:
    each solution of the literals up to there is appended as a copy of the frame. After
    the last literal there is no stop: the body's head writes to the sink."""

    __slots__ = ("at",)

    def __init__(self, at: int):
        super().__init__()
        self.at = at


class _Reads:
    """Stands in for a rule while one literal is compiled, to learn what it reads."""

    def __init__(self):
        self.uses_input = False
        self.input_paths: set | None = set()


# `input.a.b` as a function of the keys alone (`access.input_path` keeps no other
# state), made once per path and shared by every literal that reads it: a large policy
# reads a few paths tens of thousands of times.
_INPUT_PATHS: dict[tuple, Fn] = {}
_NOTHING: frozenset = frozenset()
# terms `build.literal` always finds not constant: asked only of the others
_NEVER_LITERAL = frozenset({ir.Ref, ir.Var, ir.Call, ir.ArrayCompr, ir.SetCompr, ir.ObjectCompr})
_SHARED_READS: dict[frozenset, frozenset] = {_NOTHING: _NOTHING}  # the same paths, one set


def _stop(i: int, nxt: Run) -> Run:
    def stop(env):
        out = env[1]
        if type(out) is Collect and out.at == i:
            out.append(env.copy())
            return len(out) > MAX_SOLUTIONS  # past that, the caller evaluates plainly
        return nxt(env)

    return stop


# ------------------------------------------------------------------------------ helpers


def _wrap(steps, run: Run) -> Run:
    for build in reversed(steps):
        run = build(run)
    return run


def _const(v) -> Fn:
    v = freeze(v)
    return lambda env: v


def _unreplaced(name: str, fs: list[Fn], span) -> Fn:
    """A builtin outside the subset, kept by `resolve` because a `with` of the policy
    replaces it (`Compiler.call` looks for the replacement first): reached without one,
    the answer would come from the clock, the network or the environment, so the
    evaluation stops with `unsupported` naming it, never guesses (undefined arguments
    leave the call undefined, as OPA never calls the builtin then)."""
    why = f"its answer depends on {OUT_OF_SCOPE[name]}" if name in OUT_OF_SCOPE else "it is not implemented"

    def call(env):
        for f in fs:
            if f(env) is UNDEFINED:
                return UNDEFINED
        raise PolicyError.at(Code.UNSUPPORTED, f"builtin `{name}` is not supported, and this evaluation reaches "
                             f"it without a `with` replacing it ({why})", span)

    return call
