"""Atoms: the tests a rule body makes on one input value that the partition cannot.

`startswith(input.id, "ab")` or `input.action == "read"` split a path's values into the
classes `policydiff.matrix` enumerates. A test such as `input.level > 2`,
`regex.match("^CN=", input.cn)` or `parts := split(input.cn, ","); parts[0] == "CN=a"`
does not: its truth is some function of the one value it reads. This room finds such
tests in a rule's body and turns each into an `Atom`: the literal, with the local
definitions it needs, rewritten to read the value as `input.x`, so that the concrete
evaluator can tell its truth for any value (`policydiff.solver` decides which
combinations of truths the values realise).

A literal becomes an atom only when the truth of the body is exactly the conjunction of
its atoms and its other literals: the atom reads one input path and constants (no data,
no iteration, no rule or function of the policy but those that are functions of that one
value: `_Pure`, `_derivation`), and every local it defines is used by atoms only.
Locals that name an input value, directly or through a chain (`n := input.x; m := n`),
are read as that value; a local naming a member met by iteration (`some t in
input.teams`) makes its tests atoms of the members (`input.teams[]`). Anything else is
left to the value-flow analysis, which marks it unproved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from policydiff import ir
from policydiff.compile.builtins import BUILTINS, OUT_OF_SCOPE
from policydiff.reads import children

Path = tuple[str, ...]
VALUE = "x"  # an atom reads its value as `input.x`
ELEM = "[]"  # a path step: any member of a collection (`policydiff.flowgraph.ELEM`)
OTHER = "y"  # and the second value of a relation between two as `input.y`

# Tests the partition captures on its own: a body of these only needs no solver.
_PARTITION = {"equal", "neq", "internal.unify", "internal.member_2", "internal.member_3",
              "startswith", "endswith", "contains", "glob.match"}


# a function of another package: its full name (`data.lib.util.is_admin`), its clauses,
# and the names its package defines (rules, imports), which its clauses may not read
Foreign = tuple[str, tuple[ir.Rule, ...], frozenset[str]]


class Atom(msgspec.Struct, frozen=True, kw_only=True):
    """One test on one input value. `body` reads the value as `input.x`; it holds the
    local definitions the test needs, then the test; `key` is the body without
    positions, so that the same test written twice is one atom."""

    path: Path
    where: str  # "file:line"
    # a test relating two input values (`input.a < input.b`): the second path, read as
    # `input.y` (`path` is the first in sorted order, read as `input.x`)
    other: Path | None = None
    construct: str  # the builtins or operators it uses, for reasons: "`split`, `==`"
    body: tuple[ir.Literal, ...]
    key: str
    # the clauses of the policy's functions `body` calls (`is_consumer(input.x)`), each a
    # function of its arguments only (`pure`; one of another package renamed): compiled
    # with the atom for the evaluator; the solver encodes a call's value where it can
    functions: tuple[ir.Rule, ...] = ()


def find(rule: ir.Rule, input_alias: Mapping[str, Path], is_function: Callable[[str], bool],
         clauses: Callable[[str], tuple[ir.Rule, ...] | None] = lambda _: None,
         imported: frozenset[str] = frozenset(), memo: dict | None = None,
         foreign: Callable[[str], Foreign | None] = lambda _: None) -> tuple[set[int], list[Atom]]:
    """The literals of `rule`'s body that are atoms or local definitions only atoms
    use (their indexes), and the atoms. `input_alias` maps names that stand for input
    paths (`input`, `import input.x as y`); `is_function` tells a policy function;
    `clauses` gives the clauses of a rule or function of the rule's own package by its
    name; `imported` holds the names the package's imports define. `memo`, shared by
    the calls for the rules of one package, keeps what was found of its functions and
    rules. `foreign` resolves a function of another package by the name the rule calls it
    (`util.is_admin` after `import data.lib.util`)."""
    if rule.kind == "function":
        return set(), []
    body = rule.body
    # names the rule binds itself: there, a name is a local, not the package's rule
    shadow = _bound((*rule.body, rule.value, rule.key, *rule.ref)) | local_names(rule.args)
    reader = _Reader(input_alias, is_function, _Pure(clauses, is_function, imported, memo, foreign), shadow)
    derived: dict[str, tuple[int, Path]] = {}  # local -> (its definition, the path it reads)
    # locals that name an input value (`name := input.user.name`): an atom takes their
    # definition along, and the analysis still sees it (it is never skipped)
    aliases: dict[str, tuple[int, Path]] = {}
    members: set[str] = set()  # aliases naming a member met by iteration
    defined: set[str] = set()
    for i, lit in enumerate(body):
        if isinstance(lit, ir.Assign) and isinstance(lit.lhs, ir.Var) and lit.lhs.name not in defined:
            known = {v: p for v, (_, p) in (aliases | derived).items()}
            paths = reader.paths(lit.rhs, known)
            if paths is not None and len(paths) == 1 and _hard(lit.rhs, reader, known):
                derived[lit.lhs.name] = (i, next(iter(paths)))
            elif _plain(lit.rhs) and (direct := reader.paths(lit.rhs, {})) and len(direct) == 1:
                aliases[lit.lhs.name] = (i, next(iter(direct)))
            elif isinstance(lit.rhs, ir.Var) and lit.rhs.name in aliases:
                # a chain of locals (`n := input.x; m := n`) names the value too; not
                # `m := n.a`, which reads inside it
                aliases[lit.lhs.name] = (i, aliases[lit.rhs.name][1])
        elif (member := _member(lit, defined, reader, aliases)) is not None:
            # `some t in input.teams`: `t` names one member, whose tests are atoms of the
            # members (`input.teams[]`); the body holds when some member passes them all,
            # which the classes decide by the combinations their members realise
            aliases[member[0]] = (i, member[1])
            members.add(member[0])
        defined |= local_names(lit)
    outside = _names_outside_body(rule)
    while True:
        local = {v: p for v, (_, p) in derived.items()}
        known = {v: p for v, (_, p) in aliases.items()} | local
        tests: dict[int, Path] = {}
        pairs: dict[int, tuple[Path, Path]] = {}
        for i, lit in enumerate(body):
            term = _test_term(lit)
            if term is None:
                continue
            paths = reader.paths(term, known)
            if paths is not None and len(paths) == 2 and not local_names(lit) & (local.keys() | members) \
                    and _relates(term, {v: d for v, d in aliases.items() if v not in members}) and not any(reader.derived(v.name, known) is not None
                                                            for v in _vars(term)):
                pairs[i] = tuple(sorted(paths))  # type: ignore[assignment]
                continue
            if paths is None or len(paths) != 1:
                continue
            if _hard(term, reader, known) or local_names(lit) & local.keys():
                tests[i] = next(iter(paths))
        defs = {i for i, _ in derived.values()}
        users: dict[str, set[int]] = {}
        for i, lit in enumerate(body):
            for name in local_names(lit) & local.keys():
                users.setdefault(name, set()).add(i)
        drop = {v for v in derived
                if v in outside or users.get(v, set()) - {derived[v][0]} - tests.keys() - defs
                or not _feeds(v, derived, body, tests)}
        if not drop:
            break
        for v in drop:
            derived.pop(v)
    # `regex.match("^a", input.teams[_])`: the test of one member, as with `some t in`
    iterated = {i: m for i, lit in enumerate(body) if i not in tests and i not in pairs
                and (m := _iterated(lit, input_alias, reader)) is not None}
    atoms = []
    both = derived | aliases
    for i, (path, lits) in sorted(iterated.items()):
        fns = reader.pure.called(lits, shadow)
        lits = reader.pure.renamed(lits)
        atoms.append(Atom(path=path, where=body[i].span.where, construct=_construct(lits),
                          body=lits, functions=fns, key=body_key(lits + fns)))
    for i, path in sorted(tests.items()):
        needed = _needed(body[i], both, body)
        lits = tuple(_definition(body[j], input_alias) for j in sorted(needed)) + (body[i],)
        rewritten = tuple(Rewrite(input_alias, path).literal(lit) for lit in lits)
        fns = reader.pure.called(rewritten, shadow)
        rewritten = reader.pure.renamed(rewritten)
        atoms.append(Atom(path=path, where=body[i].span.where, construct=_construct(lits),
                          body=rewritten, functions=fns, key=body_key(rewritten + fns)))
    for i, (p, q) in sorted(pairs.items()):
        lits = tuple(body[j] for j in sorted(_needed(body[i], aliases, body))) + (body[i],)
        rewritten = tuple(Rewrite(input_alias, p, {q: OTHER}).literal(lit) for lit in lits)
        atoms.append(Atom(path=p, other=q, where=body[i].span.where, construct=_construct((body[i],)),
                          body=rewritten, key=f"{p}|{q}|" + body_key(rewritten)))
    alias_defs = {i for i, _ in aliases.values()}
    used = set(tests) | set(pairs) | set(iterated) | {j for i in tests for j in _needed(body[i], both, body)}
    return used - alias_defs, atoms


# Relations between two input values decided by the solver: a direct comparison or
# string test of the two (`input.a < input.b`, `startswith(input.a, input.b)`), or a
# comparison after adding, subtracting or multiplying a number (`input.a + 1 < input.b`,
# `input.b - 0.5 > input.a`); `input.a * input.b` is not linear, and stays unproved.
_RELATIONS = {"lt", "lte", "gt", "gte", "startswith", "endswith", "contains"}
_COMPARISONS = {"lt", "lte", "gt", "gte", "equal", "neq"}
_ARITHMETIC = {"plus", "minus", "mul"}


def _relates(term: Any, aliases: Mapping[str, tuple[int, Path]]) -> bool:
    """`op(input.a, input.b)` with both arguments plain reads of input (or locals
    naming them), or a comparison whose arguments are such reads, each maybe with a
    number added, subtracted or multiplied (`==` only then: `input.a == input.b` is
    the partition's)."""
    if not (isinstance(term, ir.Call) and len(term.args) == 2):
        return False
    if term.func in _RELATIONS and all(_read(a, aliases) for a in term.args):
        return True
    return (term.func in _COMPARISONS and all(_read(a, aliases) or _shifted(a, aliases) for a in term.args)
            and any(_shifted(a, aliases) for a in term.args))


def _read(t: Any, aliases: Mapping[str, tuple[int, Path]]) -> bool:
    return isinstance(t, ir.Ref) or isinstance(t, ir.Var) and t.name in aliases


def _shifted(t: Any, aliases: Mapping[str, tuple[int, Path]]) -> bool:
    """A read of input with a number added, subtracted or multiplied (`input.a + 1`)."""
    if not (isinstance(t, ir.Call) and t.func in _ARITHMETIC and len(t.args) == 2):
        return False
    a, b = t.args
    number = (lambda x: isinstance(x, ir.Scalar) and isinstance(x.value, (int, float))
              and not isinstance(x.value, bool))
    return _read(a, aliases) and number(b) or number(a) and _read(b, aliases)


def _plain(t: Any) -> bool:
    """A read of an input value, nothing computed (`input.user.name`, an alias)."""
    return isinstance(t, (ir.Ref, ir.Var)) and not any(True for _ in _calls(t))


def _feeds(v: str, derived: Mapping[str, tuple[int, Path]], body, tests) -> bool:
    """Whether local `v` is used by a test, directly or through other locals."""
    todo, seen = [v], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for w, (i, _) in derived.items():
            if name in local_names(body[i].rhs):
                todo.append(w)
        for i in tests:
            if name in local_names(body[i]):
                return True
    return False


def _needed(lit: ir.Literal, derived: Mapping[str, tuple[int, Path]], body) -> set[int]:
    out: set[int] = set()
    todo = list(local_names(lit) & derived.keys())
    while todo:
        i = derived[todo.pop()][0]
        if i in out:
            continue
        out.add(i)
        if isinstance(body[i], ir.Assign):  # not `some t in ...`, which reads no local
            todo.extend(local_names(body[i].rhs) & derived.keys())
    return out


def _member(lit: ir.Literal, defined: set[str], reader: _Reader,
            aliases: Mapping[str, tuple[int, Path]]) -> tuple[str, Path] | None:
    """`some t in input.c` (or through a local naming `input.c`), no key: the local
    and the path of the members it names."""
    if not (isinstance(lit, ir.SomeIn) and isinstance(lit.value, ir.Var)
            and (lit.key is None or isinstance(lit.key, ir.Var) and lit.key.name == "_")):
        return None
    name = lit.value.name
    if name in defined or name == "_" or not _plain(lit.collection):
        return None
    known = {v: p for v, (_, p) in aliases.items()}
    paths = reader.paths(lit.collection, known)
    if paths is None or len(paths) != 1 or any(reader.derived(v.name, known) is not None
                                               for v in _vars(lit.collection)):
        return None
    return name, next(iter(paths)) + (ELEM,)


_MEMBER = "__member__"  # the local an atom of `input.c[_]` binds to its value


def _iterated(lit: ir.Literal, input_alias: Mapping[str, Path],
              reader: _Reader) -> tuple[Path, tuple[ir.Literal, ...]] | None:
    """A test whose one iteration is `input.c[_]`, reading nothing else of input and no
    local (`regex.match("^a", input.teams[_])`): the members' path, and the atom's body
    (`__member__ := input.x`, then the test on `__member__`). Not under `not`, where the
    iteration is the negated expression's own (no member passes)."""
    if not isinstance(lit, ir.Expr) or lit.negated:
        return None
    refs = [n for n in _nodes(lit.term) if isinstance(n, ir.Ref) and not all(isinstance(k, ir.Scalar) for k in n.path)]
    if len(refs) != 1:
        return None
    (ref,) = refs
    if not (isinstance(ref.head, ir.Var) and ref.head.name in input_alias and ref.head.name not in reader.shadow):
        return None
    *keys, last = ref.path
    if not (isinstance(last, ir.Var) and last.name == "_"
            and all(isinstance(k, ir.Scalar) and isinstance(k.value, str) for k in keys)):
        return None
    path = input_alias[ref.head.name] + tuple(k.value for k in keys) + (ELEM,)
    if len(path) < 2:
        return None  # `input[_]`
    member = ir.Var(name=_MEMBER, span=ref.span)
    term = _replace(lit.term, ref, member)
    local = {_MEMBER: path}
    if reader.paths(term, local) != {path} or not _hard(term, reader, local):
        return None
    value = ir.Ref(head=ir.Var(name="input", span=ref.span), path=(ir.Scalar(value=VALUE, span=ref.span),),
                   span=ref.span)
    return path, (ir.Assign(lhs=member, rhs=value, span=ref.span), msgspec.structs.replace(lit, term=term))


def _nodes(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple):
            stack.extend(n)
        elif n is not None:
            yield n
            stack.extend(children(n))


def _replace(node: Any, target: Any, new: Any) -> Any:
    """`node` with the node `target` (that very object) replaced by `new`."""
    if node is target:
        return new
    if isinstance(node, tuple):
        return tuple(_replace(x, target, new) for x in node)
    if isinstance(node, ir.Node):
        return msgspec.structs.replace(node, **{f: _replace(getattr(node, f), target, new)
                                                for f in node.__struct_fields__ if f != "span"})
    return node


def _definition(lit: ir.Literal, input_alias: Mapping[str, Path]) -> ir.Literal:
    """The literal an atom takes along for a local it reads: `some t in input.c`
    becomes `t := input.x`, the atom's value being one member."""
    if isinstance(lit, ir.SomeIn):
        value = ir.Ref(head=ir.Var(name="input", span=lit.span), path=(ir.Scalar(value=VALUE, span=lit.span),),
                       span=lit.span)
        return ir.Assign(lhs=lit.value, rhs=value, span=lit.span)
    return lit


def _test_term(lit: ir.Literal) -> ir.Term | None:
    """The term whose truth the literal tests, when it binds nothing."""
    match lit:
        case ir.Expr(term=term):
            return term
        case ir.Unify(lhs=lhs, rhs=rhs):
            return ir.Call(func="equal", args=(lhs, rhs), span=lit.span)
    return None


def _hard(t: Any, reader: _Reader, local: Mapping[str, Path]) -> bool:
    """Whether `t` holds a call on input the partition does not capture (a call on
    constants only is folded by the analysis), or reads a rule whose value is derived
    from an input value (the partition never sees through the rule: even
    `username == "x"` is an atom)."""
    return (any(c.func not in _PARTITION and reader.paths(c, local) for c in _calls(t))
            or any(reader.derived(v.name, local) is not None for v in _vars(t)))


def _construct(lits: tuple[ir.Literal, ...]) -> str:
    names = []
    for lit in lits:
        for c in _calls(lit):
            name = _OPERATORS.get(c.func, c.func)
            if name not in names:
                names.append(name)
    return ", ".join(f"`{n}`" for n in names) or "a test"


_OPERATORS = {"equal": "==", "neq": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=",
              "internal.member_2": "in", "internal.member_3": "in", "internal.unify": "=",
              "plus": "+", "minus": "-", "mul": "*", "div": "/", "rem": "%"}


class _Pure:
    """Which policy functions are a function of their arguments only, so that a call on
    an input value is a test of that value (`is_consumer(input.principal)` with
    `is_consumer(x) if regex.match(".*-consumer", x)`, or `in_range(input.n, 1, 5)`):
    a function of the rule's own package, every clause (and `else`) variables or
    constants as parameters and a body and value that name only them, constants and
    locals they bind, and call only builtins of the evaluator's scope — no input, no
    data, no rule, no other function, no `with`. The call itself must pass every
    parameter (not `f(input.x, out)`), each an input value or a constant. Only a
    function testing more than the partition can split on becomes an atom (`hard`).

    It also tells the rules of the package whose value is derived from one input value
    (`derived`): see `_derivation`."""

    def __init__(self, clauses: Callable[[str], tuple[ir.Rule, ...] | None], is_function: Callable[[str], bool],
                 imported: frozenset[str] = frozenset(), memo: dict | None = None,
                 foreign: Callable[[str], Foreign | None] = lambda _: None):
        self.clauses, self.is_function, self.imported = clauses, is_function, imported
        self.foreign = foreign
        self.names: dict[str, str] = {}  # a call's name -> the name its clauses have in an atom
        memo = {} if memo is None else memo
        self.seen: dict[str, tuple[ir.Rule, ...] | None] = memo.setdefault("functions", {})
        self.derivations: dict[str, tuple[Path, tuple[ir.Rule, ...]] | None] = memo.setdefault("rules", {})

    def derived(self, name: str) -> tuple[Path, tuple[ir.Rule, ...]] | None:
        """The input path rule `name`'s value is a function of, and its clauses rewritten
        to read that value as `input.x`; None when it is no such rule."""
        if name not in self.derivations:
            self.derivations[name] = None
            rules = self.clauses(name) if "." not in name else None
            self.derivations[name] = _derivation(rules, self) if rules else None
        return self.derivations[name]

    def local(self, name: str) -> bool:
        """Whether a name a clause binds may stand for a local: not one of the
        package's rules or imports (the binding could then be read as the global)."""
        return self.clauses(name) is None and name not in self.imported

    def rules(self, name: str) -> tuple[ir.Rule, ...] | None:
        if "." in name:
            return self._foreign(name)
        if name not in self.seen:
            self.seen[name] = None  # a recursive call is not pure
            rules = self.clauses(name) if "." not in name else None
            self.seen[name] = rules if rules and all(self._clause(r) for r in rules) else None
        return self.seen[name]

    def _foreign(self, name: str) -> tuple[ir.Rule, ...] | None:
        """The clauses of a function of another package called as `name` (or of this one
        called by its full path), renamed for the atom's own package: read only its
        parameters like a function of the rule's package, and call only builtins."""
        found = self.foreign(name)
        if found is None:
            return None
        full, rules, names = found
        key = "$" + full  # never a name of the package's own
        if key not in self.seen:
            self.seen[key] = None  # a recursive call is not pure
            local = "__" + full.replace(".", "__")
            pure = rules and all(self._clause(r, names) for r in rules)
            self.seen[key] = tuple(_named(r, local) for r in rules) if pure else None
        if self.seen[key] is not None:
            self.names[name] = self.seen[key][0].name  # type: ignore[index]
        return self.seen[key]

    def renamed(self, lits: tuple[ir.Literal, ...]) -> tuple[ir.Literal, ...]:
        """`lits` calling the functions of other packages by their names in the atom."""
        if not self.names:
            return lits
        return tuple(_rename_calls(lit, self.names) for lit in lits)

    def _clause(self, rule: ir.Rule | None, names: frozenset[str] | None = None) -> bool:
        """Whether `rule` reads only its parameters; `names`: the names of the package of
        a function of another package (there, only builtins may be called)."""
        if rule is None:
            return True
        if rule.kind != "function" or rule.default or rule.ref or not rule.args:
            return False
        if not all(isinstance(arg, (ir.Var, ir.Scalar)) for arg in rule.args):
            return False
        nodes = (*rule.body, rule.value, rule.key)
        inner = _bound(nodes)  # comprehensions' variables too
        local = self.local if names is None else (lambda n: n not in names)
        if not all(local(n) for n in inner):
            return False
        bound = set().union(*(local_names(arg) for arg in rule.args)) | inner
        for node in nodes:
            if node is None:
                continue
            if _has(node, ir.With) or local_names(node) - bound - {"_"}:
                return False
            for c in _calls(node):
                if c.func in OUT_OF_SCOPE or (self.is_function(c.func) if names is None
                                              else c.func not in BUILTINS or c.func in names):
                    return False
        return self._clause(rule.else_, names)

    def hard(self, name: str) -> bool:
        """Pure, and testing its parameter with more than the partition's tests (a
        function of `==` and `startswith` only is left to the value flow, which splits
        the value's classes on its constants)."""
        rules = self.rules(name)
        return rules is not None and any(c.func not in _PARTITION for r in _chain(rules) for c in _calls(r))

    def called(self, lits: tuple[ir.Literal, ...], shadow: set[str] = frozenset()) -> tuple[ir.Rule, ...]:
        """The clauses of the functions `lits` call and of the derived rules they read
        (names in `shadow` are locals), with the functions those rules call."""
        rules = {v.name for v in _vars(lits) if v.name not in shadow and self.derived(v.name)}
        derived = tuple(r for n in sorted(rules) for r in self.derived(n)[1])  # type: ignore[index]
        names = sorted({c.func for node in (lits, derived) for c in _calls(node) if self.is_function(c.func)})
        fns = tuple(r for n in names for r in self.rules(n) or ())
        if self.names:
            derived = tuple(_rename_calls(r, self.names) for r in derived)
        return derived + tuple(dict.fromkeys(fns))


def _named(rule: ir.Rule, name: str) -> ir.Rule:
    """`rule` and its `else` chain under another name."""
    return msgspec.structs.replace(rule, name=name, else_=None if rule.else_ is None else _named(rule.else_, name))


def _rename_calls(node: Any, names: Mapping[str, str]) -> Any:
    """`node` with the calls of the functions `names` maps renamed."""
    if isinstance(node, tuple):
        return tuple(_rename_calls(x, names) for x in node)
    if isinstance(node, ir.Node):
        fields = {f: _rename_calls(getattr(node, f), names) for f in node.__struct_fields__ if f != "span"}
        if isinstance(node, ir.Call) and node.func in names:
            fields["func"] = names[node.func]
        return msgspec.structs.replace(node, **fields)
    return node


def _derivation(rules: tuple[ir.Rule, ...], pure: _Pure) -> tuple[Path, tuple[ir.Rule, ...]] | None:
    """A complete rule whose value is a function of one input value (`username :=
    cn[0] if { name := input.principal; startswith(name, "CN="); cn := split(name, ".") }
    else := input.principal`): one definition and its `else` chain (two definitions
    could conflict), at most a constant `default`; every clause reads `input` only at
    one path (the same for all), binds the other names it uses (no rule, data, import),
    calls only builtins of the evaluator's scope and pure functions (`_Pure`), and does
    not iterate outside comprehensions (two solutions of different values conflict);
    and uses more than the tests the classes split on (`==`, `startswith`, ...).
    The path, and the clauses rewritten to read it as `input.x`."""
    defaults = [r for r in rules if r.default]
    heads = [r for r in rules if not r.default]
    if len(heads) != 1 or len(defaults) > 1:
        return None
    if any(r.kind != "complete" or r.ref or _vars(r.value) for r in defaults):
        return None
    paths: set[Path] = set()
    for r in _chain(tuple(heads)):
        if r.kind != "complete" or r.ref or r.args or r.key is not None or "." in r.name:
            return None
        nodes = (*r.body, r.value)
        if any(isinstance(lit, (ir.Some, ir.SomeIn, ir.Every)) for lit in r.body) or _has(nodes, ir.With):
            return None
        bound = _bound(nodes)
        if not all(pure.local(n) for n in bound):
            return None
        for c in _calls(nodes):
            # a function of another package is named by the imports of the rule's module,
            # which need not be those of the rule reading it: not followed
            if c.func in OUT_OF_SCOPE or pure.is_function(c.func) and ("." in c.func or pure.rules(c.func) is None):
                return None
        if not _reads(nodes, bound, paths, top=True):
            return None
    if len(paths) != 1:
        return None
    if all(c.func in _PARTITION or pure.is_function(c.func) and not pure.hard(c.func) for c in _calls(rules)):
        return None  # tests the classes split on (`is_ops if input.role in {...}`): the value flow's
    (path,) = paths
    return path, tuple(_to_value(r, path) for r in rules)


def _reads(node: Any, bound: set[str], paths: set[Path], *, top: bool) -> bool:
    """Collect the input paths `node` reads into `paths`; False when it reads a name
    it does not bind or `input` other than at a constant path, or (`top`: outside
    comprehensions) looks a value up by a variable, which iterates."""
    if isinstance(node, tuple):
        return all(_reads(x, bound, paths, top=top) for x in node)
    match node:
        case ir.Ref(head=ir.Var(name="input"), path=path):
            if not path or not all(isinstance(k, ir.Scalar) and isinstance(k.value, str) for k in path):
                return False
            paths.add(tuple(k.value for k in path))
            return True
        case ir.Ref(head=head, path=path):
            if top and not all(isinstance(k, ir.Scalar) for k in path):
                return False
            return _reads(head, bound, paths, top=top) and _reads(path, bound, paths, top=top)
        case ir.Var(name=name):
            return name in bound or name == "_"
        case ir.ArrayCompr() | ir.SetCompr() | ir.ObjectCompr():
            return all(_reads(c, bound, paths, top=False) for c in children(node))
        case None:
            return True
    return all(_reads(c, bound, paths, top=top) for c in children(node))


def _to_value(rule: ir.Rule, path: Path) -> ir.Rule:
    """`rule` (and its `else` chain) reading `input.<path>` as `input.x`."""
    def walk(x: Any) -> Any:
        if isinstance(x, tuple):
            return tuple(walk(y) for y in x)
        if isinstance(x, ir.Ref) and isinstance(x.head, ir.Var) and x.head.name == "input" \
                and tuple(getattr(k, "value", None) for k in x.path) == path:
            return ir.Ref(head=x.head, path=(ir.Scalar(value=VALUE, span=x.span),), span=x.span)
        if isinstance(x, ir.Node):
            return msgspec.structs.replace(x, **{f: walk(getattr(x, f)) for f in x.__struct_fields__
                                                 if f != "span"})
        return x

    return walk(rule)


def _bound(nodes: Any) -> set[str]:
    """The names `nodes` bind, in comprehensions too: `:=` targets, `some`, `every`."""
    out: set[str] = set()
    stack = [nodes]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple):
            stack.extend(n)
            continue
        match n:
            case ir.Assign(lhs=lhs):
                out |= local_names(lhs)
            case ir.Some(vars=vs):
                out |= set(vs)
            case ir.SomeIn(key=key, value=value):
                out |= local_names(key) | local_names(value)
            case ir.Every(key=key, value=value):
                out |= {v for v in (key, value) if v}
        if n is not None:
            stack.extend(children(n))
    return out - {"_"}


