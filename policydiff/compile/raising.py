"""Errors at evaluation that OPA may or may not meet, depending on its rule index.

OPA evaluates the bodies of a rule in the order its rule index returns them, skips the
bodies the index rules out (a body testing `input.role == "x"` when the role is
"admin"), and, when every body it kept yields the same constant (`allow if …`), stops
at the first that holds ("early exit"). Which bodies are kept, and in which order,
comes from the index's trie and the compiler's rewriting: an internal of OPA, not a
rule of Rego. It shows only when a body fails with an error, a conflict in a rule it
uses or a builtin error in strict mode: then OPA's answer depends on whether it met
that body before stopping.

policydiff does not model the index; it makes sure the difference never shows as a
wrong answer:

- a rule none of whose bodies can fail is evaluated as before: no error can show;
- when a body fails, the error is reported as OPA reports it only when OPA surely
  meets it: everything an index could test of the body came before the failing
  expression (so the index keeps the body), and either no other body held or early
  exit cannot apply (the bodies yield different values). Otherwise the evaluation
  stops with `unsupported`, naming the rule and the error;
- when a rule's first body holds and early exit applies, the bodies that can fail are
  still evaluated: if one fails, OPA's answer depends on its order, and the evaluation
  stops with `unsupported` too.

`guard(program)` installs this on the rules that need it (`CompiledRule.install_guard`),
before any memo wraps them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from policydiff import ir
from policydiff.compile import plan
from policydiff.compile.resolve import Group
from policydiff.compile.rule import MISS, CompiledRule, Ctx, Definition, outputs
from policydiff.compile.values import UNDEFINED, equal
from policydiff.compile.values.build import NOT_LITERAL, literal
from policydiff.errors import Code, PolicyError

# Builtins that never fail, whatever their operands: comparisons and membership.
INFALLIBLE = frozenset({
    "equal", "neq", "lt", "lte", "gt", "gte", "internal.member_2", "internal.member_3",
    "is_string", "is_number", "is_boolean", "is_array", "is_object", "is_set", "is_null", "type_name",
})

_STRICT, _DEFAULT = True, False


class Linked(Protocol):
    """What the analysis reads of a linked program (`program.Program`)."""

    rules: dict[tuple[str, ...], CompiledRule]
    tree: dict  # the rules by package path

    def input_reads(self, r: CompiledRule) -> frozenset | None: ...


class _Analysis:
    """Which rules and body expressions can fail, per error mode, for one program."""

    def __init__(self, program: Linked, miss: Any):
        self.program = program
        self.miss = miss  # what `CompiledRule.uniform` holds when the bodies differ
        self._rule: dict[tuple[int, bool], bool] = {}
        self._summaries: dict[int, tuple[bool, bool]] = {}  # by id(rule): both modes ask

    # ---- what a term or literal refers to

    def _rules_at(self, path: tuple) -> Iterator[CompiledRule]:
        """The rules a reference `data.<path>…` may evaluate: the rule it names, or every
        rule under the package it names."""
        node: Any = self.program.tree
        for key in path:
            if not isinstance(node, dict):
                break
            if key is None:  # a key computed at evaluation: any rule below may be read
                break
            node = node.get(key)
            if node is None:
                return
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, dict):
                stack.extend(n.values())
            elif n is not None:
                yield n

    def literal_fails(self, lit: ir.Literal, strict: bool) -> bool:
        return any(self._node_fails(t, strict) for t in _terms_of(lit))

    def _node_fails(self, t: ir.Term, strict: bool) -> bool:
        match t:
            case ir.Ref(head=ir.Var(name="data"), path=path):
                if any(self.rule_fails(r, strict) for r in self._rules_at(_constant_prefix(path))):
                    return True
            case ir.Call(func=func):
                if func.startswith("data."):
                    r = self.program.rules.get(tuple(func.split(".")[1:]))
                    if r is not None and self.rule_fails(r, strict):
                        return True
                elif strict and func not in INFALLIBLE:
                    return True
            case ir.ObjectCompr():
                return True  # two solutions may give one key two values
            case ir.Object(items=items):
                if any(literal(k) is NOT_LITERAL for k, _ in items):
                    return True
        return any(self._node_fails(c, strict) for c in _children(t))

    # ---- whether a rule can fail

    def rule_fails(self, r: CompiledRule, strict: bool) -> bool:
        key = (id(r), strict)
        v = self._rule.get(key)
        if v is None:
            if not isinstance(getattr(r, "group", None), Group):
                return True  # a kind of rule this analysis does not know: assume it can fail
            self._rule[key] = True  # recursion is refused elsewhere; be safe meanwhile
            builtins, shapes = self._summary(r)
            v = (shapes or self._conflicts(r) or (strict and builtins)
                 or any(self.rule_fails(d, strict) for d in r.deps))
            if v and r.kind != "function" and self.program.input_reads(r) == frozenset():
                v = self._fails_once(r, strict)
            self._rule[key] = v
        return v

    def _summary(self, r: CompiledRule) -> tuple[bool, bool]:
        """Whether a rule's own terms call a builtin that can fail, and whether they hold
        an object whose keys may collide (a comprehension, a computed key). The rules it
        uses are `r.deps`, collected when compiling it."""
        done = self._summaries.get(id(r))
        if done is None:
            done = self._summaries[id(r)] = self._summarize(r)
        return done

    @staticmethod
    def _summarize(r: CompiledRule) -> tuple[bool, bool]:
        builtins = shapes = False
        leaves = (ir.Var, ir.Scalar)
        stack: list = []
        push, push_all = stack.append, stack.extend
        for rule in _links(r):  # as `_literals` and `_terms_of` give them, without generators
            for lit in rule.body:
                if type(lit) is ir.Expr:
                    push(lit.term)
                else:
                    push_all(_terms_of(lit))
            for t in (rule.key, rule.value, *rule.args):
                if t is not None:
                    push(t)
        while stack and not (builtins and shapes):
            t = stack.pop()
            kind = type(t)
            if kind in leaves:
                continue
            if kind is ir.Call:
                if not t.func.startswith("data.") and t.func not in INFALLIBLE:
                    builtins = True
                stack.extend(t.args)
            elif kind is ir.Ref:
                stack.extend(t.path)
            elif kind is ir.ObjectCompr:
                shapes = True
            elif kind is ir.Object:
                for k, x in t.items:
                    if literal(k) is NOT_LITERAL:
                        shapes = True
                    stack.append(x)
            elif kind is ir.Array or kind is ir.Set:
                stack.extend(t.items)
            elif kind is ir.ArrayCompr or kind is ir.SetCompr:
                stack.append(t.term)
                stack.extend(x for lit in t.body for x in _terms_of(lit))
        return builtins, shapes

    @staticmethod
    def _fails_once(r: CompiledRule, strict: bool) -> bool:
        """A rule that reads no input has one value: it fails only if computing it does."""
        try:
            r.value(Ctx(UNDEFINED, strict=strict))
        except PolicyError:
            return True
        return False

    def _conflicts(self, r: CompiledRule) -> bool:
        """Whether the rule itself can produce two values where one is allowed."""
        if r.kind == "partial_set":
            return False
        if r.kind not in ("complete", "function"):
            return True  # an object built from solutions (a reference-head tree): keys may collide
        if r.uniform is not self.miss:
            return False
        chains = r.group.defs
        if not chains:
            return False  # only a default
        if len(chains) > 1:
            return True
        # one chain: a conflict needs one body with two solutions of different values
        return any(literal(rule.value) is NOT_LITERAL and plan.body_vars(rule.body, set()) for rule in _chain(chains[0]))


def _constant_prefix(path: tuple[ir.Term, ...]) -> tuple:
    """The keys of a `data` reference up to the first one computed at evaluation."""
    keys = []
    for p in path:
        if not (isinstance(p, ir.Scalar) and isinstance(p.value, str)):
            keys.append(None)
            break
        keys.append(p.value)
    return tuple(keys)


def _chain(rule: ir.Rule) -> Iterator[ir.Rule]:
    link: ir.Rule | None = rule
    while link is not None:
        yield link
        link = link.else_


def _links(r: CompiledRule) -> Iterator[ir.Rule]:
    for rule in r.group.defs:
        yield from _chain(rule)
    if r.group.default is not None:
        yield r.group.default


def _literals(rule: ir.Rule) -> Iterator[ir.Literal]:
    yield from rule.body
    for t in (rule.key, rule.value, *rule.args):
        if t is not None:
            yield ir.Expr(span=t.span, term=t)


def _terms_of(lit: ir.Literal) -> Iterator[ir.Term]:
    match lit:
        case ir.Expr(term=t):
            yield t
        case ir.Assign(lhs=a, rhs=b) | ir.Unify(lhs=a, rhs=b):
            yield a
            yield b
        case ir.SomeIn(key=k, value=v, collection=c):
            if k is not None:
                yield k
            yield v
            yield c
        case ir.Every(domain=d, body=body):
            yield d
            for inner in body:
                yield from _terms_of(inner)
        case ir.With(literal=inner, values=values):
            yield from values
            yield from _terms_of(inner)


def _children(t: ir.Term) -> Iterator[ir.Term]:
    match t:
        case ir.Ref(head=h, path=path):
            yield h
            yield from path
        case ir.Array(items=items) | ir.Set(items=items):
            yield from items
        case ir.Object(items=items):
            for k, v in items:
                yield k
                yield v
        case ir.Call(args=args):
            yield from args
        case ir.ArrayCompr(term=x, body=body) | ir.SetCompr(term=x, body=body):
            yield x
            for lit in body:
                yield from _terms_of(lit)
        case ir.ObjectCompr(key=k, value=v, body=body):
            yield k
            yield v
            for lit in body:
                yield from _terms_of(lit)


def _reads_outside(t: ir.Term, params: frozenset[str]) -> bool:
    """Whether a term reads something an index could test: the input, a base document
    of `data`, or (in a function) a parameter."""
    match t:
        case ir.Ref(head=ir.Var(name="input" | "data")):
            return True
        case ir.Var(name=name):
            if name in ("input", "data") or name in params:
                return True
    return any(_reads_outside(c, params) for c in _children(t))


# ------------------------------------------------------------------------ the guard


class _Guard:
    """The rule-level decisions for one rule whose bodies can fail."""

    def __init__(self, analysis: _Analysis, r: CompiledRule):
        self.analysis = analysis
        self.r = r
        self.fails = {mode: analysis.rule_fails(r, mode) for mode in (_DEFAULT, _STRICT)}
        self._certain: dict[tuple[int, bool], bool] = {}
        self._links = [link for rule in r.group.defs for link in _chain(rule)]
        self._fallible: dict[bool, list] = {}  # by error mode: the bodies that can fail

    def certain(self, d: Definition, rule: ir.Rule, strict: bool) -> bool:
        """Whether OPA's index surely keeps a body that failed: every expression an
        index could test comes before the first that can fail, in evaluation order."""
        key = (id(d), strict)
        v = self._certain.get(key)
        if v is None:
            v = self._certain[key] = self._compute_certain(rule, strict)
        return v

    def _compute_certain(self, rule: ir.Rule, strict: bool) -> bool:
        params = frozenset(plan.term_vars(ir.Array(items=rule.args), set())) if rule.args else frozenset()
        body = list(rule.body)
        for t in (rule.key, rule.value):
            if t is not None and literal(t) is NOT_LITERAL:
                body.append(ir.Unify(span=t.span, lhs=ir.Var(span=t.span, name="$head"), rhs=t))
        try:
            ordered, _, diags = plan.order(body, set(params), frozenset(plan.shallow_vars(body) | params), rule.span)
        except PolicyError:
            return False
        if diags:
            return False
        first_fail = next((i for i, lit in enumerate(ordered) if self.analysis.literal_fails(lit, strict)), None)
        if first_fail is None:
            return False  # it failed where the analysis saw no failure: make no claim
        return not any(any(_reads_outside(t, params) for t in _terms_of(lit)) for lit in ordered[first_fail + 1:])

    # ---- deciding

    def settle(self, ctx: Ctx, args, error: PolicyError):
        """Raise what OPA surely reports for this rule, now that `error` came out of it,
        or `unsupported` when that depends on OPA's index."""
        if _final(error):
            raise error
        held: list[tuple[ir.Rule, Any]] = []
        failed: list[tuple[ir.Rule, PolicyError]] = []
        for chain_defs, chain_rules in self._chains():
            for d, rule in zip(chain_defs, chain_rules):
                try:
                    out = outputs(d, ctx, args)
                except PolicyError as e:
                    if _final(e):
                        raise
                    failed.append((rule, e))
                    if not self.certain(d, rule, ctx.strict):
                        raise self._unsupported(e, "its rule index may skip the body that failed") from e
                    break
                if out:
                    held.extend((rule, v) for v in out)
                    break
        if not failed:
            raise error  # a conflict between bodies that held: OPA evaluates them all
        codes = {e.code for _, e in failed}
        if self.r.kind in ("complete", "function"):
            values = [v for _, v in held]
            if any(not equal(values[0], v) for v in values[1:]):
                codes.add(Code.EVAL_CONFLICT_ERROR)
            if held and self._may_exit_early([rule for rule, _ in held] + [rule for rule, _ in failed]):
                raise self._unsupported(failed[0][1], "another body holds and OPA may stop there first")
        if len(codes) > 1:
            raise self._unsupported(failed[0][1], "OPA reports whichever of several errors it meets first")
        raise failed[0][1]

    def after_early_exit(self, ctx: Ctx, args) -> None:
        """The first body that holds decided; if another can fail, OPA's answer depends
        on which of the two its index returns first."""
        if len(self._links) == 1:
            # one body, no else: it was just run in full (there is no index to pick
            # among bodies), in this mode and on this ctx; running it again repeats that
            return
        fallible = self._fallible.get(ctx.strict)
        if fallible is None:  # a property of the bodies and the mode: found once
            fallible = self._fallible[ctx.strict] = [
                d for chain_defs, chain_rules in self._chains()
                for d, rule in zip(chain_defs, chain_rules)
                if any(self.analysis.literal_fails(lit, ctx.strict) for lit in _literals(rule))]
        for d in fallible:
            try:
                outputs(d, ctx, args)
            except PolicyError as e:
                if _final(e):
                    raise
                raise self._unsupported(e, "another body holds and OPA may stop there first") from e

    def _chains(self):
        rules = iter(self._links)
        for chain in self.r.chains:
            yield chain, [next(rules) for _ in chain]

    @staticmethod
    def _may_exit_early(rules: list[ir.Rule]) -> bool:
        values = {literal(rule.value) if rule.value is not None else True for rule in rules}
        if NOT_LITERAL in values:
            return False
        first = next(iter(values))
        return all(equal(first, v) and type(first) is type(v) for v in values)

    def _unsupported(self, error: PolicyError, why: str) -> PolicyError:
        return PolicyError.at(
            Code.UNSUPPORTED,
            f"whether OPA reports `{error.code}` for `{self.r.name}` depends on the order of its rule index: {why}",
            error.span)


