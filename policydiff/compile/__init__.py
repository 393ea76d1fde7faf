"""Compilation: IR modules to a program of Python closures.

`compile_modules` runs the stages `STAGES` names, in order, on one `Unit`:

1. `resolve` groups rules by path and resolves names (`resolve`);
2. `locals` finds the errors of declaring local variables in every body (`plan`);
3. `heads` the variables of rule heads no body mentions (OPA's first safety check);
4. `link` builds the `Program` (`program`): each body ordered so its variables are bound
   before use (`plan`, reporting unsafe variables) and turned into continuation-passing
   closures (`closures`), rules tied to the rules they use (`rule` is their runtime;
   `refheads` the rules whose head is a reference with variables), recursion refused,
   then `raising`'s guards and the `speedups` installed;
5. `typecheck` refuses what OPA's type checker refuses. It runs after linking because
   OPA checks types only once safety and recursion hold, so theirs are the errors a
   module with both gets.

A stage returns diagnostics and the next one still runs, so the user gets every
diagnostic of a kind at once, unless OPA would stop there (`_stops_opa`: it reports
only the errors of its first failing stage, declarations before conflicts before
undefined functions before the rest); a stage that raises stops the run (there is
nothing for the next to work on). The result, a `Program`, evaluates a decision without looking at the IR
again.

The rooms: `values/` is the value model (numbers as OPA holds them, with `bigfloat`,
Go's 64-bit big.Float), `access` (lookups, iteration order, reference paths) and
`build` (constants and constructed values); `builtins/` the builtin functions, one
family per module, joined in its table (`builtins.BUILTINS`); `types` and `typecheck`
OPA's types; `speedups/` what makes decisions fast, each exact: `memo` (values kept
across evaluations, keyed by what a rule reads), `prefixes` (a body's opening literals
solved once per value of the input paths they read), `dispatch` (the bodies of a
many-bodied constant rule looked up by their opening tests) and `inline` (rules of
only input comparisons tested in place).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from policydiff import ir
from policydiff.compile import closures, observe, plan, resolve, typecheck
from policydiff.compile.builtins import OUT_OF_SCOPE
from policydiff.compile.builtins.patterns import glob_regex as glob_regex  # for the matrix
from policydiff.compile.program import Program
from policydiff.compile.resolve import DEPRECATED
from policydiff.compile.rule import Ctx
from policydiff.compile.values import UNDEFINED, freeze, thaw
from policydiff.compile.values.order import OrderWatch
from policydiff.errors import Code, Diagnostic, PolicyError

__all__ = ["STAGES", "UNDEFINED", "Ctx", "Program", "Query", "Stage", "Unit", "compile_modules",
           "freeze", "thaw"]


class Unit:
    """What the stages work on: the modules and base data, and what each stage makes."""

    def __init__(self, modules: list[ir.Module], data: Any, raw: Any):
        self.modules = modules
        self.data = data  # frozen
        self.raw = raw  # as given, for `_data_conflicts`
        self.groups: dict[tuple[str, ...], resolve.Group] = {}
        self.rules: list[ir.Rule] = []  # every rule as `resolve` rewrote it
        self.program: Program | None = None


class Stage(NamedTuple):
    """One pass of `compile_modules` over the unit; it returns its diagnostics."""

    name: str
    run: Callable[[Unit], list[Diagnostic]]  # may raise `PolicyError`: the run stops


def _resolve(unit: Unit) -> list[Diagnostic]:
    unit.groups, diags = resolve.resolve(unit.modules, unit.rules)
    return diags + _data_conflicts(unit.modules, unit.raw)


def _link(unit: Unit) -> list[Diagnostic]:
    unit.program = Program(unit.groups, unit.data, tuple(m.package for m in unit.modules))
    return unit.program.deferred


def _typecheck(unit: Unit) -> list[Diagnostic]:
    return typecheck.typecheck(unit.groups)




def compile_modules(modules: list[ir.Module], data: Any = None) -> Program:
    """Run `STAGES` on `modules` together with the base `data` document."""
    raw = data if data is not None else {}
    unit = Unit(list(modules), freeze(raw), raw)
    diags: list[Diagnostic] = []
    deprecated: list[Diagnostic] = []  # OPA looks for these last, once all other checks passed
    for stage in STAGES:
        try:
            found = stage.run(unit)
        except PolicyError as e:
            raise PolicyError(diags + e.diagnostics) from None
        for d in found:
            (deprecated if d.message.startswith(DEPRECATED) else diags).append(d)
        first = _stops_opa(stage.name, diags, found)
        if first is not None:
            diags = first
            break
    if diags or deprecated:
        raise PolicyError(diags or deprecated)
    assert unit.program is not None  # `link` made it
    return unit.program


def _stops_opa(stage: str, diags: list[Diagnostic], found: list[Diagnostic]) -> list[Diagnostic] | None:
    """The diagnostics OPA reports when, after `stage` (which `found` some), it stops at
    an earlier stage of its own (None: go on). OPA's order: the compile errors of
    naming and declaring variables (and `with` targets); then conflicting rules; then
    undefined functions and calls of the wrong arity; then variables of rule heads the
    body does not mention (`heads`); then safety, recursion and types (`link`,
    `typecheck`). It reports only the errors of the stage it stops at."""
    compile_errors = [d for d in diags if d.code == Code.REGO_COMPILE_ERROR]
    if compile_errors:
        return compile_errors
    if stage == "heads":
        return found or None
    if stage != "locals":
        return None
    early = [d for d in diags if d.code == Code.REGO_TYPE_ERROR]
    conflicts = [d for d in early if "conflict" in d.message or d.message.startswith("multiple default")]
    return conflicts or early or None


def _heads(unit: Unit) -> list[Diagnostic]:
    """OPA's safety check of rule heads, before that of bodies: a variable of the head
    (its key, value or reference, unless that term must be evaluated — holds a
    reference, call or comprehension —, which OPA moves into the body) that the body
    does not mention at all, outside comprehensions, nor a parameter holds."""
    out: list[Diagnostic] = []
    for r in unit.rules:
        while r is not None:
            if not r.default:
                head: set[str] = set()
                for t in (*r.ref, r.key, r.value):
                    if t is not None and not _evaluated(t):
                        plan.term_vars(t, head)
                if head:
                    safe = plan.shallow_vars(r.body)
                    for t in (*r.args, *(t for t in (*r.ref, r.key, r.value) if t is not None and _evaluated(t))):
                        plan.term_vars(t, safe, deep=False)  # (a term OPA moves into the body is the body's)
                    for v in sorted(head - safe, key=plan.display):
                        out.append(Diagnostic(code=Code.REGO_UNSAFE_VAR_ERROR, span=r.span,
                                              message=f"var `{plan.display(v)}` is unsafe"))
            r = r.else_
    return out


def _evaluated(t) -> bool:
    """Whether a head term holds a reference, a call or a comprehension (OPA evaluates
    it in the body)."""
    k = type(t)
    if k is ir.Ref or k is ir.Call or k in (ir.ArrayCompr, ir.SetCompr, ir.ObjectCompr):
        return True
    if k is ir.Var:
        return t.name in ("input", "data")
    if k is ir.Array or k is ir.Set:
        return any(_evaluated(x) for x in t.items)
    if k is ir.Object:
        return any(_evaluated(a) or _evaluated(b) for a, b in t.items)
    return False


_DECLARING = (ir.Assign, ir.Some, ir.SomeIn, ir.Every)


def _locals(unit: Unit) -> list[Diagnostic]:
    """OPA's errors of declaring local variables (`var x assigned above`, `declared var
    x unused`, …) in every body of every rule, comprehensions and `every` included,
    found before any other check as OPA finds them (`link` finds them again, body by
    body, between safety errors)."""
    out: list[Diagnostic] = []

    def body(lits: tuple, before: set[str], heads: tuple) -> None:
        if any(type(lit) in _DECLARING for lit in lits):
            uses = tuple(ir.Expr(span=t.span, term=t) for t in heads if t is not None)
            out.extend(d for d in plan.redeclarations(lits, before) + plan.unused_declarations(lits + uses)
                       if d.code == Code.REGO_COMPILE_ERROR)  # (`link` reports the rest, body by body)
        for lit in lits:
            literal(lit)
        for t in heads:
            term(t)

    def literal(lit) -> None:
        k = type(lit)
        if k is ir.Expr:
            term(lit.term)
        elif k is ir.Assign or k is ir.Unify:
            term(lit.lhs)
            term(lit.rhs)
        elif k is ir.SomeIn:
            term(lit.key)
            term(lit.value)
            term(lit.collection)
        elif k is ir.Every:
            term(lit.domain)
            body(lit.body, set(), ())
        elif k is ir.With:
            literal(lit.literal)
            for v in lit.values:
                term(v)

    def term(t) -> None:  # by exact type, the commonest first: this walks every term once
        k = type(t)
        if k is ir.Scalar or k is ir.Var or t is None:
            return
        if k is ir.Ref:
            term(t.head)
            for x in t.path:
                term(x)
        elif k is ir.Call or k is ir.Array or k is ir.Set:
            for x in (t.args if k is ir.Call else t.items):
                term(x)
        elif k is ir.Object:
            for a, b in t.items:
                term(a)
                term(b)
        elif k is ir.ObjectCompr:
            body(t.body, set(), (t.key, t.value))
        elif k is ir.ArrayCompr or k is ir.SetCompr:
            body(t.body, set(), (t.term,))

    for r in unit.rules:
        while r is not None:
            args: set[str] = set()
            for a in r.args:
                plan.term_vars(a, args)
            body(r.body, args, (*r.ref, r.key, r.value))
            r = r.else_
    return out


STAGES: tuple[Stage, ...] = (
    Stage("resolve", _resolve),
    Stage("locals", _locals),
    Stage("heads", _heads),
    Stage("link", _link),
    Stage("typecheck", _typecheck),
)


def _data_conflicts(modules: list[ir.Module], data: Any) -> list[Diagnostic]:
    """OPA refuses a rule whose path the base document already holds a value at, or
    holds a value other than an object above (`conflicting rule for data path ...`):
    the two documents would disagree there."""
    out = []
    for m in modules:
        for r in m.rules:
            node, path, held = data, m.package + tuple(r.name.split(".")), True
            for key in path:
                if not isinstance(node, dict):  # a value of the base document above the rule
                    break
                if key not in node:
                    held = False
                    break
                node = node[key]
            if held:
                out.append(Diagnostic(code=Code.REGO_COMPILE_ERROR, span=r.span,
                                      message=f"conflicting rule for data path `{'/'.join(path)}` found"))
    return out


class Query:
    """A compiled query body: one binding map per solution, as `opa eval` reports."""

    def __init__(self, program: Program, body: tuple[ir.Literal, ...], *,
                 package: tuple[str, ...] = ("$query",), imports: tuple[ir.Import, ...] = (),
                 listed: bool = False):
        """`listed`: the solutions are handed out in order, as OPA lists them (when
        not, only whether there are any, or their set, is used)."""
        # `package` and `imports`: the query reads names as a rule of that module would
        fake = ir.Module(package=package, imports=imports,
                         rules=(ir.Rule(kind="complete", name="$q", body=body),))
        groups = {path: r.group for path, r in program.rules.items()}
        n = len(package)
        local = {p[n] for p in program.rules if len(p) > n and p[:n] == package} | {"$q"}
        names = resolve.Names(fake, groups, diags := [], local, guarded=(guarded := []))
        rule = names.rule(fake.rules[0])
        targets = plan.with_targets([rule])
        # a builtin outside the subset the query's own `with` replaces: no rule calls it
        # (the policy would have been refused), so only the query's calls look for it
        own = frozenset(t[1] for t in targets if t[0] == "fn" and t[1] in OUT_OF_SCOPE)
        kept = {id(d) for name, d in guarded if name in own or name in program.mocked}
        diags = [d for d in diags if id(d) not in kept]
        if diags:
            raise PolicyError(diags)
        for lit in rule.body:
            _check_functions(lit, program)
        # the rules were compiled without looking for what a `with` of the query replaces
        uncovered = sorted(".".join(t[1:]) for t in targets if t[0] != "input" and (
            t[1] not in program.mocked and t[1] not in own if t[0] == "fn" else t[1:] not in program.data_targets))
        if uncovered:
            raise PolicyError.at(Code.UNSUPPORTED, f"a query's `with` replacing {', '.join(f'`{u}`' for u in uncovered)} "
                                 "that no rule's `with` replaces is not supported", rule.span)
        frame = closures.Frame()
        comp = closures.Compiler(program, frame, set())
        comp.mocked = program.mocked | own
        # its literals are refused out of order where it or the rules see an order
        comp.order = OrderWatch(program.rules_observe_order or (listed and _may_iterate(rule.body)))
        comp.follow(observe.observe(rule.body, listed=listed, mocked=comp.mocked))
        shallow = plan.shallow_vars(rule.body)
        self.names = sorted(v for v in shallow if not plan.is_wildcard(v))
        slots = [(n, frame.slot(n)) for n in self.names]

        def emit(env):
            env[1].append({n: env[s] for n, s in slots})
            return False

        deferred = len(program.deferred)
        try:
            self.run, _ = comp.body(rule.body, set(), frozenset(shallow), emit, None)
            comp.settle()
        finally:
            found = program.deferred[deferred:]
            del program.deferred[deferred:]  # the query's own: not the program's
        if found:  # a function read as a value: the query is a type error
            raise PolicyError(found)
        if comp.order.observed and not program.order.observed:
            # the rules' literals are refused out of order from now on; one built before
            # (a memo may hold it) could reach this query
            if program.order.kept:
                raise PolicyError.at(Code.UNSUPPORTED, "this query may see the order of iterating a set or "
                                     "object literal the policy built earlier out of OPA's order; evaluate "
                                     "it in a fresh policy", rule.span)
            program.order.observed = True
        if diags := typecheck.check_body(rule.body, groups):
            raise PolicyError(diags)
        self.size = frame.size

    def solutions(self, ctx: Ctx) -> list[dict]:
        env = [None] * self.size
        env[0] = ctx
        out = env[1] = []
        self.run(env)
        return out


def _may_iterate(node) -> bool:
    """Whether a query may have more than one solution: a `some ... in`, or a reference
    with a key that is not a constant (conservatively, anywhere in it)."""
    if isinstance(node, ir.SomeIn):
        return True
    if isinstance(node, ir.Ref) and not all(isinstance(k, ir.Scalar) for k in node.path):
        return True
    if isinstance(node, (list, tuple)):
        return any(_may_iterate(x) for x in node)
    if isinstance(node, ir.Node):
        return any(_may_iterate(getattr(node, f)) for f in node.__struct_fields__)
    return False


def _check_functions(lit, program: Program) -> None:
    """Query calls to `data.*` functions must name compiled functions."""
    for t in _calls(lit):
        if t.func.startswith("data.") and tuple(t.func.split(".")[1:]) not in program.rules:
            raise PolicyError.at(Code.REGO_TYPE_ERROR, f"undefined function `{t.func}`", t.span)


def _calls(node):
    if isinstance(node, ir.Call):
        yield node
    for f in getattr(node, "__struct_fields__", ()):
        x = getattr(node, f)
        xs = x if isinstance(x, tuple) else (x,)
        for y in xs:
            for z in (y if isinstance(y, tuple) else (y,)):
                if isinstance(z, ir.Node):
                    yield from _calls(z)
