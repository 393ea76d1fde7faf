"""The value-flow graph of the analysis: a union-find over values, with children.

Every value the analysis meets is a `Node`; `Graph.union` merges two values that may be
compared (equality, membership, assignment, argument passing), and their children
(fields, elements, keys, and the positions of array literals until something
reads them as collections) with them, as Steensgaard's points-to analysis does. A class
root holds the input paths, constants and string patterns of everything merged into it;
merging only ever adds to a class. `policydiff.analysis` walks the IR into this graph.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

ELEM = "[]"  # path step: "any element of this collection"

Path = tuple[str, ...]
Scalar = str | int | float | bool | None


def position(i: int) -> str:
    """Path step: "the element at position `i`" of an array compared with array
    patterns (`input.path = ["api", "v1", x]`), which keeps each position apart."""
    return f"[{i}]"


def position_of(step: str) -> int | None:
    """The index of a `position` step, None for any other step."""
    if len(step) > 2 and step[0] == "[" and step[-1] == "]" and step[1:-1].isdigit():
        return int(step[1:-1])
    return None


class Pattern(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """A string test with a constant argument: `prefix`, `suffix`, `contains` or
    `glob` (with the delimiters in effect: none for `null`, `.` for `[]`)."""

    kind: str
    text: str
    delimiters: tuple[str, ...] = ()


class Node:
    __slots__ = ("array_literal", "children", "collapsed", "computed", "consts", "literal", "parent", "paths",
                 "patterns", "set_like", "whole")

    def __init__(self) -> None:
        self.parent: Node | None = None
        self.children: dict[tuple, Node] = {}
        self.consts: set[tuple[type, Any]] = set()
        self.patterns: set[Pattern] = set()
        self.paths: set[Path] = set()
        self.collapsed = False
        self.whole = False  # used as a whole value, not only as the right of `x in coll`
        self.computed: str | None = None  # "file:line: `f`": a builtin result of unknown value
        # "file:line": an array or object literal, whose equality with input depends on
        # positions, length or the exact set of keys, which the classes do not model
        self.literal: str | None = None
        # "the array at file:line": an array literal, whose members stay apart by
        # position (children `("p", i)`) until something reads it as a collection
        self.array_literal: str | None = None
        self.set_like = False  # may be a set: its keys are its elements


def find(n: Node) -> Node:
    root = n
    while root.parent is not None:
        root = root.parent
    while n.parent is not None and n.parent is not root:
        n.parent, n = root, n.parent
    return root


def const_key(value: Scalar) -> tuple[type, Any]:
    # True == 1 in Python; keep constants of different JSON types apart. Numbers are
    # one type, as in OPA (1 == 1.0): one constant, one cell.
    if isinstance(value, float):
        return (int, value)
    return (type(value), value)


class Graph:
    """The nodes and the merge operations; no knowledge of the IR."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []  # every node made, for `settle`

    def node(self, *consts: Scalar) -> Node:
        n = Node()
        self.nodes.append(n)
        n.consts.update(const_key(c) for c in consts)
        return n

    def union(self, a: Node, b: Node) -> Node:
        ra, rb = find(a), find(b)
        if ra is rb:
            return ra
        if len(rb.children) > len(ra.children):
            ra, rb = rb, ra
        rb.parent = ra
        ra.consts |= rb.consts
        ra.patterns |= rb.patterns
        ra.whole = ra.whole or rb.whole
        ra.computed = ra.computed or rb.computed
        ra.literal = ra.literal or rb.literal
        ra.array_literal = ra.array_literal or rb.array_literal
        ra.set_like = ra.set_like or rb.set_like
        new_a, new_b = ra.paths - rb.paths, rb.paths - ra.paths
        ra.paths |= rb.paths
        collapsed = ra.collapsed or rb.collapsed
        pending = list(rb.children.items())
        rb.children = {}
        # Children of one side gain the paths the other side brought in.
        for label, child in list(ra.children.items()):
            if label not in dict(pending):
                self._add_paths(child, _extend(new_b, label))
        for label, child in pending:
            mine = ra.children.get(label)
            if mine is None:
                ra.children[label] = child
                self._add_paths(child, _extend(new_a, label))
            else:
                self.union(mine, child)
        root = find(ra)
        if collapsed:
            self.collapse(root)
        return find(root)

    def _add_paths(self, n: Node, paths: set[Path], active: frozenset[int] = frozenset()) -> None:
        r = find(n)
        new = paths - r.paths
        if not new or id(r) in active:  # a class that is its own field: stop at the cycle
            return
        r.paths |= new
        for label, child in list(r.children.items()):
            self._add_paths(child, _extend(new, label), active | {id(r)})

    def child(self, n: Node, label: tuple) -> Node:
        r = find(n)
        c = r.children.get(label)
        if c is None:
            c = Node()
            self.nodes.append(c)
            r.children[label] = c
            c.paths = _extend(r.paths, label)
        return find(c)

    def field(self, n: Node, key: Scalar) -> Node:
        r = find(n)
        if r.collapsed:
            return self.child(r, ("e",))
        return self.child(r, ("f", key))

    def position(self, n: Node, i: int) -> Node:
        """The member of an array literal at position `i` (the elements, once the
        array is read as a collection)."""
        r = find(n)
        if r.collapsed or ("e",) in r.children:
            return self.child(r, ("e",))
        return self.child(r, ("p", i))

    def elem(self, n: Node) -> Node:
        r = find(n)
        if any(label[0] in "fp" for label in r.children):
            self.collapse(r)
        return self.child(find(r), ("e",))

    def keys(self, n: Node) -> Node:
        return self.child(n, ("k",))

    def settle(self) -> None:
        """What only the whole flow tells, merged last, until nothing changes:

        - a set's keys are its members: `S[p]` binds `p` to them and `S["a"]` is "a"
          when it is one; whether a value may be a set is known only once every value
          has flowed in (a partial set, a set literal, comprehension or operation, a
          folded set), so each class that may be a set has its keys, fields and
          elements in one class;
        - a document looked up by a variable before a field of it was defined or read
          (`o[input.user]` walked before `o.alice := 1`, `some x in input.resource`
          before `input.resource.owner`) has that field among its elements."""
        changed = True
        while changed:
            changed = False
            for n in list(self.nodes):
                if n.parent is not None or n.collapsed:
                    continue
                labels = n.children.keys()
                if n.set_like or (("e",) in labels and any(lab[0] in "fp" for lab in labels)):
                    self.collapse(n)
                    changed = True
            for n in list(self.nodes):
                if n.parent is not None or not n.set_like:
                    continue
                r = find(n)
                k, e = self.keys(r), self.elem(r)
                if k is not e:
                    self.union(k, e)
                    changed = True

    def collapse(self, n: Node) -> None:
        """From now on, every field of `n` is one class with its elements: used for
        documents indexed by a variable, whose keys are not known statically."""
        r = find(n)
        r.collapsed = True
        e = self.child(r, ("e",))
        for label in [lab for lab in find(r).children if lab[0] in "fp"]:
            c = find(r).children.pop(label, None)
            if c is not None:
                e = self.union(e, c)


