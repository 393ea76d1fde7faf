"""What the policies read from `input`, and what they compare it with.

A unification-based value-flow analysis over the IR, in the style of Steensgaard's
points-to analysis: every term gets a node, and equality, membership, assignment,
argument passing and data lookups merge nodes into classes. A class that holds input
paths therefore collects every constant those paths may be compared with (literals,
keys and values of data documents and object literals), every other input path they
may be compared with (path-to-path equality and membership), and the string patterns
(`startswith`, `endswith`, `glob.match`, `contains`) applied to them. Merging is an
over-approximation: it can only add constants and paths to a class, never lose one,
so the classes that `policydiff.matrix` builds from it split requests at least as
finely as the policies do.

What the policies compute from constants alone is folded first by the evaluator
(`policydiff.fold`): rules that read no input, and input-independent terms, become the
constants they hold, so `{"a", "b"} - {"b"}` compares input with "a".

The classes capture equality, membership and constant string patterns, nothing else:
every other use of an input value is recorded as an `incomplete` reason naming the
rule (`file:line`) and the construct — builtins on input (the default branch of
`call`), ordering, a value of unknown contents compared with input (`opaque`),
positions, lengths and whole-value comparisons of collections and objects, members of
input collections that are collections or objects themselves, computed lookup keys.
An input array met only by array patterns and constant positions is no collection: it
is a tuple of positions (`Analysis.arrays`), each position a path of its own class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, assert_never

import msgspec

from policydiff import atoms as _atoms
from policydiff import ir
from policydiff.atoms import Atom
from policydiff.compile import UNDEFINED
from policydiff.flowgraph import (
    ELEM,
    Graph,
    Node,
    Path,
    Pattern,
    Scalar,
    acyclic,
    const_key,
    find,
    opaque,
    position_of,
    reachable,
    reads_input,
)
from policydiff.fold import NOT_FOLDED, FoldedSet, Folder, plain
from policydiff.reads import calls, check_data_refs, children, data_refs, needed_locals, var_names
from policydiff.source import Span


class InputClass(msgspec.Struct, frozen=True, kw_only=True):
    """Input paths that may be compared with each other, and what they are compared
    with. Elements of a collection path `p` appear as `p + ("[]",)`."""

    paths: tuple[Path, ...]
    constants: tuple[Scalar, ...] = ()
    patterns: tuple[Pattern, ...] = ()
    # False when the policies only test membership in these paths (`x in coll`):
    # then elements equal to no value of the class cannot change a decision.
    whole: bool = True
    # tests on one value the partition cannot capture (`policydiff.atoms`), decided by
    # `policydiff.solver`
    atoms: tuple[Atom, ...] = ()
    # Per collection path `p + ("[]",)` of the class: the constants its members may be
    # compared with other than as the value of one of the class's own input paths
    # (`input.a in input.c` compares c's members with a's value only, whatever a is
    # compared with elsewhere). None: not computed, every constant of the class counts.
    member_constants: tuple[tuple[Path, tuple[Scalar, ...]], ...] | None = None


class Analysis(msgspec.Struct, frozen=True, kw_only=True):
    classes: tuple[InputClass, ...]
    incomplete: tuple[str, ...] = ()  # "file:line: why"
    # input arrays compared only with array patterns, and how many positions the
    # patterns name: each position `p + (position(i),)` is a path of a class
    arrays: tuple[tuple[Path, int], ...] = ()
    # of those, the arrays read only by comparisons with array literals and at constant
    # positions, nothing else (no builtin, atom or other input path): their literals,
    # each member `(True, constant)` or `(False, None)` for any other term, a read of
    # position i as i + 1 members `(False, None)` (`Space` keeps one array of those no
    # literal can match any more past the last position read)
    only_patterns: tuple[tuple[Path, tuple[tuple[tuple[bool, Scalar], ...], ...]], ...] = ()

    @property
    def paths(self) -> frozenset[Path]:
        return frozenset(p for c in self.classes for p in c.paths)

    def class_of(self, path: Path) -> InputClass | None:
        for c in self.classes:
            if path in c.paths:
                return c
        return None


# ------------------------------------------------------------------------- walker

# Calls whose value is a boolean test: nothing to fold.
_TESTS = {"equal", "neq", "internal.unify", "internal.member_2", "internal.member_3",
          "startswith", "endswith", "contains", "glob.match", "lt", "lte", "gt", "gte"}
# Builtins whose result is a set or array of their arguments' elements.
_SET_OPS = {"and", "or", "union", "intersection", "array.concat"}
_PATTERNS = {"startswith": "prefix", "endswith": "suffix", "contains": "contains"}
_ORDERING = {"lt", "lte", "gt", "gte"}


class _Walker:
    def __init__(self, modules: Sequence[ir.Module], data: Mapping[str, Any] | None,
                 shared: _Walker | None = None, folder: Folder | None = None,
                 split_members: bool = False, decision: str | None = None) -> None:
        self.folder = folder
        self.decision = decision
        self._atom_memo: dict[tuple[str, ...], dict] = {}  # per package, see `atoms.find`
        # the second walk of `member_constants`: a test of a plain input value's
        # membership in an input collection merges nothing
        self.split_members = split_members
        self.g = shared.g if shared else Graph()
        if shared:
            self.input = shared.input
        else:
            self.input = self.g.node()
            self.input.paths = {()}
        self.data = self._document(data or {})
        self.packages: dict[tuple[str, ...], dict[str, list[ir.Rule]]] = {}
        for m in modules:
            rules = self.packages.setdefault(m.package, {})
            for r in m.rules:
                rules.setdefault(r.name, []).append(r)
                if r.kind != "function" and (r.ref or "." in r.name):
                    # a reference head: its value is read through the name it starts with
                    rules.setdefault(r.name.split(".")[0], []).append(r)
        self.rule_nodes: dict[tuple, Node] = {}
        # rules that read no input, by (package, name): their values, from the evaluator
        self.folded: dict[tuple, Any] = {}
        if folder is not None:
            for pkg, rules in self.packages.items():
                for name, rs in rules.items():
                    if all(r.name == name and not r.ref and r.kind != "function" for r in rs):
                        value = folder.rule(pkg + (name,))
                        if value is not NOT_FOLDED:
                            self.folded[(pkg, name)] = value
        self.params: dict[tuple, list[Node]] = {}
        self.checks: list[tuple[str, Span, list[Node], bool]] = []
        self.equalities: list[tuple[Node, Node, Span]] = []  # comparisons, not bindings
        self.computed: list[Node] = []  # values of unknown contents (see `opaque`)
        self.positional: list[tuple[Node, Span]] = []  # collections indexed by position
        self.indexed: list[tuple[Node, Span]] = []  # the same, as read (input arrays among them)
        self.array_literals: list[tuple[Node, tuple]] = []  # (node, members as `only_patterns`)
        self.index_reads: list[tuple[Node, int]] = []  # (array, constant position read)
        self.reads: list[tuple[Node, Span]] = []  # every reference and variable read
        # arrays built in input's order (a comprehension, `array.concat`), and the
        # values their members come from
        self.ordered: list[tuple[Node, Node]] = []
        self.deferred_patterns: list[tuple[str, Node, Node, tuple[str, ...], Span]] = []
        self.atoms: list[Atom] = []
        self.modules = modules

    # ---- documents

    def _document(self, value: Any, where: str = "a data document") -> Node:
        n = self.g.node()
        if value is UNDEFINED:
            return n
        if isinstance(value, (Mapping, list, tuple, set, frozenset)):
            n.literal = where
        n.set_like = isinstance(value, (set, frozenset, FoldedSet))
        if isinstance(value, Mapping):
            # fields stay apart, as an object literal's do, until a lookup by a
            # variable collapses them (`Graph.elem`); the keys are its constants
            keys = self.g.keys(n)
            if not all(isinstance(k, str) for k in value):
                self.g.collapse(n)
            for k, v in value.items():
                if isinstance(k, (tuple, Mapping, frozenset)):  # an array, object or set
                    self.g.union(keys, self._document(plain(k), where))
                else:
                    find(keys).consts.add(const_key(k))
                self.g.union(self.g.field(n, k), self._document(v, where))
        elif isinstance(value, (list, tuple, set, frozenset)):
            if not n.set_like:  # an array's keys are its positions
                self.g.keys(n).consts.update(const_key(i) for i in range(len(value)))
            for v in value:
                self.g.union(self.g.elem(n), self._document(v, where))
        else:
            n.consts.add(const_key(value))
        return n

    # ---- rules

    def rule_node(self, pkg: tuple[str, ...], name: str) -> Node:
        key = (pkg, name)
        if key not in self.rule_nodes:
            if key in self.folded:
                at = self.packages[pkg][name][0].span.where
                where = f"the value of `{'.'.join(('data',) + key[0] + (name,))}` at {at}"
                self.rule_nodes[key] = self._document(self.folded[key], where)
            else:
                self.rule_nodes[key] = self.g.node()
        return self.rule_nodes[key]

    def param_nodes(self, pkg: tuple[str, ...], name: str, n: int) -> list[Node]:
        ps = self.params.setdefault((pkg, name), [])
        while len(ps) < n:
            ps.append(self.g.node())
        return ps

    def walk(self) -> None:
        found = {}
        for m in self.modules:
            for r in m.rules:
                if (m.package, r.name) not in self.folded:
                    for rule in _links(r):
                        found[id(rule)] = self._atoms(m, rule, _imports(m))
        only_atoms = self._read_by_atoms_only(found)
        for m in self.modules:
            imports = _imports(m)
            for r in m.rules:
                if (m.package, r.name) in self.folded:
                    continue  # its value is known: a constant, read through its node
                if (m.package, r.name) in only_atoms:
                    continue  # its value is derived from one input value, read only by atoms
                for rule in _links(r):
                    self._rule(m, rule, imports, found[id(rule)])

    def _atoms(self, module: ir.Module, rule: ir.Rule, imports) -> tuple[set[int], list[Atom]]:
        alias = {"input": ()} | {a: p[1:] for a, p in imports.items() if p[0] == "input"}
        rules = self.packages.get(module.package, {})
        memo = self._atom_memo.setdefault(module.package, {})
        if "imported" not in memo:
            memo["imported"] = frozenset(a for m in self.modules if m.package == module.package for a in _imports(m))
        scope = _Scope(self, module, imports, rule)

        def foreign(name: str) -> _atoms.Foreign | None:
            """A function called by a dotted name: its full name, clauses, and the names
            its package defines."""
            found = scope._user_function(name)
            if found is None or not (clauses := self.packages.get(found[0], {}).get(found[1])):
                return None
            pkg = found[0]
            names = frozenset(self.packages[pkg]) | {a for m in self.modules if m.package == pkg for a in _imports(m)}
            return ".".join(("data", *pkg, found[1])), tuple(clauses), names

        return _atoms.find(rule, alias, lambda f: scope._user_function(f) is not None,
                           lambda f: tuple(rules[f]) if f in rules else None, memo["imported"], memo, foreign)

    def _read_by_atoms_only(self, found: Mapping[int, tuple[set[int], list[Atom]]]) -> set[tuple]:
        """The rules whose value is derived from one input value (`policydiff.atoms`) that
        only atoms read: every mention of the name in their package is in a literal an
        atom took, no reference into `data`, import or `with` may reach them, and the
        decision is not one of them. Such a rule is no value the classes must follow:
        the atoms evaluate it, so its own builtins leave nothing unproved."""
        if self.decision is None:
            return set()
        derived: set[tuple] = set()  # (package, name) of the rules atoms carry
        for m in self.modules:
            for r in m.rules:
                for rule in _links(r):
                    for atom in found.get(id(rule), (set(), []))[1]:
                        derived |= {(m.package, f.name) for f in atom.functions if f.kind == "complete"}
        if not derived:
            return set()
        decision = tuple(self.decision.split(".")[1:]) if self.decision.startswith("data.") else None
        out = set(derived)
        for key in derived:
            full = key[0] + (key[1],)
            if decision is None or decision[:len(full)] == full or full[:len(decision)] == decision:
                out.discard(key)
        for m in self.modules:
            for ref in _data_reads(m):
                out = {k for k in out if not _reaches(ref, k[0] + (k[1],))}
            for r in m.rules:
                for rule in _links(r):
                    skip = found.get(id(rule), (set(), []))[0]
                    outside = [lit for i, lit in enumerate(rule.body) if i not in skip]
                    names: set[str] = set()
                    for part in (*outside, *rule.args, *rule.ref, rule.key, rule.value):
                        names |= _atoms.local_names(part)
                    out = {k for k in out if k[0] != m.package or k[1] not in names}
        return out

    def _rule(self, module: ir.Module, rule: ir.Rule, imports, atoms: tuple[set[int], list[Atom]]) -> None:
        pkg = module.package
        scope = _Scope(self, module, imports, rule)
        if rule.kind == "function":
            node = self.rule_node(pkg, rule.name)
        else:  # a reference head (`a.b[x].c := v`) puts its value inside the document `a`
            head, *rest = rule.name.split(".")
            node = self.rule_node(pkg, head)
            for k in rest:
                node = self._key_field(node, k)
        if rule.kind == "function":
            params = self.param_nodes(pkg, rule.name, len(rule.args))
            for p, arg in zip(params, rule.args):
                if isinstance(arg, ir.Var):
                    scope.declare(arg.name)
                self.g.union(p, scope.flow(arg))
        skip, found = atoms
        scope.body(lit for i, lit in enumerate(rule.body) if i not in skip)
        for atom in found:
            node = self._atom_node(atom.path)
            if atom.other is not None:  # a relation: both values in one class, chosen together
                node = self.g.union(node, self._atom_node(atom.other))
            find(node).whole = True
            self.atoms.append(atom)
        for t in rule.ref:
            if isinstance(t, ir.Scalar):
                node = self._key_field(node, t.value)
            else:
                self.g.union(self.g.keys(node), scope.flow(t))
                self.g.collapse(node)
                node = self.g.elem(node)
        match rule.kind:
            case "complete" | "function":
                if rule.value is not None:
                    self.g.union(node, scope.flow(rule.value))
            case "partial_set":
                find(node).set_like = True
                if rule.key is not None:
                    self.g.union(self.g.elem(node), scope.flow(rule.key))
            case "partial_object":
                if rule.key is not None:
                    self.g.union(self.g.keys(node), scope.flow(rule.key))
                self.g.collapse(node)
                if rule.value is not None:
                    self.g.union(self.g.elem(node), scope.flow(rule.value))

    def _atom_node(self, path: Path) -> Node:
        """The node of the input value an atom tests (`ELEM`: the members, as iteration
        meets them). A collection whose members an atom tests is read whole: a member
        equal to no constant of the class may pass the test (`regex.match("^a",
        input.teams[_])` reads nothing else of `input.teams`), so its members are drawn
        from every kind the class's values take, as for `some t in input.teams`."""
        n = self.input
        for k in path:
            if k == ELEM:
                find(n).whole = True
                n = self.g.elem(n)
            else:
                n = self.g.field(n, k)
        return n

    def _key_field(self, n: Node, key: Scalar) -> Node:
        """The field `key` of a document a rule defines, `key` among its keys (a
        lookup by a variable meets it there: `o.alice := 1` then `o[input.user]`)."""
        self.g.union(self.g.keys(n), self.g.node(key))
        return self.g.field(n, key)

    def _origin(self, r: Node) -> str:
        """Where a literal's comparison with input starts: the literal's own position."""
        where = r.literal or ""
        return where.rsplit(" at ", 1)[1] if " at " in where else "input"

    def check(self, why: str, span: Span, *nodes: Node, deep: bool = True) -> None:
        """Incomplete if any of `nodes` holds input (`deep`: anywhere inside it)."""
        self.checks.append((why, span, list(nodes), deep))

    def result(self, others: Sequence[_Walker] = ()) -> Analysis:
        self.g.settle()
        for w in others:
            self.checks.extend(w.checks)
            self.equalities.extend(w.equalities)
            self.computed.extend(w.computed)
            self.positional.extend(w.positional)
            self.indexed.extend(w.indexed)
            self.array_literals.extend(w.array_literals)
            self.index_reads.extend(w.index_reads)
            self.atoms.extend(w.atoms)
            self.reads.extend(w.reads)
            self.ordered.extend(w.ordered)
            self.deferred_patterns.extend(w.deferred_patterns)
        for kind, s, arg, delims, span in self.deferred_patterns:
            texts = [v for t, v in find(arg).consts if t is str]
            if find(arg).paths or find(arg).computed or not texts:
                self.checks.append((f"`{kind}` with a pattern computed at evaluation", span, [s], False))
            for v in texts:
                find(s).patterns.add(Pattern(kind=kind, text=v, delimiters=delims))
        reasons = []
        for why, span, nodes, deep in self.checks:
            if any(reads_input(n) if deep else bool(find(n).paths) for n in nodes):
                reasons.append(f"{span.where}: {why}")
        sources: dict[int, list[Node]] = {}
        for arr, member in self.ordered:
            sources.setdefault(id(find(arr)), []).append(member)
        for n, span in self.positional:
            if any(reads_input(m) for m in sources.get(id(find(n)), ())):
                reasons.append(f"{span.where}: indexes by position an array built from input")
        nested: set[int] = set()
        for n, span in self.reads:
            r = find(n)
            if id(r) not in nested and any(ELEM in p[:-1] for p in r.paths):
                nested.add(id(r))
                reasons.append(f"{span.where}: reads inside the members of an input collection "
                               f"(a collection of objects or arrays; its members are not modelled "
                               f"one by one)")
        classes = [r for r in reachable(self.input) if r.paths]
        arrays = {id(r): n for r in classes if (n := _positions(r)) is not None}
        named: set[int] = set(arrays)  # classes a comparison's reason already names
        for a, b, span in self.equalities:
            r = find(a)
            if id(r) in named:
                continue
            literal = r.literal or r.array_literal
            if r.paths and (literal or any(label[0] in "efkp" for label in r.children)):
                named.add(id(r))
                what = f"with {literal}" if literal else "as a whole"
                reasons.append(f"{span.where}: compares an input object or collection {what} "
                               f"(its length, order and other keys are not modelled)")
        for n, span in self.indexed:
            if find(n).paths and id(find(n)) not in arrays:
                reasons.append(f"{span.where}: indexes an input array by position")
        unknown = opaque(self.computed)
        for r in classes:
            if id(r) in unknown:  # compared with a value no constant stands for
                reasons.append(f"{unknown[id(r)]} compared with input")
            literal = r.literal or r.array_literal
            if literal and id(r) not in named:
                reasons.append(f"{self._origin(r)}: input compared with {literal} "
                               f"(positions, length and keys are not modelled)")
        tuples = {p: arrays[id(r)] for r in classes if id(r) in arrays for p in r.paths}
        only = self._only_patterns(arrays, unknown)
        out = []
        for r in classes:
            consts = sorted((v for _, v in r.consts), key=_const_order)
            tests = {a.key: a for a in self.atoms if a.path in r.paths}
            # a position of an array that is no tuple of positions (it is also read as a
            # collection) is no path of its own: the reasons above name that comparison
            paths = {p for p in acyclic(r.paths) if _tuple_position(p, tuples)}
            if not paths:
                continue
            out.append(InputClass(paths=tuple(sorted(paths)), constants=tuple(consts),
                                  patterns=tuple(sorted(r.patterns)), whole=r.whole,
                                  atoms=tuple(tests[k] for k in sorted(tests))))
        out.sort(key=lambda c: c.paths)
        return Analysis(classes=tuple(out), incomplete=tuple(sorted(set(reasons))),
                        arrays=tuple(sorted(tuples.items())), only_patterns=only)

    def _only_patterns(self, arrays: Mapping[int, int], unknown: Mapping[int, str]) -> tuple:
        """The tuples of positions read only by comparisons with array literals and at
        constant positions, and those literals (`Analysis.only_patterns`); a read of
        position `i` stands as a literal of `i + 1` members that match anything, which
        keeps every array reaching position `i`."""
        other: set[int] = set(unknown)  # read by a builtin or an atom, or opaque
        for _, _, nodes, deep in self.checks:
            for n in nodes:
                other.update(id(r) for r in (reachable(n, keys=False) if deep else (find(n),)))
        atoms = {a.path for a in self.atoms} | {a.other for a in self.atoms}
        out = []
        for r in reachable(self.input):
            if id(r) not in arrays or id(r) in other or len(r.paths) != 1 or r.paths & atoms:
                continue
            (path,) = r.paths
            pats = {members for n, members in self.array_literals if find(n) is r}
            pats |= {((False, None),) * (i + 1) for n, i in self.index_reads if find(n) is r}
            out.append((path, tuple(sorted(pats, key=repr))))
        return tuple(sorted(out))


