"""The policy API: load policies, evaluate decisions, run queries.

`load_policy` reads Rego modules (and role tables, through their own frontend), data
documents, and compiles them once; a `Policy` then answers `allows`, `evaluate` and
`explain` for any input without touching the IR again. `query` runs an ad-hoc query
over modules with OPA's result-set semantics.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from policydiff import ir
from policydiff.compile import UNDEFINED, Ctx, Program, Query, compile_modules, thaw
from policydiff.compile.closures import Compiler, Frame
from policydiff.compile.rule import CompiledRule
from policydiff.compile.values import number
from policydiff.documents import load_json, load_yaml, read_text
from policydiff.errors import Code, InputError, PolicyError
from policydiff.frontend import rego
from policydiff.source import Source, Span

__all__ = ["UNDEFINED", "Policy", "given_once", "load_policy", "query"]

_ROLE_TABLE_SUFFIXES = (".yaml", ".yml", ".toml")
_DATA_SUFFIXES = (".json",)


class Policy:
    """A compiled policy and its decision rule."""

    def __init__(self, modules: tuple[ir.Module, ...], program: Program, decision: str,
                 sources: dict[str, str], data: dict):
        self.modules = modules
        self.program = program
        self.decision = decision
        self.sources = sources
        self.data = data
        self._refs: dict[str, Any] = {}
        self._decision_fn = self._ref_fn(decision)
        rule = program.rules.get(_rule_path(decision))
        # a decision that names a rule is its value, computed in a fresh ctx directly
        self._decide = rule.decider() if isinstance(rule, CompiledRule) and rule.kind != "function" else None

    def _ref_fn(self, ref: str):
        """The compiled reference (compiled once per policy and reference)."""
        fn = self._refs.get(ref)
        if fn is None:
            fn = self._refs[ref] = _decision_query(self.program, ref)
        return fn

    # ---- decisions

    def evaluate(self, input: Any, ref: str | None = None, *, strict: bool = False) -> Any:
        """The value of `ref` (default: the decision) for `input`, or `UNDEFINED`.

        A builtin error makes its expression undefined, as in OPA by default; `strict`
        raises it instead (`eval_type_error`, `eval_builtin_error`), as OPA does with
        strict builtin errors."""
        value, _ = self._eval(input, ref, strict=strict)
        return thaw(value) if value is not UNDEFINED else UNDEFINED

    def allows(self, input: Any, *, strict: bool = False) -> bool:
        """True only when the decision is exactly `true`; undefined means deny. `strict`
        raises builtin errors as `evaluate` does (a shadow authorizer counts them)."""
        return self.decide(input, strict=strict) is True

    def decide(self, input: Any, *, strict: bool = False) -> Any:
        """The decision's value as the evaluator holds it (`UNDEFINED`, `True`, `False`,
        or any other value, frozen), on the fast path `allows` takes."""
        ctx = Ctx(input if input is not None else UNDEFINED, strict=strict)
        if self._decide is not None:
            return self._decide(ctx)
        return self._decision_fn([ctx, None])

    def decision_rule(self) -> str | None:
        """Why the decision names no rule of the policy (a typo, a package), or None."""
        node: Any = self.program.tree
        for k in _rule_path(self.decision):
            if isinstance(node, CompiledRule):
                return None  # a key into a rule's value
            if not isinstance(node, dict) or k not in node:
                return f"`{self.decision}` names no rule of the policy"
            node = node[k]
        if isinstance(node, dict):
            return f"`{self.decision}` is a package, not a rule"
        return None

    def explain(self, input: Any, ref: str | None = None) -> tuple[Any, tuple[str, ...]]:
        """The value and the `file:line` of the rule bodies that produced it."""
        value, ctx = self._eval(input, ref, explain=True)
        rule = self.program.rules.get(_rule_path(ref or self.decision))
        where: tuple[str, ...] = ()
        if rule is not None:
            where = tuple(s.where for s in ctx.prov.get(rule, ()))
        return (thaw(value) if value is not UNDEFINED else UNDEFINED), where

    def _eval(self, input: Any, ref: str | None, explain: bool = False, strict: bool = False):
        ctx = Ctx(input if input is not None else UNDEFINED, explain=explain, strict=strict)
        fn = self._decision_fn if ref is None else self._ref_fn(ref)
        env = [ctx, None]
        return _too_deep(fn, ref or self.decision)(env), ctx


def _too_deep(fn, where: str):
    """`fn`, with running out of Python's recursion limit as the `too_deep` diagnostic."""

    def run(*args):
        try:
            return fn(*args)
        except RecursionError:
            raise PolicyError.at(Code.TOO_DEEP, "nested more deeply than policydiff supports "
                                 "(see README.md, Limits)", Span(file=where)) from None

    return run


