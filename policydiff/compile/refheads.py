"""General reference heads: the value of a `TreeGroup` and of any path into it.

`roles[t][u] := true if …`, `p[x].q contains y if …`, a partial object `p[k] := v if …`
(a head with one variable), and the plain rules that share a path with them, are one
object in OPA: every solution of every member puts its value
(or, for `contains`, one member of a set) at the path its head gives, and the object
holds them all. Two solutions putting different values at one path, or a value where
another solution goes deeper, are an `eval_conflict_error` ("object keys must be
unique"); sets at one path are merged. The object of a tree is always defined (`{}`
when nothing holds); a path below it only where some solution reaches it, except in
a tree whose heads are all constant, where every node of a head is there as in a
package.

A reference into a tree with constant keys (`data.p.roles.acme`, `roles["acme"]`) or
keys read from the input (`roles[input.tenant]`) evaluates only the members that can
reach that path, and only the solutions that do, as OPA does: a conflict elsewhere in
the tree does not show, and a member reading the tree's own path is recursive only if
it can reach it.
"""

from __future__ import annotations

from typing import Any, Protocol

from policydiff import ir
from policydiff.compile import observe, plan
from policydiff.compile.closures import Compiler, Frame, Linker
from policydiff.compile.resolve import VAR, Member, TreeGroup
from policydiff.compile.rule import CompiledRule, Ctx, Definition
from policydiff.compile.values import UNDEFINED, Obj, canon, equal, obj_of
from policydiff.compile.values.access import lookup
from policydiff.compile.values.build import checked_set
from policydiff.errors import Code, PolicyError

__all__ = ["RefTree"]


class Members(Linker, Protocol):
    """What a tree asks of the program that links it: the compiler's callbacks, and
    compiling a plain member as any rule (`program.Program`)."""

    def compile_rule(self, r: CompiledRule) -> None: ...


class RefRule(CompiledRule):
    """One general reference-head rule; its value in a context is the list of its
    solutions, each a (path below the tree, value) pair. For a path whose first keys
    are known (`roles.acme`, `roles[input.t]`), it runs a variant of its body that
    binds those head terms first, as OPA unifies a rule's head with the keys asked for
    before its body: the body then meets only the solutions on that path (so an error
    or a conflict on another path does not show)."""

    def __init__(self, tree: TreeGroup, member: Member):
        super().__init__(tree)
        self.kind = "ref"
        self.member = member
        self.definition: Definition | None = None
        self.prefix = member.pattern[:len(member.pattern) - len(member.rule.ref)]
        self.known: dict[int, tuple[Definition, list[int]]] = {}  # head terms bound first -> variant

    def compile(self, program: Members) -> None:
        self.definition, _ = self._variant(program, 0)
        for n in range(1, len(self.member.rule.ref) + 1):
            try:
                self.known[n] = self._variant(program, n)
            except PolicyError:  # no such variant: the keys filter the solutions instead
                continue

    def _variant(self, program: Members, n: int) -> tuple[Definition, list[int]]:
        rule = self.member.rule
        frame = Frame()
        comp = Compiler(program, frame, self.deps, owner=self)
        keys = [f"$key{i}" for i in range(n)]
        body = list(rule.body)
        # each key is tested right after the literal that binds its head term's last
        # variable: where OPA binds it before the body, nothing between can run
        at = []
        for k, t in zip(keys, rule.ref):
            wanted = plan.term_vars(t, set(), deep=False)
            seen: set[str] = set()
            i = 0
            while wanted - seen and i < len(body):
                seen |= plan.literal_vars(body[i], set(), deep=False)
                i += 1
            at.append((i, ir.Unify(span=t.span, lhs=t, rhs=ir.Var(span=t.span, name=k))))
        for i, lit in sorted(at, key=lambda x: -x[0]):
            body.insert(i, lit)
        names = [f"$head{i}" for i in range(len(rule.ref))]
        out = rule.key if rule.kind == "partial_set" else rule.value
        for name, t in zip(names + ["$out"], rule.ref + (out,)):
            body.append(ir.Unify(span=t.span, lhs=ir.Var(span=t.span, name=name), rhs=t))
        key_slots = [frame.slot(k) for k in keys]
        slots = [frame.slot(h) for h in names]
        value_slot = frame.slot("$out")
        prefix = self.prefix

        def emit(env):
            env[1].append((prefix + tuple(env[s] for s in slots), env[value_slot]))
            return False

        bound = set(keys)
        body = tuple(body)
        comp.follow(observe.observe(body, listed=True, mocked=program.mocked))  # keys are values
        run, _ = comp.body(body, bound, frozenset(plan.shallow_vars(body) | bound), emit, rule.span)
        comp.settle()
        return Definition(run, frame.size, rule.span, None), key_slots

    def evaluate(self, ctx: Ctx):
        return _solve(self.definition, (), (), ctx)

    def solutions(self, ctx: Ctx, keys: tuple) -> list:
        """The solutions on the path `keys` (below the tree's root) begins with."""
        c = len(self.prefix)
        n = min(len(keys) - c, len(self.member.rule.ref))
        if n <= 0 or n not in self.known:
            return self.value(ctx)
        given = keys[c:c + n]
        cache_key = (self, given)
        out = ctx.cache.get(cache_key)
        if out is None:
            d, key_slots = self.known[n]
            out = ctx.cache[cache_key] = _solve(d, key_slots, given, ctx)
        return out


