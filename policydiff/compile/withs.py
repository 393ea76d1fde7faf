"""`with`: a literal evaluated with the input, or a function or builtin, replaced.

The compiled literal (`closures.Compiler.literal`) evaluates the values in the current
evaluation, then runs the literal in a derived one (`derive`): a new `Ctx`, so no rule
value computed under the replacement is seen outside it, with the input patched and the
replacements in `ctx.mocks`. Calls of a name some `with` replaces look there first
(`mocked`); a replacement function runs without any replacement, as OPA's: a mock
never calls another mock, and calls the builtin it replaces as the original.

A builtin outside the subset (the clock, the network, the environment: `OUT_OF_SCOPE`)
is kept in a policy only when some `with` of it replaces the builtin (`resolve`); its
calls find the replacement here and refuse, `unsupported`, when an evaluation reaches
them without one (`closures`). `kept_builtin_calls` lists them, for `policydiff check`.
"""

from __future__ import annotations

from typing import Any

from policydiff import ir
from policydiff.compile.builtins import OUT_OF_SCOPE
from policydiff.compile.values import UNDEFINED, Obj
from policydiff.errors import Code, Diagnostic


class Replacement:
    """What replaces a function: a value (`with count as 1`), a builtin (`with f as
    count`) or a user function (`with count as f`, `call` given by the program)."""

    __slots__ = ("call", "value")

    def __init__(self, value: Any = UNDEFINED, call=None):
        self.value = value
        self.call = call  # (ctx, args) -> value

    def apply(self, ctx, args: list):
        if self.call is None:
            return self.value
        return self.call(_plain(ctx), args)


def _plain(ctx):
    """`ctx` without replacements, for a replacement function's own evaluation."""
    if not ctx.mocks:
        return ctx
    return type(ctx)(ctx.raw, strict=ctx.strict, explain=ctx.explain)


def patched(doc: Any, path: tuple, value: Any) -> Any:
    """`doc` with `value` at `path` (objects made where missing, as OPA upserts)."""
    if not path:
        return value
    base = doc if type(doc) is Obj else Obj()
    out = Obj(base)
    out[path[0]] = patched(base.get(path[0], UNDEFINED), path[1:], value)
    return out


def derive(ctx, targets, values: list):
    """The evaluation a `with` literal runs in."""
    raw = ctx.raw
    mocks = dict(ctx.mocks) if ctx.mocks else {}
    data = list(ctx.data_with)
    new_input = False
    inp = UNDEFINED
    for target, v in zip(targets, values):
        if target[0] == "input":
            if not new_input:
                inp, new_input = ctx.input, True
            inp = patched(inp, target[1:], v)
        elif target[0] == "data":
            data.append((target[1:], v))
        else:  # ("fn", name)
            mocks[target[1]] = v
    out = type(ctx)(inp if new_input else raw, strict=ctx.strict, explain=ctx.explain)
    out.mocks = mocks or None
    out.data_with = tuple(data)
    return out


def data_view(prefix: tuple, plain):
    """The document at `data.<prefix>` (computed by `plain` where nothing replaces it)
    with what `with data.… as …` replaced in the evaluation applied, in order."""

    def view(env):
        replaced = env[0].data_with
        if not replaced:
            return plain(env)
        n = len(prefix)
        doc = _MISSING
        for path, v in replaced:
            if path[:n] == prefix[:len(path)] and len(path) <= n:  # it holds the whole document
                doc = _at(v, prefix[len(path):])
        if doc is _MISSING:
            doc = plain(env)
        for path, v in replaced:
            if len(path) > n and path[:n] == prefix:  # it replaces a document inside
                doc = patched(doc, path[n:], v)
            elif len(path) <= n and path == prefix[:len(path)]:
                doc = _at(v, prefix[len(path):])
        return doc

    return view


_MISSING = object()


def _at(doc, keys: tuple):
    for k in keys:
        if type(doc) is not Obj or k not in doc:
            return UNDEFINED
        doc = doc[k]
    return doc


def mocked(name: str, plain):
    """A call of `name` (compiled as `plain`, taking the argument closures' values as
    `fs`) that a replacement in the evaluation takes over."""

    def call(env, fs):
        mocks = env[0].mocks
        if mocks is None or name not in mocks:
            return plain(env)
        args = []
        for f in fs:
            a = f(env)
            if a is UNDEFINED:
                return UNDEFINED
            args.append(a)
        return mocks[name].apply(env[0], args)

    return call


def kept_builtin_calls(program) -> list[Diagnostic]:
    """Every call, in the rules of `program`, of a builtin outside the subset that a
    `with` of the policy replaces: evaluated only under that `with`, refused otherwise."""
    out: list[Diagnostic] = []

    def walk(node) -> None:
        if isinstance(node, ir.Call) and node.func in OUT_OF_SCOPE:
            out.append(Diagnostic(
                code=Code.UNSUPPORTED, span=node.span,
                message=f"builtin `{node.func}` is evaluated only under a `with` replacing it; a decision "
                        f"reaching it without one is refused (its answer depends on {OUT_OF_SCOPE[node.func]})"))
        for f in getattr(node, "__struct_fields__", ()):
            x = getattr(node, f)
            for y in (x if isinstance(x, tuple) else (x,)):
                if isinstance(y, ir.Node):
                    walk(y)

    if not any(name in OUT_OF_SCOPE for name in program.mocked):
        return out
    for r in program.rules.values():
        for rule in r.group.defs:
            walk(rule)
    return sorted(out, key=lambda d: (d.span.file or "", d.span.line, d.span.col))