def _rule_path(ref: str) -> tuple[str, ...]:
    parts = ref.split(".")
    return tuple(parts[1:]) if parts[0] == "data" else tuple(parts)


def decision_path(ref: str) -> tuple:
    """The path of a decision reference `data.pkg.rule`; anything else is `bad_decision`."""
    try:
        body = rego.parse_query(ref, name="<decision>")
    except PolicyError:
        raise InputError.at(Code.BAD_DECISION, f"`{ref}` is not a reference like `data.pkg.allow`") from None
    if len(body) != 1 or not isinstance(body[0], ir.Expr) or not isinstance(body[0].term, ir.Ref) \
            or not isinstance(body[0].term.head, ir.Var) or body[0].term.head.name != "data" \
            or not all(isinstance(k, ir.Scalar) for k in body[0].term.path):
        raise InputError.at(Code.BAD_DECISION, f"`{ref}` is not a reference like `data.pkg.allow`")
    return body[0].term.path


def _decision_query(program: Program, ref: str):
    """A function of a frame returning the value of a `data.…` reference."""
    path = decision_path(ref)
    comp = Compiler(program, Frame(), set())
    before = len(program.deferred)
    try:
        root, rest = program.data_root(path, set(), comp)
        if rest:
            root = comp.term(ir.Ref(head=ir.Var(name="data"), path=path), set(), frozenset())
    finally:
        found = program.deferred[before:]
        del program.deferred[before:]
    if found:  # the decision names a function: a type error, as OPA's query would be
        raise PolicyError(found)
    return root


# ------------------------------------------------------------------------------ loading


def load_policy(path_or_text: str | Path | Sequence[str | Path | Mapping] | Mapping, *,
                data: Mapping | None = None, decision: str | None = None) -> Policy:
    """Load and compile one or more policies.

    Each item is a path (`.rego`, a role table `.yaml`/`.yml`/`.toml`, or a `.json`
    data document), Rego text, or a data document as a dict. The decision is
    `data.<package of the first module>.allow` unless `decision` names another rule.
    """
    with _gc_paused():
        return _load(path_or_text, data, decision)


