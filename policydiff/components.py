"""The shape of a rule body `policydiff.search` decides, read off the IR.

A body is a conjunction of literals; literals that share a local variable form one
*component* (`components`), whose truth the search computes on each value of the one
class it reads (`input_reads`). A bare reference to a boolean rule (`rule_name`) is
inlined; any other mention of a rule or function that reads input (`reading_input`,
`mentions`) puts the policy outside the shape (`OutOfShape`), and so does a `with`, a
read of the whole input, or a local named as a rule. `existential` tells a test that
holds of an input collection exactly when it holds of one of its members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policydiff import ir
from policydiff.analysis import Path
from policydiff.atoms import local_names
from policydiff.reads import children


class OutOfShape(Exception):
    """The policies are outside the shape `policydiff.search` decides."""


def existential(t: ir.Term, path: Path) -> bool:
    """Whether `t` holds of a collection exactly when it holds of one of its members:
    `c in input.p` or a comparison of `input.p[_]` with constants, reading nothing else."""
    def member_ref(x: Any) -> bool:
        return (isinstance(x, ir.Ref) and isinstance(x.head, ir.Var) and x.head.name == "input"
                and len(x.path) == len(path) + 1 and isinstance(x.path[-1], ir.Var)
                and x.path[-1].name == "_"
                and all(isinstance(k, ir.Scalar) and k.value == p for k, p in zip(x.path, path)))

    def whole_ref(x: Any) -> bool:
        return (isinstance(x, ir.Ref) and isinstance(x.head, ir.Var) and x.head.name == "input"
                and tuple(k.value if isinstance(k, ir.Scalar) else None for k in x.path) == path)

    match t:
        case ir.Call(func="internal.member_2", args=(ir.Scalar(), coll)):
            return whole_ref(coll)
        case ir.Call(func="equal" | "neq" | "lt" | "lte" | "gt" | "gte" | "startswith" | "endswith"
                     | "contains", args=(a, b)):
            return (member_ref(a) and isinstance(b, ir.Scalar)) or (member_ref(b) and isinstance(a, ir.Scalar))
    return False


def components(lits: Sequence[ir.Literal], globals_: set[str]) -> list[tuple[ir.Literal, ...]]:
    """The literals grouped by the local variables they share (`_` links nothing)."""
    parent = list(range(len(lits)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, lit in enumerate(lits):
        if isinstance(lit, ir.With) or _binds(lit) & globals_:
            raise OutOfShape  # `with`, or a local named as a rule: its literals could not be told apart
        for name in local_names(lit) - globals_ - {"_"}:
            if name in owner:
                parent[find(i)] = find(owner[name])
            else:
                owner[name] = i
    groups: dict[int, list[ir.Literal]] = {}
    for i, lit in enumerate(lits):
        groups.setdefault(find(i), []).append(lit)
    return [tuple(g) for g in groups.values()]


def _binds(lit: ir.Literal) -> set[str]:
    """The names a literal declares or assigns."""
    match lit:
        case ir.Assign(lhs=lhs):
            return local_names(lhs)
        case ir.Some(vars=names):
            return set(names)
        case ir.SomeIn(key=key, value=value):
            return local_names(value) | (local_names(key) if key is not None else set())
        case ir.Every(key=key, value=value):
            return {n for n in (key, value) if n}
    return set()


def input_reads(lits: Sequence[ir.Literal]) -> set[Path]:
    """The input paths `lits` read (up to the first key that is not a constant)."""
    out: set[Path] = set()
    stack: list[Any] = list(lits)
    while stack:
        n = stack.pop()
        if isinstance(n, ir.Ref) and isinstance(n.head, ir.Var) and n.head.name == "input":
            path = []
            for k in n.path:
                if not (isinstance(k, ir.Scalar) and isinstance(k.value, str)):
                    break
                path.append(k.value)
            if not path:
                raise OutOfShape
            out.add(tuple(path))
            stack.extend(k for k in n.path)
            continue
        if isinstance(n, ir.Var) and n.name == "input":
            raise OutOfShape  # the whole input
        if n is not None:
            stack.extend(children(n))
    return out


def rule_name(t: ir.Term, pkg: tuple[str, ...]) -> str | None:
    """The rule of `pkg` a bare reference names (`is_admin`, `data.p.is_admin`)."""
    match t:
        case ir.Var(name=name):
            return name
        case ir.Ref(head=ir.Var(name="data"), path=path) if len(path) == len(pkg) + 1 and all(
                isinstance(k, ir.Scalar) for k in path):
            keys = tuple(k.value for k in path)
            return keys[-1] if keys[:-1] == pkg else None
    return None


def mentions(node: Any, names: set[str], pkg: tuple[str, ...]) -> bool:
    """Whether `node` refers to one of the rules or functions `names` of `pkg`, or
    to a part of `data` that may hold them."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ir.Var) and n.name in names:
            return True
        if isinstance(n, ir.Call):
            f = n.func.split(".")
            if n.func in names or (f[0] == "data" and tuple(f[1:-1]) == pkg and f[-1] in names):
                return True
        if isinstance(n, ir.Ref) and isinstance(n.head, ir.Var) and n.head.name == "data":
            keys = []
            for k in n.path:
                if not isinstance(k, ir.Scalar):
                    break
                keys.append(k.value)
            if tuple(keys[:len(pkg)]) == pkg[:len(keys)] and (
                    len(keys) <= len(pkg) or keys[len(pkg)] in names):
                return True
        if n is not None:
            stack.extend(children(n))
    return False


def reading_input(rules: Mapping[str, list[ir.Rule]]) -> set[str]:
    """The rules and functions of the package that may read input, directly or
    through another (`with` counts as reading it)."""
    refs: dict[str, set[str]] = {}
    direct: set[str] = set()
    for name, rs in rules.items():
        seen: set[str] = set()
        stack: list[Any] = list(rs)
        while stack:
            n = stack.pop()
            if isinstance(n, ir.Rule) and n.else_ is not None:
                stack.append(n.else_)
            if isinstance(n, ir.Var):
                if n.name == "input":
                    direct.add(name)
                seen.add(n.name)
            elif isinstance(n, ir.With):
                direct.add(name)
            elif isinstance(n, ir.Call):
                seen.add(n.func.split(".")[-1])
            elif isinstance(n, ir.Ref) and isinstance(n.head, ir.Var) and n.head.name == "data":
                seen.update(k.value for k in n.path if isinstance(k, ir.Scalar) and isinstance(k.value, str))
                seen.add("data")
            if n is not None:
                stack.extend(children(n))
        refs[name] = seen
    out = set(direct) | {"input"}
    changed = True
    while changed:
        changed = False
        for name, seen in refs.items():
            if name not in out and seen & out:
                out.add(name)
                changed = True
    return (out | {n.split(".")[0] for n in out}) - {"input"}
