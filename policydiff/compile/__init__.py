"""Compilation: IR modules to a program of Python closures.

The passes run in the order `STAGES` names: `resolve` groups rules by path and resolves
names, `typecheck` refuses what OPA's type checker refuses, `plan` orders each body so
its variables are bound before use (reporting unsafe variables), `closures` turns each
ordered body into continuation-passing closures, and `rules` ties definitions into rule
values, checks recursion and resolves `data`. The result, a `Program`, evaluates a
decision without looking at the IR again.

The closures are built from `access` (lookups, iteration order, reference paths) and
`build` (constants and constructed values); `values` is the value model (numbers as
OPA holds them, with `arithmetic` and `bigfloat`, Go's 64-bit big.Float), `builtins`
(with `operands`, `formatting`, `gofmt`, `patterns`) the builtin functions. `refheads`
evaluates rules whose head is a reference with variables (partial objects among them).
`raising` guards the rules whose bodies can fail, where OPA's rule index decides
whether an error shows. What makes decisions fast, each exact: `memo` (values kept
across evaluations, keyed by what a rule reads), `prefixes` (a body's opening literals
solved once per value of the input paths they read), `dispatch` (the bodies of a
many-bodied constant rule looked up by their opening tests) and `inline` (rules of
only input comparisons tested in place).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from policydiff import ir
from policydiff.compile import closures, plan, resolve, rules, typecheck
from policydiff.compile.patterns import glob_regex as glob_regex  # for the matrix
from policydiff.compile.resolve import DEPRECATED
from policydiff.compile.rules import Ctx, Program
from policydiff.compile.values import UNDEFINED, freeze, thaw
from policydiff.errors import Diagnostic, PolicyError

Stages = namedtuple("Stages", "resolve typecheck plan closures rules")
STAGES = Stages(resolve.resolve, typecheck.typecheck, plan.order, closures.Compiler, rules.Program)

__all__ = ["STAGES", "UNDEFINED", "Ctx", "Program", "Query", "compile_modules", "freeze", "thaw"]


def compile_modules(modules: list[ir.Module], data: Any = None) -> Program:
    """Resolve, plan and compile `modules` together with the base `data` document."""
    groups, diags = resolve.resolve(list(modules))
    # OPA looks for deprecated builtins in its last check, once all others passed
    deprecated = [d for d in diags if d.message.startswith(DEPRECATED)]
    diags = [d for d in diags if not d.message.startswith(DEPRECATED)]
    diags += _data_conflicts(modules, data if data is not None else {})
    try:  # go on after resolution errors: the user gets every diagnostic at once
        program = rules.Program(groups, freeze(data if data is not None else {}),
                                tuple(m.package for m in modules))
    except PolicyError as e:
        raise PolicyError(diags + e.diagnostics) from None
    # OPA checks types only once safety and recursion hold, so theirs are the errors
    # a module with both gets
    diags += typecheck.typecheck(groups)
    if diags or deprecated:
        raise PolicyError(diags or deprecated)
    return program


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
                out.append(Diagnostic(code="rego_compile_error", span=r.span,
                                      message=f"conflicting rule for data path `{'/'.join(path)}` found"))
    return out


class Query:
    """A compiled query body: one binding map per solution, as `opa eval` reports."""

    def __init__(self, program: Program, body: tuple[ir.Literal, ...], *,
                 package: tuple[str, ...] = ("$query",), imports: tuple[ir.Import, ...] = ()):
        # `package` and `imports`: the query reads names as a rule of that module would
        fake = ir.Module(package=package, imports=imports,
                         rules=(ir.Rule(kind="complete", name="$q", body=body),))
        groups = {path: r.group for path, r in program.rules.items()}
        n = len(package)
        local = {p[n] for p in program.rules if len(p) > n and p[:n] == package} | {"$q"}
        names = resolve._Names(fake, groups, diags := [], local)
        rule = names.rule(fake.rules[0])
        if diags:
            raise PolicyError(diags)
        for lit in rule.body:
            _check_functions(lit, program)
        # the rules were compiled without looking for what a `with` of the query replaces
        uncovered = sorted(".".join(t[1:]) for t in plan.with_targets([rule]) if t[0] != "input"
                           and (t[1] not in program.mocked if t[0] == "fn" else t[1:] not in program.data_targets))
        if uncovered:
            raise PolicyError.at("unsupported", f"a query's `with` replacing {', '.join(f'`{u}`' for u in uncovered)} "
                                 "that no rule's `with` replaces is not supported", rule.span)
        frame = closures.Frame()
        comp = closures.Compiler(program, frame, set())
        shallow = plan.shallow_vars(rule.body)
        self.names = sorted(v for v in shallow if not plan.is_wildcard(v))
        slots = [(n, frame.slot(n)) for n in self.names]

        def emit(env):
            env[1].append({n: env[s] for n, s in slots})
            return False

        self.run, _ = comp.body(rule.body, set(), frozenset(shallow), emit, None)
        if diags := typecheck.check_body(rule.body, groups):
            raise PolicyError(diags)
        self.size = frame.size

    def solutions(self, ctx: Ctx) -> list[dict]:
        env = [None] * self.size
        env[0] = ctx
        out = env[1] = []
        self.run(env)
        return out


def _check_functions(lit, program: Program) -> None:
    """Query calls to `data.*` functions must name compiled functions."""
    for t in _calls(lit):
        if t.func.startswith("data.") and tuple(t.func.split(".")[1:]) not in program.rules:
            raise PolicyError.at("rego_type_error", f"undefined function `{t.func}`", t.span)


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