MAX_POSITIONS = 16  # positions of a tuple of positions: past them, an array is unproved


def _positions(r: Node) -> int | None:
    """How many positions the input array `r` has when the policies compare it only
    with array patterns (`input.path = ["api", "v1", x]`, a function's parameter
    `[user, project]`) or index it by constant positions (`input.path[0]`), each
    position a plain value: then it is a tuple of positions, each a path of its own,
    and its length is which positions it has. None otherwise (read as a collection, an
    object or a set, nested in a collection or in another such array, with members
    that are arrays or objects themselves, or past `MAX_POSITIONS`). A builtin reading
    it names its rule among the reasons; the tuple still splits its positions."""
    if r.literal or r.set_like or r.collapsed:
        return None
    if any(not p or ELEM in p or any(position_of(k) is not None for k in p) for p in r.paths):
        return None
    at = [label[1] for label in r.children if label[0] == "p"]
    if not at or max(at) >= MAX_POSITIONS or any(label[0] not in "pk" for label in r.children):
        return None
    for label, child in r.children.items():
        c = find(child)
        if label[0] == "p" and (c is r or any(lab[0] != "k" for lab in c.children)):
            return None
    return max(at) + 1


def _tuple_position(p: Path, tuples: Mapping[Path, int]) -> bool:
    """Whether every position step of `p` is a position of a tuple of positions."""
    for i, k in enumerate(p):
        at = position_of(k)
        if at is not None and p[:i] not in tuples:
            return False
    return True