def _vars(node: Any) -> list[ir.Var]:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple):
            stack.extend(n)
        elif isinstance(n, ir.Var):
            out.append(n)
        elif n is not None:
            stack.extend(children(n))
    return out


def _chain(rules: tuple[ir.Rule, ...]) -> Iterator[ir.Rule]:
    for r in rules:
        while r is not None:
            yield msgspec.structs.replace(r, else_=None)
            r = r.else_


def _has(node: Any, kind: type) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple):
            stack.extend(n)
        elif isinstance(n, kind):
            return True
        elif n is not None:
            stack.extend(children(n))
    return False


class _Reader:
    """The input paths a term reads, or None when it reads anything else."""

    def __init__(self, input_alias: Mapping[str, Path], is_function: Callable[[str], bool], pure: _Pure,
                 shadow: set[str] = frozenset()):
        self.alias, self.is_function, self.pure = input_alias, is_function, pure
        self.shadow = shadow  # names the rule binds: locals, never the package's rules

    def derived(self, name: str, local: Mapping[str, Path]) -> Path | None:
        """The input path a rule of the package named `name` derives its value from,
        unless the name is a local here."""
        if name in local or name in self.shadow or name in self.alias:
            return None
        d = self.pure.derived(name)
        return None if d is None else d[0]

    def paths(self, t: Any, local: Mapping[str, Path]) -> set[Path] | None:
        out: set[Path] = set()
        return out if self._walk(t, local, out) else None

    def _walk(self, t: Any, local: Mapping[str, Path], out: set[Path]) -> bool:
        match t:
            case ir.Scalar():
                return True
            case ir.Var(name=name):
                if name in local:
                    out.add(local[name])
                    return True
                if (p := self.derived(name, local)) is not None:
                    out.add(p)
                    return True
                return False
            case ir.Ref(head=ir.Var(name=name), path=path):
                if not all(isinstance(k, ir.Scalar) for k in path):
                    return False
                if (p := self.derived(name, local)) is not None:
                    out.add(p)
                    return True
                if name in self.alias and name not in local:
                    if not all(isinstance(k.value, str) for k in path):
                        return False
                    p = self.alias[name] + tuple(k.value for k in path)
                    if not p:
                        return False
                    out.add(p)
                    return True
                if name in local:
                    out.add(local[name])
                    return True
                return False
            case ir.Array(items=items) | ir.Set(items=items):
                return all(self._walk(i, local, out) for i in items)
            case ir.Call(func=func, args=args):
                if self.is_function(func):
                    # every parameter given (no output argument), constants but for the
                    # value(s) read: `in_range(input.n, 1, 5)`
                    rules = self.pure.rules(func)
                    return (rules is not None and len(args) == len(rules[0].args) and self.pure.hard(func)
                            and all(self._walk(a, local, out) for a in args))
                if func in OUT_OF_SCOPE:
                    return False
                return all(self._walk(a, local, out) for a in args)
        return False