@contextmanager
def _gc_paused():
    """Loading builds hundreds of thousands of long-lived objects and no garbage cycles;
    Python's cyclic collector would rescan them all again and again (half the load time
    of a 5 MB policy, and what made it grow faster than the text)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load(path_or_text, data: Mapping | None, decision: str | None) -> Policy:
    items = [path_or_text] if isinstance(path_or_text, (str, Path, Mapping)) else list(path_or_text)
    given_once(items)
    modules: list[ir.Module] = []
    sources: dict[str, str] = {}
    merged: dict = {}
    errors: list = []
    fatal = False
    for n, item in enumerate(items):
        if isinstance(item, Mapping):
            _merge(merged, dict(item))
            continue
        p = Path(item) if isinstance(item, Path) or _looks_like_path(item) else None
        if p is None:
            src = Source(name=f"<text{n}>" if len(items) > 1 else "<text>", text=str(item))
        elif p.suffix in _ROLE_TABLE_SUFFIXES:
            from policydiff.frontend import roletable  # its Structs cost a compare of Rego ~15 ms

            modules.append(roletable.load_module(p))
            continue
        elif p.suffix in _DATA_SUFFIXES:
            _merge(merged, data_object(read_json(p), p))
            continue
        else:
            src = Source(name=str(p), text=read_text(p, "policy", InputError))
        sources[src.name] = src.text
        module, diags = _too_deep(rego.parse_collecting, src.name)(src)
        errors.extend(diags)
        if module is None or any(d.code == Code.REGO_PARSE_ERROR for d in diags):
            fatal = True  # as OPA, which compiles nothing of modules that do not parse
        else:
            modules.append(module)
    if data:
        _merge(merged, dict(data))
    if not modules and not errors:
        raise InputError.at(Code.NO_POLICY, "no policy module given")
    where = modules[0].span.file if modules else "<policy>"
    program = _too_deep(_compile, where)(modules, merged, errors, fatal)
    if decision is None:
        decision = "data." + ".".join(modules[0].package + ("allow",))
    return Policy(tuple(modules), program, decision, sources, merged)


def given_once(items: list) -> None:
    """Refuse a file given twice (`check a.rego a.rego`, or `policies/` and a file in it):
    read twice, a module conflicts with itself (its default rule twice), which says
    nothing of the policy; it is most likely a slip in a command line."""
    seen: dict[Path, str] = {}
    for item in items:
        if isinstance(item, Mapping) or not (isinstance(item, Path) or _looks_like_path(item)):
            continue
        key = Path(item).resolve()
        if key in seen:
            first = "" if str(item) == seen[key] else f" (first as `{seen[key]}`)"
            raise InputError.at(Code.GIVEN_TWICE, f"the file `{item}` is given twice{first}: each policy "
                                f"and data file must be given once", Span(file=str(item)))
        seen[key] = str(item)


def _compile(modules, data, errors: list, fatal: bool) -> Program:
    """Compile unless a module did not parse; raise everything found, sorted."""
    if fatal:
        raise PolicyError(errors)
    try:
        program = compile_modules(modules, data)
    except PolicyError as e:
        raise PolicyError(errors + e.diagnostics) from None
    if errors:
        raise PolicyError(errors)
    return program


def _looks_like_path(s: str) -> bool:
    """A string names a file, not Rego text: by its suffix, or because something is there
    (a FIFO, `/dev/stdin` or a process substitution `<(...)` too, which are read as files
    rather than parsed as the text of their name)."""
    if "\n" in s or "{" in s:
        return False
    if s.endswith((".rego",) + _ROLE_TABLE_SUFFIXES + _DATA_SUFFIXES):
        return True
    try:
        return Path(s).exists()
    except OSError:  # a name too long to be a path
        return False


def read_json(p: str | Path, *, parse_float=None) -> Any:
    """The JSON document of a file; bad JSON names the file, line and column."""
    return load_json(read_text(p, "data"), str(p), parse_float=parse_float)


def read_document(path: str | Path) -> Any:
    """An input or data document given on the command line: YAML by its suffix, else
    JSON whose numbers keep their text, as in OPA; errors name the file, line and column."""
    if Path(path).suffix in (".yaml", ".yml"):
        return load_yaml(read_text(path, "document"), str(path)).data
    return read_json(path, parse_float=number)


def data_object(doc: Any, path: str | Path) -> dict:
    """`doc`, a data document mounted at the root of `data`, which must be an object."""
    if not isinstance(doc, dict):
        raise InputError.at(Code.BAD_DATA, "a data document must be an object", Span(file=str(path)))
    return doc


def _merge(into: dict, doc: dict) -> None:
    for k, v in doc.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


# -------------------------------------------------------------------------------- query


def query(modules: list[str], query: str, *, input: Any = None, data: Mapping | None = None,
          strict: bool = False) -> list[dict]:
    """Evaluate `query` against `modules` (Rego texts): one binding map per solution,
    `[]` when the query is undefined. `strict` turns builtin errors into errors."""
    parsed = []
    errors: list = []
    fatal = False
    for n, text in enumerate(modules):
        module, diags = rego.parse_collecting(Source(name=f"module{n}.rego", text=text))
        errors.extend(diags)
        if module is None:
            fatal = True
        else:
            parsed.append(module)
    program = _compile(parsed, dict(data or {}), errors, fatal)
    q = Query(program, rego.parse_query(query), listed=True)
    ctx = Ctx(input if input is not None else UNDEFINED, strict=strict)
    return [{k: thaw(v) for k, v in sol.items()} for sol in q.solutions(ctx)]