def _links(rule: ir.Rule | None):
    """A rule and the rules of its `else` chain."""
    while rule is not None:
        yield rule
        rule = rule.else_


def _imports(m: ir.Module) -> dict[str, tuple[str, ...]]:
    imports = {}
    for imp in m.imports:
        if imp.path[0] in ("data", "input"):  # `import input as x` too
            imports[imp.alias or imp.path[-1]] = imp.path
    return imports


def _data_reads(m: ir.Module) -> list[tuple[str, ...] | None]:
    """The constant prefixes of the paths under `data` module `m` reads (imports,
    references, `with` targets); None for `data` read whole or in a way not followed."""
    out: list[tuple[str, ...] | None] = [tuple(i.path[1:]) for i in m.imports if i.path[0] == "data"]
    stack: list[Any] = [m.rules]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple):
            stack.extend(n)
            continue
        match n:
            case ir.Ref(head=ir.Var(name="data"), path=path):
                prefix = []
                for k in path:
                    if not (isinstance(k, ir.Scalar) and isinstance(k.value, str)):
                        break
                    prefix.append(k.value)
                out.append(tuple(prefix))
                stack.extend(path)
                continue
            case ir.Var(name="data"):
                out.append(None)
            case ir.With():
                out.append(None)  # it may replace what a rule reads
        if n is not None:
            stack.extend(children(n))
    return out