class Rewrite:
    """Replace reads of `path` (through any alias of input) by `input.x`, and of the
    paths in `more` by the names given."""

    def __init__(self, input_alias: Mapping[str, Path], path: Path, more: Mapping[Path, str] | None = None):
        self.alias = input_alias
        self.to = {path: VALUE, **(more or {})}

    def literal(self, lit: ir.Literal) -> ir.Literal:
        match lit:
            case ir.Expr(term=term):
                return msgspec.structs.replace(lit, term=self.term(term))
            case ir.Assign(lhs=lhs, rhs=rhs) | ir.Unify(lhs=lhs, rhs=rhs):
                return msgspec.structs.replace(lit, lhs=self.term(lhs), rhs=self.term(rhs))
        return lit

    def term(self, t: Any) -> Any:
        match t:
            case ir.Ref(head=ir.Var(name=name), path=path) if name in self.alias:
                full = self.alias[name] + tuple(k.value for k in path)
                if full in self.to:
                    return ir.Ref(head=ir.Var(name="input", span=t.span),
                                  path=(ir.Scalar(value=self.to[full], span=t.span),), span=t.span)
                return t
            case ir.Array(items=items) | ir.Set(items=items):
                return msgspec.structs.replace(t, items=tuple(self.term(i) for i in items))
            case ir.Call(args=args):
                return msgspec.structs.replace(t, args=tuple(self.term(a) for a in args))
            case ir.Ref(head=head, path=path):
                return msgspec.structs.replace(t, head=self.term(head),
                                               path=tuple(self.term(k) for k in path))
        return t


