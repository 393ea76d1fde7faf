"""What IR terms read: variable names, calls, and references into `data`.

Syntactic questions the analysis asks of the IR, apart from its value flow: which
variables a term mentions (with or without its comprehensions), which functions it
calls, which `data` paths it reads, which local definitions a term needs to be folded
(`policydiff.fold`), and whether every `data` path a module reads is given — a module
that needs another that was not given reads it as undefined and decides nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policydiff import ir
from policydiff.errors import Code, Diagnostic, InputError
from policydiff.source import Span


def children(node: Any) -> Iterator[Any]:
    for f in getattr(node, "__struct_fields__", ()):
        if f == "span":
            continue
        x = getattr(node, f)
        stack = [x]
        while stack:
            y = stack.pop()
            if isinstance(y, tuple):
                stack.extend(y)
            elif isinstance(y, ir.Node):
                yield y


def var_names(node: Any, out: set[str], *, comprehensions: bool) -> None:
    """The variable names in `node` (`some` and `every` declarations too); inside
    comprehensions only when `comprehensions`."""
    if node is None:
        return
    if isinstance(node, tuple):
        for x in node:
            var_names(x, out, comprehensions=comprehensions)
        return
    if isinstance(node, ir.Var):
        out.add(node.name)
        return
    if isinstance(node, (ir.ArrayCompr, ir.SetCompr, ir.ObjectCompr)) and not comprehensions:
        return
    if isinstance(node, ir.Some):
        out.update(node.vars)
    if isinstance(node, ir.Every):
        out.update(v for v in (node.key, node.value) if v)
    for c in children(node):
        var_names(c, out, comprehensions=comprehensions)


def calls(node: Any) -> Iterator[ir.Call]:
    if isinstance(node, ir.Call):
        yield node
    for c in children(node):
        yield from calls(c)


def data_refs(node: Any) -> Iterator[tuple[str, ...]]:
    """The constant string prefix of every `data…` reference in `node`."""
    if isinstance(node, ir.Ref) and isinstance(node.head, ir.Var) and node.head.name == "data":
        prefix = []
        for k in node.path:
            if not (isinstance(k, ir.Scalar) and isinstance(k.value, str)):
                break
            prefix.append(k.value)
        yield tuple(prefix)
    elif isinstance(node, ir.Var) and node.name == "data":
        yield ()
    if isinstance(node, ir.Ref):
        for k in node.path:
            yield from data_refs(k)
        if not (isinstance(node.head, ir.Var) and node.head.name == "data"):
            yield from data_refs(node.head)
        return
    for c in children(node):
        yield from data_refs(c)


def needed_locals(t: ir.Term, closed: Mapping[str, ir.Term]) -> list[tuple[str, ir.Term]]:
    """The closed locals `t` reads, transitively, in the order they were defined."""
    need: set[str] = set()
    todo = [t]
    while todo:
        names: set[str] = set()
        var_names(todo.pop(), names, comprehensions=True)
        for n in names & closed.keys() - need:
            need.add(n)
            todo.append(closed[n])
    return [(n, closed[n]) for n in closed if n in need]


def check_data_refs(modules: Sequence[ir.Module], data: Mapping[str, Any] | None) -> None:
    """Every `data.x…` a module reads must be a package given or a data document: a
    module that needs another one that was not given reads it as undefined, and its
    rules then decide nothing (a vacuous pass)."""
    packages = [m.package for m in modules]
    missing = []
    for m in modules:
        refs = [(tuple(imp.path[1:]), imp.span) for imp in m.imports if imp.path[0] == "data"]
        refs += [(prefix, span) for prefix, span in _data_refs_at(m)]
        for prefix, span in refs:
            if not prefix or prefix[0] in (data or {}):
                continue
            if any(pkg[:len(prefix)] == prefix or prefix[:len(pkg)] == pkg for pkg in packages):
                continue
            missing.append(Diagnostic(
                code=Code.MISSING_MODULE, span=span,
                message=f"`data.{'.'.join(prefix)}` is in no module given and in no data document",
                help="pass the module that defines it (or its data with --data)"))
    if missing:
        raise InputError(missing)


def _data_refs_at(node: Any) -> Iterator[tuple[tuple[str, ...], Span]]:
    """`data_refs` with the position of each reference."""
    if isinstance(node, ir.Ref) and isinstance(node.head, ir.Var) and node.head.name == "data":
        for prefix in data_refs(node):
            yield prefix, node.span
            break
        for k in node.path:
            yield from _data_refs_at(k)
        return
    for c in children(node):
        yield from _data_refs_at(c)