def _final(error: PolicyError) -> bool:
    """An error this guard passes on as it is: a refusal already made, or no evaluation
    error (only those depend on which bodies OPA meets)."""
    return error.code == Code.UNSUPPORTED or not error.code.startswith("eval_")


def guard(program: Linked) -> None:
    """Wrap the evaluation of every rule whose bodies can fail (see the module's text)."""
    analysis = _Analysis(program, MISS)
    for r in program.rules.values():
        if r.kind not in ("complete", "function", "partial_set") or not r.group.defs or not (analysis.rule_fails(r, _DEFAULT) or analysis.rule_fails(r, _STRICT)):
            continue
        g = _Guard(analysis, r)
        uniform = r.uniform is not MISS
        if r.kind == "function":
            r.install_guard(lambda call, g=g, u=uniform: _wrap_call(g, call, u))
        else:
            r.install_guard(lambda compute, g=g, u=uniform: _wrap_compute(g, compute, u))


def _wrap_compute(g: _Guard, compute, uniform: bool):

    def guarded_compute(ctx: Ctx):
        if not g.fails[ctx.strict]:
            return compute(ctx)
        try:
            v = compute(ctx)
        except PolicyError as e:
            g.settle(ctx, None, e)
            raise  # settle always raises
        if uniform and v is not UNDEFINED and not ctx.explain:
            g.after_early_exit(ctx, None)
        return v

    guarded_compute.fails = g.fails  # type: ignore[attr-defined]  # by error mode, for tests
    return guarded_compute


def _wrap_call(g: _Guard, call, uniform: bool):

    def guarded_call(ctx: Ctx, args):
        if not g.fails[ctx.strict]:
            return call(ctx, args)
        try:
            v = call(ctx, args)
        except PolicyError as e:
            g.settle(ctx, args, e)
            raise
        if uniform and v is not UNDEFINED:
            g.after_early_exit(ctx, args)
        return v

    guarded_call.fails = g.fails  # type: ignore[attr-defined]
    return guarded_call
