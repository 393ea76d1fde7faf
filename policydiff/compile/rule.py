"""The runtime of compiled rules: an evaluation's `Ctx`, a compiled body's `Definition`
and a rule's value, `CompiledRule`.

A complete rule's value is the one value all its defined bodies agree on (else
`eval_conflict_error`), or its default, or undefined; a partial set rule's value is the
set of every key any body produces; a function's value for some arguments is a complete
rule's for those arguments. Partial objects and other reference heads are trees of
rules (`refheads`, subclasses of `CompiledRule`). `program.Program` compiles the bodies
and links rules to each other; this module only evaluates them, and imports nothing
that links.

An evaluation reads a rule through layers, from the outside in: `value` (the value as
an evaluation asks for it: cached once per `Ctx`, or a memo's), `compute` and `apply`
(a rule's and a function's value computed from the bodies, `evaluate` and
`evaluate_call`). The speedups replace layers through `install_guard` (`raising`, which
guards the computation) and `install_memo` (`speedups.memo`, which remembers what the
computation gives); a guard installed over a memo would not see what the memo answers,
so `install_guard` refuses a rule already remembered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policydiff.compile.resolve import Group
from policydiff.compile.speedups import memo
from policydiff.compile.values import UNDEFINED, equal, freeze
from policydiff.compile.values.build import checked_set
from policydiff.errors import Code, PolicyError
from policydiff.source import Span

Value = Callable[["Ctx"], Any]  # ctx -> a rule's value
Apply = Callable[["Ctx", list], Any]  # ctx, arguments -> a function's value

MISS = object()  # not computed (yet); not a constant


class Ctx:
    """One evaluation: the input, the values computed so far and the error mode."""

    __slots__ = ("_input", "cache", "data_with", "explain", "mocks", "prov", "raw", "strict")

    def __init__(self, input: Any = UNDEFINED, strict: bool = False, explain: bool = False):
        self.raw = input  # as the caller gave it; frozen only where it is read whole
        self._input: Any = MISS
        self.cache: dict = {}
        self.strict = strict
        self.prov: dict = {}
        self.explain = explain  # evaluate every body, to report all that produced the value
        self.mocks: dict | None = None  # name -> `withs.Replacement`, under `with f as …`
        self.data_with: tuple = ()  # (path below data, value), in order, under `with data.… as …`


    @property
    def input(self) -> Any:
        v = self._input
        if v is MISS:
            v = self._input = UNDEFINED if self.raw is UNDEFINED else freeze(self.raw)
        return v


class Definition:
    """One body of a rule (one link of an else chain), compiled."""

    __slots__ = ("blank", "guards", "params", "pieces", "run", "span")

    def __init__(self, run, size: int, span: Span, params, guards=(), pieces=None):
        self.run = run
        self.blank = [None] * size
        self.span = span
        self.params = params
        self.guards = guards  # (index, string) of constant string parameters: a cheap first test
        self.pieces = pieces  # the body compiled literal by literal (`closures.Pieces`), if so

    def admits(self, args) -> bool:
        for i, c in self.guards:
            if args[i] != c:
                return False
        return True


class CompiledRule:
    """One rule (all its bodies and its default), compiled; see the module's text for
    the layers an evaluation reads it through."""

    def __init__(self, group: Group):
        self.group = group
        self.kind = group.kind
        self.name = group.name
        self.chains: list[list[Definition]] = []
        self.default: Definition | None = None
        self.deps: set[CompiledRule] = set()

        self.default_const: Any = MISS  # a default whose value is a constant
        self.uniform: Any = MISS  # the one constant value every body yields, if so
        self.flat: list[Definition] = []
        self.flat_runs: list = []
        # a function's clauses by the constant string they take first (`f("x")`), and
        # those taking any first argument
        self.by_first: dict[str, list[Definition]] | None = None
        self.any_first: list[Definition] = []
        self.select = None  # the bodies worth trying for a ctx (`install_selector`)
        self.uses_input = False
        self.input_paths: set | None = set()  # constant-key input paths read; None: input read whole
        self.static = False  # set by Program: the value cannot depend on the input
        # a function reading no input remembers its values across evaluations, one memo
        # per error mode (`install_call_memos`)
        self.memos: tuple[dict, dict] | None = None
        # the layers (see the module's text): plain until `install_guard`/`install_memo`
        self.value: Value = self.cached
        self.compute: Value = self.evaluate
        self.apply: Apply = self.evaluate_call
        self.remembered = False  # whether `value` is a memo's

    # ---- evaluation

    def cached(self, ctx: Ctx):
        """The rule's value in `ctx`, computed once per evaluation (`value` unless a memo
        was installed)."""
        v = ctx.cache.get(self, MISS)
        if v is MISS:
            v = ctx.cache[self] = self.compute(ctx)
        return v

    def decider(self) -> Value:
        """A function of a fresh ctx giving the rule's value: its memo's, or its
        computation, since nothing in a fresh ctx can have cached the value."""
        return self.value if self.remembered else self.compute

    # ---- what `Program` installs, in this order: guard, openings, selector, memo

    def install_guard(self, wrap: Callable) -> None:
        """Replace the computation (`apply` for a function, else `compute`) by
        `wrap(computation)`: `raising`'s guard. A memo remembers what the computation
        gives, so the guard goes in first: a rule already remembered is refused."""
        if self.remembered:
            raise RuntimeError(f"`{self.name}`: a guard installed over a memo would not see what it answers")
        if self.kind == "function":
            self.apply = wrap(self.apply)
        else:
            self.compute = wrap(self.compute)

    def install_memo(self, make: Callable[[Value, Value], Value]) -> None:
        """Read the value through `make(cached, compute)`, a memo of `speedups.memo` that
        answers from what it remembered, calls `compute` for what it has not and
        `cached` for what it does not remember (an `--explain` evaluation)."""
        self.value = make(self.cached, self.compute)
        self.remembered = True

    def install_openings(self, remembered: Callable[[Definition], Callable[[list], bool]]) -> None:
        """Run each body with variables through `remembered(d)`, a run that looks the
        solutions of its opening literals up (`speedups.prefixes`). It goes before
        `install_selector`, whose plain order of bodies holds these runs."""
        if self.select is not None:
            raise RuntimeError(f"`{self.name}`: a selector was made of the bodies' runs before these")
        for chain in self.chains:
            for d in chain:
                if d.pieces is not None and not d.pieces.ground:
                    d.run = remembered(d)
        self.flat_runs = [(d, d.run) for d in self.flat]

    def install_selector(self, select: Callable[[Ctx], list] | None) -> None:
        """Try, for a ctx, the (definition, run) pairs `select(ctx)` gives
        (`speedups.dispatch`) instead of every body in turn."""
        self.select = select

    def install_call_memos(self) -> None:
        """Remember a function's values across evaluations, one memo per error mode: it
        reads no input, so its arguments decide them (see `call`)."""
        self.memos = ({}, {})

    @property
    def value_fn(self):
        def rule_value(env):
            return self.value(env[0])

        return rule_value

    def evaluate(self, ctx: Ctx):
        """The value, computed; with `ctx.explain`, also the bodies that produced it
        (`ctx.prov`, read only then)."""
        kind = self.kind
        if self.uniform is not MISS and not ctx.explain:
            # every body yields the same constant (`allow if …`): the first that holds
            # decides, and no later one can conflict with it
            for d, run in (self.flat_runs if self.select is None else self.select(ctx)):
                env = d.blank.copy()
                env[0] = ctx
                if run(env):  # a constant head stops at its first solution
                    return self.uniform
            if self.default is None:
                return UNDEFINED
            if self.default_const is not MISS:
                return self.default_const
            return _first_defined([self.default], ctx, None, self, None)
        spans: list = []
        if kind == "complete":
            result = self._join(ctx, None, spans, self.conflict)
        else:  # a partial set (partial objects are reference-head trees: `refheads`)
            acc: list = []
            for chain in self.chains:
                d = chain[0]
                out = outputs(d, ctx, None)
                if out:
                    acc.extend(out)
                    spans.append(d.span)
            result = checked_set(acc)
        if ctx.explain:
            ctx.prov[self] = tuple(spans)
        return result

    def call(self, ctx: Ctx, args: list):
        memos = self.memos
        for a in args:
            t = type(a)
            if not (t is str or t is int or t is bool or a is None):  # a Num's text may matter
                return self.apply(ctx, args)
        # scalar arguments: the value is remembered (keyed with the types, since
        # Python takes `true` for 1)
        key = (self, tuple(map(type, args)), *args)
        cache = ctx.cache if memos is None else memos[ctx.strict]
        v = cache.get(key, MISS)
        return self.store(ctx, cache, key, args) if v is MISS else v

    def store(self, ctx: Ctx, cache: dict, key, args: list):
        """Compute the value for `args` and remember it under `key`: in the memo of
        a function that reads no input, else in this evaluation's cache."""
        v = self.apply(ctx, args)
        if self.memos is None:
            cache[key] = v
        else:
            memo.remember(cache, key, v)
            if ctx.strict:
                memo.remember(self.memos[False], key, v)
        return v

    def evaluate_call(self, ctx: Ctx, args: list):
        """A function's value for `args`, computed from its clauses."""
        if self.uniform is not MISS:
            # every clause yields the same constant: the first that holds decides
            flat = self.flat
            if self.by_first is not None:  # only the clauses that admit the first argument
                a = args[0]
                flat = self.by_first.get(a, self.any_first) if type(a) is str else self.any_first
            for d in flat:
                if d.guards and not d.admits(args):
                    continue
                env = d.blank.copy()
                env[0] = ctx
                if d.params(env, args) and d.run(env):
                    return self.uniform
            if self.default is None:
                return UNDEFINED
            return _first_defined([self.default], ctx, None, self, None)
        return self._join(ctx, args, None, self._function_conflict)

    def _join(self, ctx: Ctx, args, spans, conflict):
        """The one value the else chains agree on (a conflict when two differ), else the
        default's, else undefined."""
        result = UNDEFINED
        for chain in self.chains:
            v = _first_defined(chain, ctx, args, self, spans)
            if v is UNDEFINED:
                continue
            if result is UNDEFINED:
                result = v
            elif not equal(result, v):
                raise conflict(chain[0].span)
        if result is UNDEFINED and self.default is not None:
            result = _first_defined([self.default], ctx, None, self, spans)
        return result

    def conflict(self, span: Span) -> PolicyError:
        return PolicyError.at(Code.EVAL_CONFLICT_ERROR,
                              f"complete rules must not produce multiple outputs: `{self.name}`", span)

    def _function_conflict(self, span: Span) -> PolicyError:
        return PolicyError.at(Code.EVAL_CONFLICT_ERROR,
                              f"functions must not produce multiple outputs for same inputs: `{self.name}`", span)


def outputs(d: Definition, ctx: Ctx, args) -> list:
    """Every value one body yields for `args` (None: a rule's body); its first solution
    for a constant head."""
    if args is not None and d.guards and not d.admits(args):
        return []
    env = d.blank.copy()
    env[0] = ctx
    out = env[1] = []
    if args is None or d.params is None or d.params(env, args):
        d.run(env)
    return out


def _first_defined(chain, ctx, args, rule: CompiledRule, spans):
    for d in chain:
        out = outputs(d, ctx, args)
        if out:
            v = out[0]
            for w in out[1:]:
                if not equal(v, w):
                    raise rule.conflict(d.span)
            if spans is not None:
                spans.append(d.span)
            return v
    return UNDEFINED