def _reaches(ref: tuple[str, ...] | None, path: tuple[str, ...]) -> bool:
    return ref is None or ref[:len(path)] == path or path[:len(ref)] == ref


def _const_order(v: Scalar) -> tuple:
    return (str(type(v).__name__), str(v))


class _Scope:
    """Local variables of one rule (comprehensions share it: merging two variables
    of the same name only coarsens the classes)."""

    def __init__(self, w: _Walker, module: ir.Module, imports, rule: ir.Rule) -> None:
        self.w, self.g, self.pkg, self.imports, self.rule = w, w.g, module.package, imports, rule
        self.module = module
        self.vars: dict[str, Node] = {}
        # locals bound to the members of a collection (`some t in c`, `every t in c`)
        self.members: set[str] = set()
        self.depth = 0  # inside a comprehension or `every` body when > 0
        # local variables of the rule's own body bound to an input-independent term
        self.closed: dict[str, ir.Term] = {}
        self._outer: set[str] | None = None

    # ---- folding (see `policydiff.fold`)

    @property
    def outer(self) -> set[str]:
        """Variables of the rule outside its comprehensions: a comprehension that
        reads one of them depends on the rule's own solutions."""
        if self._outer is None:
            self._outer = set()
            r = self.rule
            for part in (r.args, r.ref, r.body, r.key, r.value):
                var_names(part, self._outer, comprehensions=False)
        return self._outer

    def _closed(self, t: ir.Term) -> bool:
        """Whether `t` reads no input: its variables are comprehension locals, rules
        and functions that read no input, data, or locals bound to such terms."""
        if self.w.folder is None:
            return False
        names: set[str] = set()
        var_names(t, names, comprehensions=True)
        for name in names:
            if name in self.closed or name == "_":
                continue
            if name == "input":
                return False
            if name == "data":
                if not all(self._data_closed(ref) for ref in data_refs(t)):
                    return False
                continue
            if name in self.vars and name in self.outer:
                return False
            rules = self.w.packages.get(self.pkg, {})
            if name in rules and name not in self.vars:
                if (self.pkg, name) not in self.w.folded:
                    return False
                continue
            if name in self.imports and name not in self.vars:
                path = self.imports[name]
                if path[0] == "input" or not self._data_closed(path[1:]):
                    return False
                continue
            if name in self.outer:
                return False
        for call in calls(t):
            func = self._user_function(call.func)
            if func is not None and not self.w.folder.reads_no_input(func[0] + (func[1],)):
                return False
        return True

    def _data_closed(self, path: tuple[str, ...]) -> bool:
        """`data.<path>…` reads no input: a rule that reads none, or the data document."""
        for pkg, rules in self.w.packages.items():
            n = len(pkg)
            if path[:n] == pkg and len(path) > n and path[n] in rules:
                return (pkg, path[n]) in self.w.folded
            if pkg[:len(path)] == path or (path[:n] == pkg and len(path) == n):
                return False  # a package, or a prefix of one, read whole
        return True

    def _fold(self, t: ir.Term) -> Node | None:
        """The node of `t`'s value when the evaluator can compute it, else None."""
        if not self._closed(t):
            return None
        needed = needed_locals(t, self.closed)
        value = self.w.folder.term(self.pkg, self.module.imports, needed, t)
        if value is NOT_FOLDED:
            return None
        return self.w._document(value, f"the value computed at {t.span.where}")

    def declare(self, name: str) -> Node:
        if name == "_":
            return self.g.node()
        self.vars[name] = self.vars.get(name) or self.g.node()
        return self.vars[name]

    # ---- literals

    def body(self, lits: Iterable[ir.Literal]) -> None:
        for lit in lits:
            self.literal(lit)

    def nested(self, lits: Iterable[ir.Literal]) -> None:
        self.depth += 1
        try:
            self.body(lits)
        finally:
            self.depth -= 1

    def _is_global(self, name: str) -> bool:
        return name == "data" or name in self.imports or name in self.w.packages.get(self.pkg, {})

    def literal(self, lit: ir.Literal) -> None:
        match lit:
            case ir.Expr(term=term):
                n = self.flow(term)
                find(n).consts.add(const_key(False))  # truthiness: false and anything else
            case ir.Assign(lhs=lhs, rhs=rhs):
                r = self.flow(rhs)
                if isinstance(lhs, ir.Var) and self.depth == 0 and self._closed(rhs):
                    self.closed[lhs.name] = rhs
                self._declare_pattern(lhs)
                left = self.flow(lhs)
                if not isinstance(lhs, ir.Var):  # destructuring tests the shape
                    self.w.equalities.append((left, r, lit.span))
                self.g.union(left, r)
            case ir.Unify(lhs=lhs, rhs=rhs):
                binding = any(isinstance(x, ir.Var) and x.name not in self.vars and x.name != "input"
                              and not self._is_global(x.name) for x in (lhs, rhs))
                a, b = self.flow(lhs), self.flow(rhs)
                if not binding:
                    self.w.equalities.append((a, b, lit.span))
                    self._two_members(lhs, rhs, a, lit.span)
                if not self._split(lhs, rhs, elem=True):
                    self.g.union(a, b)
            case ir.Some(vars=names):
                for name in names:
                    self.declare(name)
            case ir.SomeIn(key=key, value=value, collection=coll):
                c = self.flow(coll)
                self._declare_pattern(value)
                if isinstance(value, ir.Var):
                    self.members.add(value.name)
                self.g.union(self.flow(value), self.g.elem(c))
                if key is not None:
                    self._declare_pattern(key)
                    self._keys_of(c, key, lit.span)
            case ir.Every(key=key, value=value, domain=domain, body=body):
                c = self.flow(domain)
                self.members.add(value)
                self.g.union(self.declare(value), self.g.elem(c))
                if key is not None:
                    k = self.declare(key)
                    self.g.union(k, self.g.keys(c))
                    if key != "_":
                        self.w.check("iterates the keys of an input collection", lit.span, c, deep=False)
                self.nested(body)
            case ir.With(literal=inner, values=values):
                # the input, or a function, replaced: the classes cannot follow that
                for v in values:
                    self.flow(v)
                self.literal(inner)
                self.w.check("`with` replaces the input or a function", lit.span, self.w.input)
            case _:
                assert_never(lit)

    _TWO_MEMBERS = ("compares two members of input collections (how many distinct members "
                    "of one kind a collection holds is not modelled)")

    def _two_members(self, a: ir.Term, b: ir.Term, node: Node, span: Span) -> None:
        """Two members of input collections compared (`some t in c; some u in c; t !=
        u`, `c[_] == t`): how many distinct members of one kind a collection holds is
        not modelled."""
        if self._member(a) and self._member(b):
            self.w.check(self._TWO_MEMBERS, span, node, deep=False)

    def _member(self, t: ir.Term) -> bool:
        """A local bound to the members of a collection, or `input.c[_]`."""
        if isinstance(t, ir.Var):
            return t.name in self.members
        if isinstance(t, ir.Ref) and t.path and isinstance(t.path[-1], ir.Var) and t.path[-1].name == "_":
            coll = ir.Ref(head=t.head, path=t.path[:-1]) if len(t.path) > 1 else t.head
            return self._input_path(coll) is not None
        return False

    def _input_path(self, t: ir.Term) -> tuple[str, ...] | None:
        """The input path `t` reads when it is a plain reference (`input.a.b`, or
        through an alias of input), else None."""
        head, keys = (t.head, t.path) if isinstance(t, ir.Ref) else (t, ())
        if not isinstance(head, ir.Var) or head.name in self.vars:
            return None
        if head.name == "input":
            base: tuple[str, ...] = ()
        elif head.name in self.imports and self.imports[head.name][0] == "input":
            base = tuple(self.imports[head.name][1:])
        else:
            return None
        if not all(isinstance(k, ir.Scalar) and isinstance(k.value, str) for k in keys):
            return None
        return base + tuple(k.value for k in keys)

    def _split(self, member: ir.Term, coll: ir.Term, *, elem: bool = False) -> bool:
        """In the walk of `member_constants`: whether this literal tests a plain input
        value's membership in an input collection (`input.a in input.c`, or with
        `elem`, `input.c[_] == input.a` either way round); such a test compares the
        collection's members with that value only, so it merges nothing."""
        if not self.w.split_members:
            return False
        if elem:
            return self._split_elem(member, coll) or self._split_elem(coll, member)
        return bool(self._input_path(member)) and self._input_path(coll) is not None

    def _split_elem(self, member: ir.Term, ref: ir.Term) -> bool:
        last = ref.path[-1] if isinstance(ref, ir.Ref) and ref.path else None
        if not (isinstance(last, ir.Var) and last.name == "_"):
            return False
        coll = ir.Ref(head=ref.head, path=ref.path[:-1]) if len(ref.path) > 1 else ref.head
        return bool(self._input_path(member)) and self._input_path(coll) is not None

    def _keys_of(self, coll: Node, key: ir.Term, span: Span) -> None:
        k = self.flow(key)
        self.g.union(k, self.g.keys(coll))
        if not (isinstance(key, ir.Var) and key.name == "_"):
            self.w.check("iterates the keys of an input collection", span, coll, deep=False)

    def _declare_pattern(self, t: ir.Term) -> None:
        match t:
            case ir.Var(name=name):
                self.declare(name)
            case ir.Array(items=items) | ir.Set(items=items):
                for i in items:
                    self._declare_pattern(i)
            case ir.Object(items=items):
                for _, v in items:
                    self._declare_pattern(v)

    # ---- terms

    def var(self, name: str) -> Node:
        if name == "_":
            return self.g.node()
        if name in self.vars:
            return self.vars[name]
        if name == "input":
            return self.w.input
        if name == "data":
            return self._data_ref(())
        rules = self.w.packages.get(self.pkg, {})
        if name in rules:
            return self.w.rule_node(self.pkg, name)
        if name in self.imports:
            path = self.imports[name]
            if path[0] == "input":
                return self._walk_path(self.w.input, path[1:])
            return self._data_ref(path[1:])
        return self.declare(name)

    def _walk_path(self, n: Node, keys: Iterable[str]) -> Node:
        for k in keys:
            n = self.g.field(n, k)
        return n

    def _data_ref(self, path: tuple[str, ...]) -> Node:
        """`data.a.b...`: a rule of a loaded package, else the data document."""
        for pkg, rules in self.w.packages.items():
            n = len(pkg)
            if path[:n] == pkg and len(path) > n and path[n] in rules:
                return self._walk_path(self.w.rule_node(pkg, path[n]), path[n + 1:])
        return self._walk_path(self.w.data, path)

    def flow(self, t: ir.Term) -> Node:
        """The node of `t`'s value, marked as used whole."""
        n = self._flow(t)
        find(n).whole = True
        return n

    def _flow(self, t: ir.Term) -> Node:
        g = self.g
        match t:
            case ir.Scalar(value=v):
                return g.node(v)
            case ir.Var(name=name):
                n = self.var(name)
                self.w.reads.append((n, t.span))
                return n
            case ir.Ref(head=head, path=path):
                n = self._ref(head, path, t.span)
                self.w.reads.append((n, t.span))
                return n
            case ir.Array(items=items):
                # its members stay apart by position (an input array compared only
                # with array patterns is a tuple of positions); its keys are its positions
                n = g.node()
                n.array_literal = f"the array at {t.span.where}"
                self.w.array_literals.append((n, tuple((True, i.value) if isinstance(i, ir.Scalar) else (False, None)
                                                       for i in items)))
                g.keys(n).consts.update(const_key(i) for i in range(len(items)))
                for i, item in enumerate(items):
                    g.union(g.position(n, i), self.flow(item))
                return n
            case ir.Set(items=items):
                n = g.node()
                n.set_like = True
                n.literal = f"the set at {t.span.where}"
                for i in items:
                    g.union(g.elem(n), self.flow(i))
                return n
            case ir.Object(items=items):
                n = g.node()
                n.literal = f"the object at {t.span.where}"
                for k, v in items:
                    g.union(g.keys(n), self.flow(k))
                    if isinstance(k, ir.Scalar):
                        g.union(g.field(n, k.value), self.flow(v))
                    else:
                        g.collapse(n)
                        g.union(g.elem(n), self.flow(v))
                return n
            case ir.ArrayCompr(term=term, body=body) | ir.SetCompr(term=term, body=body):
                folded = self._fold(t)
                if folded is not None:
                    return folded
                self.nested(body)
                n = g.node()
                n.set_like = isinstance(t, ir.SetCompr)
                member = self.flow(term)
                g.union(g.elem(n), member)
                if isinstance(t, ir.ArrayCompr):
                    self.w.ordered.append((n, member))
                    self._unknown_positions(n, t.span)
                return n
            case ir.ObjectCompr(key=key, value=value, body=body):
                folded = self._fold(t)
                if folded is not None:
                    return folded
                self.nested(body)
                n = g.node()
                g.collapse(n)
                g.union(g.keys(n), self.flow(key))
                g.union(g.elem(n), self.flow(value))
                return n
            case ir.Call():
                return self.call(t)
            case _:
                assert_never(t)

    def _ref(self, head: ir.Term, path: tuple[ir.Term, ...], span: Span) -> Node:
        g = self.g
        if isinstance(head, ir.Var) and head.name == "data" and head.name not in self.vars:
            prefix = []
            for k in path:
                if isinstance(k, ir.Scalar) and isinstance(k.value, str):
                    prefix.append(k.value)
                else:
                    break
            n = self._data_ref(tuple(prefix))
            path = path[len(prefix):]
        else:
            n = self.flow(head)
        for k in path:
            if isinstance(k, ir.Scalar) and isinstance(k.value, str):
                n = self._field(n, k.value)
                continue
            key = self.flow(k)
            find(n).whole = True  # `coll[_] != x` sees elements that `x in coll` cannot
            if isinstance(k, ir.Scalar):  # a number: an array index
                self.w.indexed.append((n, span))
                self.w.positional.append((n, span))
                if type(k.value) is int and k.value >= 0:  # a position of a tuple of positions
                    self.w.index_reads.append((n, k.value))
                    g.union(key, g.keys(n))
                    n = g.position(n, k.value)
                    continue
            g.union(key, g.keys(n))  # of a set, its members (`Graph.settle`)
            if isinstance(k, (ir.Var, ir.Ref, ir.Call)) and not (isinstance(k, ir.Var) and k.name == "_"):
                self.w.check("looks up input by a computed key", span, n, deep=False)
            n = g.elem(n)
        return n

    def _unknown_positions(self, arr: Node, span: Span) -> None:
        """An array of unknown length: its positions are values no constant stands
        for (an input value looking one up is unproved, see `opaque`)."""
        keys = self.g.keys(arr)
        keys.computed = keys.computed or f"{span.where}: the positions of an array built at evaluation"
        self.w.computed.append(keys)

    def _field(self, n: Node, key: Scalar) -> Node:
        """`n.key`; a document whose keys may come from input (`obj[input.x] := ...`)
        is then looked up by a constant those keys are compared with."""
        if not find(n).paths:
            self.g.union(self.g.keys(n), self.g.node(key))
        return self.g.field(n, key)

    def call(self, t: ir.Call) -> Node:
        g, f, span = self.g, t.func, t.span
        if f not in _TESTS:
            folded = self._fold(t)
            if folded is not None:
                return folded
        func = self._user_function(f)
        if func is not None:
            pkg, name = func
            args = [self.flow(a) for a in t.args]
            for p, a in zip(self.w.param_nodes(pkg, name, len(args)), args):
                g.union(p, a)
            return self.w.rule_node(pkg, name)
        if f in ("equal", "neq", "internal.unify"):
            a, b = self.flow(t.args[0]), self.flow(t.args[1])
            self.w.equalities.append((a, b, span))
            self._two_members(t.args[0], t.args[1], a, span)
            if not self._split(t.args[0], t.args[1], elem=True):
                g.union(a, b)
            return g.node(True, False)
        if f == "internal.member_2":
            coll = self._flow(t.args[1])
            a, c = self.flow(t.args[0]), g.elem(coll)
            if self._member(t.args[0]):  # `t in input.d`, t a member of another collection
                self.w.check(self._TWO_MEMBERS, span, coll, deep=False)
            if not self._split(t.args[0], t.args[1]):
                g.union(a, c)
            return g.node(True, False)
        if f == "internal.member_3":
            c = self.flow(t.args[2])
            if self._member(t.args[1]):
                self.w.check(self._TWO_MEMBERS, span, c, deep=False)
            g.union(self.flow(t.args[1]), g.elem(c))
            self._keys_of(c, t.args[0], span)
            return g.node(True, False)
        if f in _PATTERNS or f == "glob.match":
            return self._pattern(t)
        if f == "graph.reachable":
            graph, init = (self.flow(a) for a in t.args)
            out = g.node()
            out.set_like = True
            e = g.elem(out)
            g.union(e, g.elem(init))
            g.union(e, g.keys(graph))
            g.union(e, g.elem(g.elem(graph)))
            return out
        if f == "object.get":
            obj, key, default = t.args
            n = self.flow(obj)
            match key:
                case ir.Scalar(value=v):
                    n = self._field(n, v)
                case ir.Array(items=items) if all(isinstance(i, ir.Scalar) for i in items):
                    for i in items:
                        n = self._field(n, i.value)
                case _:
                    g.union(self.flow(key), g.keys(n))
                    self.w.check("looks up input by a computed key", span, n, deep=False)
                    n = g.elem(n)
            return g.union(n, self.flow(default))
        if f == "object.keys":
            out = g.node()
            out.set_like = True
            obj = self.flow(t.args[0])
            self.w.check("`object.keys` of an input object", span, obj, deep=False)
            g.union(g.elem(out), g.keys(obj))
            return out
        if f in _SET_OPS:
            out = g.node()
            out.set_like = f != "array.concat"
            for a in t.args:
                n = self.flow(a)
                if f == "array.concat":
                    self.w.ordered.append((out, n))
                    self._unknown_positions(out, span)
                g.union(g.elem(out), g.elem(g.elem(n)) if f in ("union", "intersection") else g.elem(n))
            return out
        args = [self.flow(a) for a in t.args]
        what = "ordering comparison" if f in _ORDERING else f"`{f}`"
        self.w.check(f"{what} on a value read from input", span, *args)
        out = g.node()
        out.computed = f"{span.where}: the result of `{f}`"
        self.w.computed.append(out)
        return out

    def _pattern(self, t: ir.Call) -> Node:
        g = self.g
        if t.func == "glob.match":
            pattern, delims, subject = t.args
            dl: tuple[str, ...] = ()  # OPA: null means no delimiters, [] means ["."]
            if isinstance(delims, ir.Array):
                dl = tuple(str(d.value) for d in delims.items if isinstance(d, ir.Scalar)) or (".",)
            elif not (isinstance(delims, ir.Scalar) and delims.value is None):
                self.w.check("`glob.match` with computed delimiters", t.span, self.flow(subject))
            kind = "glob"
        else:
            subject, pattern = t.args
            kind, dl = _PATTERNS[t.func], ()
        s = self.flow(subject)
        if isinstance(pattern, ir.Scalar) and isinstance(pattern.value, str):
            find(s).patterns.add(Pattern(kind=kind, text=pattern.value, delimiters=dl))
        else:
            self.w.deferred_patterns.append((kind, s, self.flow(pattern), dl, t.span))
        return g.node(True, False)

    def _user_function(self, name: str) -> tuple[tuple[str, ...], str] | None:
        rules = self.w.packages.get(self.pkg, {})
        if name in rules and rules[name][0].kind == "function":
            return self.pkg, name
        parts = tuple(name.split("."))
        if parts[0] == "data":
            for pkg, rules in self.w.packages.items():
                if parts[1:-1] == pkg and parts[-1] in rules:
                    return pkg, parts[-1]
        if parts[0] in self.imports and self.imports[parts[0]][0] == "data":
            full = self.imports[parts[0]][1:] + parts[1:]
            for pkg, rules in self.w.packages.items():
                if full[:-1] == pkg and full[-1] in rules:
                    return pkg, full[-1]
        return None


