"""Linking: every rule of a policy compiled, tied to the rules it uses, and sped up.

A `Program` holds one `CompiledRule` (`rule`) per rule path, in a tree by package path
(`tree`), with the base `data` document. It compiles each body through
`closures.Compiler`, answering the compiler's callbacks (`closures.Linker`): a
reference into `data` resolves when compiling, to a rule, to the base document, or to
a package, whose value is built by merging its rules' values into the base data; a
call of a user function resolves to that function. It then refuses recursion and
installs, in this order, what the rules need and what makes them fast: `raising`'s
guards on the rules whose bodies can fail, then the speedups (`speedups.memo`,
`speedups.prefixes`, `speedups.dispatch`; `speedups.inline` is asked while compiling),
which remember what the guarded rules give.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from policydiff import ir
from policydiff.compile import observe, plan, raising
from policydiff.compile.closures import Compiler, Frame
from policydiff.compile.refheads import RefTree
from policydiff.compile.resolve import Group
from policydiff.compile.rule import MISS, CompiledRule, Ctx, Definition
from policydiff.compile.speedups import dispatch, inline, memo, prefixes
from policydiff.compile.values import UNDEFINED, Obj
from policydiff.compile.values.access import lookup
from policydiff.compile.values.build import NOT_LITERAL, literal
from policydiff.compile.values.order import OrderWatch
from policydiff.errors import Code, Diagnostic, PolicyError
from policydiff.source import Span


def _first_span(group: Group) -> Span:
    """Where the first definition of `group` stands (its default included), as OPA orders
    them: by module name, then by position."""
    rules = [*group.defs, *([group.default] if group.default is not None else [])]
    return min((r.span for r in rules), key=lambda s: (s.file, s.line, s.col), default=Span())


class Program:
    """Every rule of a policy, compiled, and the base data document."""

    def __init__(self, groups: dict[tuple[str, ...], Group], data: Obj, packages: tuple = ()):
        self.data = data
        self.order = OrderWatch()  # see `values.order`: the rules', then also the queries'
        # type errors found while linking that OPA's type checker reports, after safety and
        # recursion (`compile_modules` reports them with the type checker's)
        self.deferred: list[Diagnostic] = []
        self._reads: dict[CompiledRule, frozenset | None] = {}  # see `input_reads`
        self.rules = {path: RefTree(g) if g.kind == "tree" else CompiledRule(g) for path, g in groups.items()}
        # the functions and builtins some `with` replaces: their calls look for it
        targets = {t for g in groups.values() for t in plan.with_targets(g.defs)}
        self.mocked = frozenset(t[1] for t in targets if t[0] == "fn")
        self.data_targets = frozenset(t[1:] for t in targets if t[0] == "data")
        self.tree: dict = {}
        self._inliner = inline.Inliner(self.tree)
        for path, r in self.rules.items():
            node = self.tree
            for p in path[:-1]:
                nxt = node.setdefault(p, {})
                if not isinstance(nxt, dict):  # where OPA reports it: at the rule with rules below it
                    raise PolicyError.at(Code.REGO_TYPE_ERROR, f"package `{'.'.join(path[:-1])}` "
                                         f"conflicts with rule `{nxt.name}`", _first_span(nxt.group))
                node = nxt
            if isinstance(node.get(path[-1]), dict):
                raise PolicyError.at(Code.REGO_TYPE_ERROR, f"rule `{r.name}` conflicts with the rules below it",
                                     _first_span(r.group))
            node[path[-1]] = r
        for package in packages:  # a package without rules is an empty document (OPA's tree)
            node = self.tree
            for p in package:
                node = node.setdefault(p, {})
                if not isinstance(node, dict):
                    break
        diags: list[Diagnostic] = []
        for r in self.rules.values():
            try:
                self.compile_rule(r)
            except PolicyError as e:
                diags.extend(e.diagnostics)
        if diags:
            raise PolicyError(diags)
        self.rules_observe_order = self.order.observed  # before any query's
        self._check_recursion()
        self._install()

    def _install(self) -> None:
        """The guards, then the speedups: a memo remembers what the guarded computation
        gives (`CompiledRule.install_guard` refuses the other order)."""
        raising.guard(self)
        if not self.mocked and not self.data_targets:
            self._memoize()  # a memo outlives an evaluation: it cannot hold what `with` replaced

    def input_reads(self, r: CompiledRule) -> frozenset | None:
        """The constant-key input paths a rule reads, itself and through the rules and
        functions it uses, transitively; None when it reads the input whole."""
        seen = self._reads
        if r not in seen:
            acc = None if r.input_paths is None else set(r.input_paths)
            for d in r.deps:
                if acc is not None:
                    more = self.input_reads(d)
                    acc = None if more is None else acc | more
            seen[r] = None if acc is None else frozenset(acc)
        return seen[r]

    def _memoize(self) -> None:
        """Give each rule the speedups what it reads allows (`input_reads`), through the
        `CompiledRule.install_*` methods, in the order they check: remembered openings
        (`prefixes`), then the selector of bodies (`dispatch`), then the memo (`memo`)."""
        reads = self.input_reads

        def reads_of(rules) -> frozenset | None:
            acc: frozenset = frozenset()
            for d in rules:
                more = reads(d)
                if more is None:
                    return None
                acc |= more
            return acc

        for r in self.rules.values():
            paths = reads(r)
            if r.kind != "function" and (paths is None or len(paths) > memo.MAX_PATHS):
                # not remembered whole: its bodies' openings may be (`prefixes`)
                r.install_openings(partial(prefixes.remembered, reads_of=reads_of))
            if any(d.pieces is not None and d.pieces.ground for d in r.flat):
                r.install_selector(dispatch.selector(r.flat, reads_of))
            if paths is None:
                continue
            if r.kind == "function":
                if not paths:
                    r.install_call_memos()
                continue
            if not paths:
                r.static = True
                r.install_memo(memo.constant)
            elif len(paths) <= memo.MAX_PATHS and (r.deps or not all(_ground(d) for c in r.chains for d in c)):
                # a few tests of the input and nothing else cost less than a lookup
                r.install_memo(partial(memo.sliced, sorted(paths)))

    def compile_rule(self, r: CompiledRule) -> None:
        """Compile the bodies of `r` (the members of a reference-head tree: `refheads`)."""
        if r.kind == "tree":  # general reference heads (`refheads`)
            return r.compile(self)
        g = r.group
        if r.kind in ("complete", "function") and g.defs and all(rule.else_ is None for rule in g.defs):
            values = {literal(rule.value) for rule in g.defs}
            if len(values) == 1 and NOT_LITERAL not in values:
                (v,) = values
                if type(v) in (bool, str) or v is None:  # hashable, and never equal across types
                    r.uniform = v
        guard = r.uniform is not MISS and r.kind == "complete" and len(g.defs) >= dispatch.MIN_BODIES
        for rule in g.defs:
            chain = []
            link: ir.Rule | None = rule
            while link is not None:
                chain.append(self._definition(r, link, guard))
                link = link.else_
            r.chains.append(chain)
        if g.default is not None:
            d = g.default
            r.default = self._definition(r, ir.Rule(span=d.span, kind="complete", name=d.name, value=d.value))
            c = literal(d.value)
            if c is not NOT_LITERAL:
                r.default_const = c
        if r.uniform is not MISS:
            r.flat = [c[0] for c in r.chains]
            r.flat_runs = [(d, d.run) for d in r.flat]
            firsts = {c for d in r.flat for i, c in d.guards if i == 0}
            if firsts:
                r.any_first = [d for d in r.flat if all(i != 0 for i, _ in d.guards)]
                r.by_first = {c: [d for d in r.flat if all(i != 0 or k == c for i, k in d.guards)] for c in firsts}

    def _definition(self, r: CompiledRule, rule: ir.Rule, guard: bool = False) -> Definition:
        frame = Frame()
        comp = Compiler(self, frame, r.deps, owner=r)
        bound: set[str] = set()
        params = None
        span = rule.span
        if rule.kind == "function":
            ms = [comp.matcher(a, bound, frozenset(), []) for a in rule.args]

            params = _params(ms)

        body = list(rule.body)
        heads = []
        const = literal(rule.value) if rule.kind in ("complete", "function") else NOT_LITERAL
        if const is not NOT_LITERAL:
            heads.append(("$const", const))
        elif rule.kind in ("complete", "function"):
            heads.append(("$hv", rule.value))
        if rule.kind == "partial_set":
            heads.append(("$hk", rule.key))
        for name, t in heads:
            if name != "$const":
                body.append(ir.Unify(span=t.span, lhs=ir.Var(span=t.span, name=name), rhs=t))
        outer = frozenset(plan.shallow_vars(body) | bound)
        emit = self._emit(rule, frame, heads)
        # in pieces: the bodies `dispatch` may screen (without variables), and those
        # `prefixes` may remember (with variables, not of functions)
        pieces: list | None = [] if guard or rule.kind != "function" else None
        body = tuple(body)
        # a rule's values are listed (in order, or the first of equal ones kept)
        comp.follow(observe.observe(body, listed=heads[0][0] != "$const" or rule.kind == "partial_set",
                                    mocked=self.mocked,
                                    params=frozenset(plan.term_vars(ir.Array(items=rule.args), set()))))
        run, _ = comp.body(body, bound, outer, emit, span, pieces, ground_pieces=guard)
        comp.settle()
        guards = tuple((i, c) for i, c in ((i, literal(a)) for i, a in enumerate(rule.args)) if type(c) is str)
        return Definition(run, frame.size, span, params, guards, pieces[0] if pieces else None)

    def _emit(self, rule: ir.Rule, frame: Frame, heads):
        if heads[0][0] == "$const":
            value = heads[0][1]

            def emit_const(env):
                out = env[1]
                if out is not None:  # None when only whether a body holds is asked
                    out.append(value)
                return True

            return emit_const
        s = frame.slot(heads[0][0])
        if rule.kind == "partial_set":
            def emit_key(env):
                env[1].append(env[s])
                return False

            return emit_key
        stop = not plan.term_vars(rule.value, set())

        def emit_value(env):
            out = env[1]
            if out is not None:  # None when only whether a body holds is asked
                out.append(env[s])
            return stop

        return emit_value

    def _check_recursion(self) -> None:
        state: dict[CompiledRule, int] = {}
        stack: list[CompiledRule] = []

        def visit(r: CompiledRule):
            state[r] = 1
            stack.append(r)
            for d in r.deps:
                s = state.get(d, 0)
                if s == 1:
                    cycle = stack[stack.index(d):] + [d]
                    span = d.group.defs[0].span if d.group.defs else Span()
                    raise PolicyError.at(Code.REGO_RECURSION_ERROR,
                                         "rule `" + d.name + "` is recursive: "
                                         + " -> ".join(c.name for c in cycle), span)
                if s == 0:
                    visit(d)
            stack.pop()
            state[r] = 2

        for r in self.rules.values():
            if state.get(r, 0) == 0:
                visit(r)

    # ---- references into data

    def data_root(self, path: tuple, deps: set, comp: Compiler):
        node: Any = self.tree
        for i, k in enumerate(path):
            if not isinstance(k, ir.Scalar):
                break
            if not isinstance(k.value, str):
                if isinstance(k.value, (int, float)) and not isinstance(k.value, bool):
                    return self._base_root(path, i)
                break
            child = node.get(k.value)
            if child is None:
                return self._base_root(path, i)
            if isinstance(child, CompiledRule):
                if child.kind == "function":
                    self.deferred.append(Diagnostic(code=Code.REGO_TYPE_ERROR, span=k.span,
                                                    message=f"function `{child.name}` used as a value"))
                    deps.add(child)  # a recursion through it is OPA's error first
                    return (lambda env: UNDEFINED), ()
                if child.kind == "tree":  # the members that can reach the keys that follow
                    return child.root(path[i + 1:], deps, comp)
                deps.add(child)
                return child.value_fn, path[i + 1:]
            node = child
        else:
            i = len(path)
        prefix = tuple(k.value for k in path[:i])
        return self._package_fn(node, prefix, deps), path[i:]

    def _base_root(self, path: tuple, i: int):
        """A reference that leaves the rules at key `i` reads the base document; its
        constant keys are looked up now. Stored documents have string keys, so a number
        key reads the key of the same text (OPA's storage paths)."""
        base = self.data
        j = 0
        for j, k in enumerate(path):
            if not isinstance(k, ir.Scalar):
                break
            key = k.value
            if type(base) is Obj and isinstance(key, (int, float)) and not isinstance(key, bool):
                key = k.text or _number_text(key)  # OPA's path holds the number as written
            base = lookup(base, key)
            if base is UNDEFINED:
                j += 1
                break
        else:
            j = len(path)
        return (lambda env, v=base: v), path[j:] if base is not UNDEFINED else ()

    def inlinable(self, t) -> tuple | None:
        """The rule a literal `t` names and its tests, when they can run in its place
        (see `inline`)."""
        return self._inliner(t)

    def data_fn(self, deps: set):
        """The whole `data` document: every rule's value merged into the base data."""
        return self._package_fn(self.tree, (), deps)

    def _package_fn(self, node: dict, prefix: tuple, deps: set):
        rules = []

        def collect(n):
            for v in n.values():
                if isinstance(v, CompiledRule):
                    if v.kind != "function":
                        rules.append(v)
                else:
                    collect(v)

        collect(node)
        deps.update(rules)
        base = self.data
        for p in prefix:
            base = lookup(base, p) if base is not UNDEFINED else base

        def package(env):
            return _materialize(node, base, env[0])

        return package

    def function_fn(self, call: ir.Call, fs, deps):
        r = self.rules.get(tuple(call.func.split(".")[1:]))
        if r is None or r.kind != "function":  # already reported by `resolve`
            return lambda env: UNDEFINED
        deps.add(r)

        if len(fs) == 1:
            (f0,) = fs

            def user_function1(env):
                a = f0(env)
                if a is UNDEFINED:
                    return a
                t = type(a)
                if t is str or t is int or t is bool or a is None:  # remembered (see `call`)
                    ctx = env[0]
                    memos = r.memos
                    cache = ctx.cache if memos is None else memos[ctx.strict]
                    key = (r, t, a)  # the type too: `true` and 1 are equal keys in Python
                    v = cache.get(key, MISS)
                    return r.store(ctx, cache, key, [a]) if v is MISS else v
                return r.apply(env[0], [a])

            return user_function1

        if len(fs) == 2:
            f0, f1 = fs

            def user_function2(env):
                a = f0(env)
                if a is UNDEFINED:
                    return a
                b = f1(env)
                if b is UNDEFINED:
                    return b
                ta, tb = type(a), type(b)
                if (ta is str or ta is int or ta is bool or a is None) and \
                        (tb is str or tb is int or tb is bool or b is None):
                    ctx = env[0]
                    memos = r.memos
                    cache = ctx.cache if memos is None else memos[ctx.strict]
                    key = (r, ta, a, tb, b)
                    v = cache.get(key, MISS)
                    return r.store(ctx, cache, key, [a, b]) if v is MISS else v
                return r.apply(env[0], [a, b])

            return user_function2

        def user_function(env):
            args = []
            for f in fs:
                a = f(env)
                if a is UNDEFINED:
                    return UNDEFINED
                args.append(a)
            return r.call(env[0], args)

        return user_function


def _ground(d: Definition) -> bool:
    """Whether a body has no variables (what `_definition` compiled in pieces tells)."""
    return d.pieces is None or d.pieces.ground


def _params(ms):
    """Match a call's arguments against a function's parameter patterns."""
    if len(ms) == 1:
        (m0,) = ms
        return lambda env, args: m0(env, args[0])
    if len(ms) == 2:
        m0, m1 = ms
        return lambda env, args: m0(env, args[0]) and m1(env, args[1])

    def params(env, args):
        for m, a in zip(ms, args):
            if not m(env, a):
                return False
        return True

    return params


def _number_text(n) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def _materialize(node: dict, base, ctx: Ctx) -> Obj:
    out = Obj(base) if type(base) is Obj else Obj()
    for name, child in node.items():
        if isinstance(child, CompiledRule):
            if child.kind == "function":
                continue
            v = child.value(ctx)
            if v is not UNDEFINED:
                out[name] = v
        else:
            out[name] = _materialize(child, out.get(name, UNDEFINED), ctx)
    return out