def _extend(paths: set[Path], label: tuple) -> set[Path]:
    if not paths:
        return set()
    match label:
        case ("f", key):
            return {p + (str(key),) for p in paths}
        case ("e",):
            return {p + (ELEM,) for p in paths}
        case ("p", i):
            return {p + (position(i),) for p in paths}
    return set()  # keys of input collections carry no path; iterating them is flagged




def opaque(computed: Sequence[Node]) -> dict[int, str]:
    """Every class inside a computed value of unknown contents (the value itself, its
    elements, fields and keys), with the reason of the value it is part of."""
    out: dict[int, str] = {}
    for n in computed:
        r = find(n)
        for inner in reachable(r):
            out.setdefault(id(inner), r.computed or "a computed value")
    return out


def reads_input(n: Node) -> bool:
    """Whether a value holds input anywhere inside it (an array of input paths, ...).
    Keys are left out: looking a document up by an input value reads the input through
    equality, which the classes capture."""
    return any(r.paths for r in reachable(n, keys=False))


def reachable(n: Node, *, keys: bool = True) -> Iterator[Node]:
    """Every class root reachable from `n` through its children, once each, depth first;
    without `keys`, not through the children that are lookup keys."""
    seen: set[int] = set()
    stack = [n]
    while stack:
        r = find(stack.pop())
        if id(r) in seen:
            continue
        seen.add(id(r))
        yield r
        stack.extend(c for label, c in r.children.items() if keys or label[0] != "k")


def acyclic(paths: set[Path]) -> set[Path]:
    """Drop the unrolled repetitions of a class that is its own field (`x` merged with
    `x.name`): keep `x` and `x.name`, not `x.name.name`."""

    def chain(q: Path) -> int:
        return sum(1 for i in range(len(q)) if q[:i] in paths)

    return {q for q in paths if chain(q) < 2}