def analyze_policies(*policies: Any) -> Analysis:
    """One analysis over several policies, so that their classes are common: the
    constants either policy compares a path with split that path for both. Each
    policy keeps its own packages and data; only `input` is shared. What a policy
    computes from constants alone is folded by its evaluator (`policydiff.fold`)."""
    for p in policies:
        check_data_refs(p.modules, p.data)
    first = _walk(policies)
    if not any(_many_members(c) for c in first.classes):
        return first
    second = _walk(policies, split_members=True)
    out = []
    for c in first.classes:
        if _many_members(c):
            members = tuple((p, tuple(k.constants) if (k := second.class_of(p)) else ())
                            for p in c.paths if p[-1] == ELEM)
            c = msgspec.structs.replace(c, member_constants=members)
        out.append(c)
    return msgspec.structs.replace(first, classes=tuple(out))


def _walk(policies: Sequence[Any], split_members: bool = False) -> Analysis:
    walkers: list[_Walker] = []
    for p in policies:
        folder = Folder(p) if getattr(p, "program", None) is not None else None
        w = _Walker(p.modules, p.data, walkers[0] if walkers else None, folder, split_members,
                    getattr(p, "decision", None))
        w.walk()
        walkers.append(w)
    return walkers[0].result(walkers[1:])


MANY_MEMBERS = 8  # constants in a class of collections and values: worth the second walk


def _many_members(c: InputClass) -> bool:
    """A class of input collections and plain values with enough constants that the
    subsets of them a collection may hold are many (`ClassSpace._subsets`)."""
    return (len(c.constants) >= MANY_MEMBERS and any(p[-1] == ELEM for p in c.paths)
            and any(p[-1] != ELEM for p in c.paths))