def body_key(body: tuple[ir.Literal, ...]) -> str:
    """Literals without their positions: equal for the same test written twice."""
    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in ("span", "text")}
        if isinstance(x, (list, tuple)):  # to_builtins keeps a tuple a tuple
            return [strip(v) for v in x]
        return x

    return msgspec.json.encode(strip(msgspec.to_builtins(body))).decode()


def _calls(node: Any) -> Iterator[ir.Call]:
    if isinstance(node, tuple):
        for x in node:
            yield from _calls(x)
        return
    if isinstance(node, ir.Call):
        yield node
    for c in children(node):
        yield from _calls(c)


def local_names(node: Any) -> set[str]:
    """Every variable name `node` mentions or declares (`some`, `every`)."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ir.Var):
            out.add(n.name)
        elif isinstance(n, ir.Some):
            out.update(n.vars)
        elif isinstance(n, ir.Every):
            out.update(v for v in (n.key, n.value) if v)
        if n is not None:
            stack.extend(children(n))
    return out


def _names_outside_body(rule: ir.Rule) -> set[str]:
    out: set[str] = set()
    for part in (rule.ref, rule.key, rule.value, rule.args):
        if part is None:
            continue
        for x in part if isinstance(part, tuple) else (part,):
            out |= local_names(x)
    return out