def _solve(d: Definition, key_slots, keys, ctx: Ctx) -> list:
    env = d.blank.copy()
    env[0] = ctx
    out = env[1] = []
    for s, k in zip(key_slots, keys):
        env[s] = k
    d.run(env)
    return out


class RefTree(CompiledRule):
    """The rules of a `TreeGroup`, as the one object they build."""

    def __init__(self, group: TreeGroup):
        super().__init__(group)
        # made before anything is compiled: a reference into the tree, in a member or
        # in any other rule, names the members it can reach
        self.parts: list[tuple[Member, CompiledRule]] = [
            (m, RefRule(group, m) if m.rule is not None else CompiledRule(m.group)) for m in group.members]
        self.deps.update(p for _, p in self.parts)
        self.ground = all(VAR not in m.pattern for m in group.members)
        self._whole_fails = [False, False]  # by ctx.strict: the whole object of a static tree fails

    def compile(self, program: Members) -> None:
        """Compile every member (a plain rule below the root through `program`, as any
        rule)."""
        for _, part in self.parts:
            if isinstance(part, RefRule):
                part.compile(program)
            else:
                program.compile_rule(part)

    def evaluate(self, ctx: Ctx):
        v = self._at(ctx, (), self.parts)
        if ctx.explain:  # the members that put something in the object
            ctx.prov[self] = tuple(m.span for m, part in self.parts if self._contributions(m, part, ctx, ()))
        return v

    def root(self, rest: tuple, deps: set, comp: Compiler):
        """The value at the keys `rest` begins with, as far as they are constants or read
        from the input, and the keys left; `deps` gets only the members that can reach
        that path."""
        keys: list = []
        for k in rest:
            if isinstance(k, ir.Scalar):
                keys.append((k.value, None))
            elif _input_path(k):
                keys.append((VAR, comp.term(k, set(), frozenset())))
            else:
                break
        if not keys:
            deps.add(self)
            return self.value_fn, rest
        pattern = tuple(c for c, _ in keys)
        parts = [(m, p) for m, p in self.parts if _may_meet(m.pattern, pattern)]
        deps.update(p for _, p in parts)
        n = len(keys)
        if all(f is None for _, f in keys):
            const = pattern

            def at_constant(env):
                return self._keyed(env[0], const, parts)

            return at_constant, rest[n:]

        def at_keys(env):
            ks = []
            for c, f in keys:
                k = c if f is None else f(env)
                if k is UNDEFINED:
                    return UNDEFINED
                ks.append(k)
            return self._keyed(env[0], tuple(ks), parts)

        return at_keys, rest[n:]

    def _keyed(self, ctx: Ctx, keys: tuple, parts) -> Any:
        """The value at `keys`. A tree that reads no input has its whole object computed
        once (set by `Program`): where that holds, what it has at `keys` is OPA's answer
        too; where it fails (a conflict, an error somewhere), the path is built alone."""
        if self.static and not self._whole_fails[ctx.strict]:
            try:
                v = self.value(ctx)
            except PolicyError as e:
                if e.code == Code.UNSUPPORTED or not e.code.startswith("eval_"):
                    raise
                self._whole_fails[ctx.strict] = True
            else:
                for k in keys:
                    v = lookup(v, k)
                    if v is UNDEFINED:
                        break
                return v
        return self._at(ctx, keys, parts)

    # ---- building the object

    def _at(self, ctx: Ctx, keys: tuple, parts) -> Any:
        """The value at `keys` below the root: built from the solutions that reach it."""
        top = _Dir()
        above: list = []
        for m, part in parts:
            if not _may_meet(m.pattern, keys):
                continue
            for path, v, how in self._contributions(m, part, ctx, keys):
                if not _agrees(path, keys):
                    continue
                if len(path) < len(keys) and how in ("vset", "gset", "set"):
                    above.append((path, v, how, m))
                else:
                    _insert(top, path, v, how, m, self.name)
        # a set above the keys asked for, where other rules go deeper: OPA looks the keys
        # up in the set (nothing found) and meets no conflict, as it does for the whole
        for path, v, how, m in above:
            if type(_node_at(top, path)) is not _Dir:
                _insert(top, path, v, how, m, self.name)
        node: Any = top
        for i, k in enumerate(keys):
            if type(node) is _Dir:
                hit = node.get(_slot(k))
                if hit is None:
                    return UNDEFINED
                node = hit[1]
            else:
                v = _value(node, self.name)
                for k2 in keys[i:]:
                    v = lookup(v, k2)
                    if v is UNDEFINED:
                        break
                return v
        return _value(node, self.name)

    def _contributions(self, m: Member, part: CompiledRule, ctx: Ctx, keys: tuple):
        """(path, value, how) for every solution of a member (see `_insert`)."""
        if m.rule is not None:
            how = "vset" if m.shape == "set" else "value"
            return [(path, v, how) for path, v in part.solutions(ctx, keys)]
        v = part.value(ctx)
        if m.shape == "set":
            if self.ground:  # a constant set rule is there even when empty, as in a package
                return [(m.pattern, v, "set")]
            return [(m.pattern, x, "gset") for x in v]
        if v is UNDEFINED:
            return [(m.pattern[:-1], None, "dir")] if self.ground and len(m.pattern) > 1 else []
        return [(m.pattern, v, "value")]


