"""`graph.reachable_paths`: every path from the given nodes through an adjacency object.

From each initial node that is a key of the graph, a path follows each neighbour in
turn and is kept (as an array, in a set of them) when it reaches a node with no edges
(included), a node that is not in the graph (left out), or a node already on the path
(the path stops before it). An initial node without edges is a path of its own; one
that is not in the graph gives none. Edges that are not an array or a set count as no
edges. `TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

from policydiff.compile.builtins.operands import TypeError_
from policydiff.compile.values import UNDEFINED, Obj, sort_key, type_name


def _edges(v) -> list:
    if type(v) is tuple:
        return list(v)
    if type(v) is frozenset:
        return sorted(v, key=sort_key)
    return []


def _walk(graph: Obj, root, path: tuple, out: set, seen: frozenset) -> None:
    edges = graph.get(root, UNDEFINED)
    if edges is UNDEFINED:
        out.add(path)
        return
    path = (*path, root)
    neighbours = _edges(edges)
    if not neighbours:
        out.add(path)
        return
    seen = seen | {root}
    for n in neighbours:
        if n in seen:
            out.add(path)
        else:
            _walk(graph, n, path, out, seen)


def reachable_paths(graph, initial):
    name = "graph.reachable_paths"
    if type(graph) is not Obj:
        raise TypeError_(f"{name}: operand 1 must be object but got {type_name(graph)}")
    if type(initial) not in (tuple, frozenset):
        raise TypeError_(f"{name}: operand 2 must be one of {{array, set}} but got {type_name(initial)}")
    out: set = set()
    for node in _edges(initial):
        edges = graph.get(node, UNDEFINED)
        if edges is UNDEFINED:
            continue
        neighbours = _edges(edges)
        if not neighbours:
            out.add((node,))
        for n in neighbours:
            _walk(graph, n, (node,), out, frozenset((node,)))
    return frozenset(out)


TABLE = {"graph.reachable_paths": (2, reachable_paths)}