class _Dir(dict):
    """An object the heads build: slot -> (key, child)."""

    __slots__ = ()


class _Leaf:
    """What the members put at one path: a value, the members a `contains` rule with a
    variable in its head gives there (`vset`), the members of a plain partial set
    there (`gset`)."""

    __slots__ = ("gset", "member", "value", "vset")

    def __init__(self, member: Member):
        self.value: Any = UNDEFINED
        self.vset: list | None = None
        self.gset: list | None = None
        self.member = member


def _slot(k):
    # Python takes `true` for 1; OPA's keys do not (inside an array key too: `[false]`, `[0]`)
    t = type(k)
    return (t is bool, canon(k) if t is tuple or t is frozenset or t is Obj else k)


def _conflict(m: Member, name: str) -> PolicyError:
    return PolicyError.at(Code.EVAL_CONFLICT_ERROR,
                          f"object keys must be unique: two rules of `{name}` put different values at one path",
                          m.span)


def _insert(top: _Dir, path: tuple, v, how: str, m: Member, name: str) -> None:
    """Put one solution at `path`: a `value`, one member of a `vset` or `gset`, a whole
    `set` (a constant head's, even empty), or (`dir`) only the objects leading there."""
    node = top
    steps = path if how == "dir" else path[:-1]
    for k in steps:
        hit = node.get(_slot(k))
        if hit is None:
            child = _Dir()
            node[_slot(k)] = (k, child)
            node = child
        elif type(hit[1]) is _Dir:
            node = hit[1]
        else:
            raise _conflict(m, name)
    if how == "dir":
        return
    last = path[-1]
    hit = node.get(_slot(last))
    if hit is None:
        leaf = _Leaf(m)
        node[_slot(last)] = (last, leaf)
    elif type(hit[1]) is _Dir:
        raise _conflict(m, name)
    else:
        leaf = hit[1]
    if how == "value":
        if leaf.value is not UNDEFINED and not equal(leaf.value, v):
            raise _conflict(m, name)
        leaf.value = v
    elif how == "vset":
        leaf.vset = (leaf.vset or []) + [v]
    elif how == "gset":
        leaf.gset = (leaf.gset or []) + [v]
    else:
        leaf.gset = (leaf.gset or []) + list(v)
    leaf.member = m


def _node_at(top: _Dir, path: tuple):
    node: Any = top
    for k in path:
        if type(node) is not _Dir:
            return None
        hit = node.get(_slot(k))
        if hit is None:
            return None
        node = hit[1]
    return node


def _node_member(node: _Dir) -> Member:
    """A member that put something below `node`, to name a position."""
    while type(node) is _Dir:
        node = next(iter(node.values()))[1]
    return node.member


def _value(node, name: str = "") -> Any:
    """The value the members built. As OPA merges them at one path: the values must be
    equal; the members of `contains` rules with variables must make that same set;
    a plain partial set's members join a set value (and nothing else)."""
    if type(node) is _Dir:
        obj = obj_of([(k, _value(child, name)) for k, child in node.values()])
        if len(obj) < len(node):  # (never: `obj_of` keeps `true` and 1 apart)
            raise PolicyError.at(Code.UNSUPPORTED, f"an object of `{name}` with both a boolean and a number "
                                 "as keys is not supported", _node_member(node).span)
        return obj
    v = node.value
    if node.vset is not None:
        s = checked_set(node.vset)
        if v is not UNDEFINED and not equal(v, s):
            raise _conflict(node.member, name)
        v = s
    if node.gset is not None:
        if v is UNDEFINED:
            v = frozenset()
        if type(v) is not frozenset:
            raise _conflict(node.member, name)
        v = checked_set(list(v) + node.gset)
    return v


def _may_meet(pattern: tuple, keys: tuple) -> bool:
    """Whether a member's head pattern can reach the path `keys` begins with."""
    for p, k in zip(pattern, keys):
        if p is VAR or k is VAR:
            continue
        if not equal(p, k) or (type(p) is bool) != (type(k) is bool):
            return False
    return True


def _agrees(path: tuple, keys: tuple) -> bool:
    for p, k in zip(path, keys):
        if not equal(p, k) or (type(p) is bool) != (type(k) is bool):
            return False
    return True


def _input_path(t: ir.Term) -> bool:
    """`input.a.b` with constant keys: a key known before any body of the tree runs."""
    return isinstance(t, ir.Ref) and isinstance(t.head, ir.Var) and t.head.name == "input" \
        and all(isinstance(k, ir.Scalar) for k in t.path)
