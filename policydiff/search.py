"""The class-combination search for matrices too large to enumerate.

`Space.representatives()` evaluates both policies on every combination of the classes'
values: exact, but the product of a few hundred rules' classes (roles x actions x kinds
x levels x the subsets of an input array tested against twenty constants) runs into
millions. This room decides the same question without the product, when both
decisions have a plain shape: a boolean rule (`default d := false`, `d if { ... }`)
whose bodies are conjunctions of literals, each literal (with the literals it shares
local variables with: a *component*) reading the paths of one class only, or naming a
boolean rule of the same shape (`d if { is_admin; ... }`).

Then each policy's decision is a boolean formula over the class choices: a component's
truth on every choice of its class is computed by the concrete evaluator (its literals
run as a query of the policy), and a body is the conjunction of its components, since
they share no variable. A class is one integer variable (which of `ClassSpace.
assignments()` it takes); an input collection the policies only test membership in
(`"g3" in input.groups`) is one boolean per constant, since an array realises any
combination of memberships — per membership pattern, not per subset. z3 then finds,
per cell (the classes of the dimensions fixed), every pair of decisions (v1, v2) some
input realises; each model becomes a concrete input, whose decisions and cell the
evaluator computes again: `representatives` returns None (the caller enumerates)
rather than trust a formula the evaluator contradicts.

Out of the plain shape (`policydiff.components`: else chains, functions reading input,
`with`, a literal reading two classes; paths read both as values and as objects; input
arrays built from their positions, whose classes only combine as arrays read them),
`representatives` returns None as well.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from policydiff import ir
from policydiff.analysis import ELEM, Path
from policydiff.atoms import body_key
from policydiff.components import (
    OutOfShape,
    components,
    existential,
    input_reads,
    mentions,
    reading_input,
    rule_name,
)
from policydiff.errors import InputError, PolicyError
from policydiff.matrix import MAX_SUBSETS, ClassSpace, Space, build_input
from policydiff.policy import Policy
from policydiff.solver import RLIMIT, Session

ENUMERATE_BELOW = 2_000  # class combinations the caller evaluates one by one instead
MAX_CELL_COMBINATIONS = 100_000  # choices of the dimensions' classes, enumerated
_RLIMIT = 4 * RLIMIT  # z3's resource units per check (one check decides a whole cell)


def representatives(space: Space, v1: Policy, v2: Policy, *, enumerate_below: int = ENUMERATE_BELOW,
                    ) -> list[tuple[tuple[str, str, str, str], dict]] | None:
    """One input per (cell, pair of decisions) that some input of the cell realises,
    or None when the matrix has fewer than `enumerate_below` class combinations (and
    no collection too large for its subsets) or is out of this search's reach."""
    try:
        classes = _Classes(space)
    except (InputError, OutOfShape):
        return None  # too large even per class (the caller reports it), or out of reach
    if classes.combinations < enumerate_below and not classes.members_too_many:
        return None
    try:
        import z3  # noqa: F401 - only for large matrices

        f1 = _Encoder(space, classes, v1).decision()
        f2 = _Encoder(space, classes, v2).decision()
        return _Search(space, classes, f1, f2, v1, v2).run()
    except OutOfShape:
        return None


class _Classes:
    """Each class of the space: its choices (`assignments()`), or, for an input
    collection only tested for membership, the constants that may be its members."""

    def __init__(self, space: Space):
        self.space = space
        self.choices: dict[int, list[dict[Path, Any]]] = {}
        self.members: dict[int, tuple[Path, list[Any]]] = {}
        self.index = {id(c): i for i, c in enumerate(space.classes)}
        self.combinations = 1
        self.members_too_many = False
        for i, cs in enumerate(space.classes):
            if cs.objects or cs.arrays:
                raise OutOfShape  # a path read as a value and as an object, or built from positions
            if _membership_only(cs):
                (c,) = cs.collections
                elem = c + (ELEM,)
                pool = [v for v in list(cs.cls.constants) + cs.fixed if cs.allowed(elem, v)]
                if c in cs.whole:  # an element equal to no constant: one of each kind
                    pool += [v for v in (t.make(0) for t in cs.templates) if cs.allowed(elem, v)]
                self.members[i] = (c, pool)
                self.combinations *= 2 ** len(pool)
                self.members_too_many |= 2 ** len(pool) > MAX_SUBSETS
            else:
                self.choices[i] = cs.assignments()
                self.combinations *= max(1, len(self.choices[i]))
                space.incomplete += [r for r in cs.unproved if r not in space.incomplete]

    def of(self, path: Path) -> int | None:
        cs = self.space.class_of.get(path) or self.space.class_of.get(path + (ELEM,))
        return None if cs is None else self.index[id(cs)]


def _membership_only(cs: ClassSpace) -> bool:
    return len(cs.collections) == 1 and not cs.scalars


# ------------------------------------------------------------------------- encoding


class _Encoder:
    """One policy's decision as a z3 formula over the class variables."""

    def __init__(self, space: Space, classes: _Classes, policy: Policy):
        import z3

        self.z3, self.space, self.classes, self.policy = z3, space, classes, policy
        parts = policy.decision.split(".")
        if parts[0] != "data" or len(parts) < 3:
            raise OutOfShape
        self.pkg, self.name = tuple(parts[1:-1]), parts[-1]
        self.rules: dict[str, list[ir.Rule]] = {}
        self.module: dict[int, ir.Module] = {}  # id of a rule -> its module
        for m in policy.modules:
            if any(i.path[0] == "input" for i in m.imports):
                raise OutOfShape  # an alias of input: reads the literals cannot see
            if m.package == self.pkg:
                for r in m.rules:
                    self.rules.setdefault(r.name, []).append(r)
                    self.module[id(r)] = m
        if any(m.package != self.pkg for m in policy.modules):
            raise OutOfShape
        self.reads_input = reading_input(self.rules)
        self.globals = set(self.rules) | {n.split(".")[0] for n in self.rules} | {"input", "data"}
        self.globals |= {i.alias or i.path[-1] for m in policy.modules for i in m.imports}
        self.formulas: dict[str, Any] = {}
        self.truths: dict[tuple, Any] = {}

    def decision(self):
        return self.rule(self.name, set())

    def rule(self, name: str, stack: set[str]):
        """`name` as the disjunction of its bodies; its default must be false."""
        z3 = self.z3
        if name in self.formulas:
            return self.formulas[name]
        rules = self.rules.get(name)
        if not rules or name in stack:
            raise OutOfShape
        bodies = []
        for r in rules:
            if r.kind != "complete" or r.ref or r.args or r.else_ is not None:
                raise OutOfShape
            if r.default:
                if not (isinstance(r.value, ir.Scalar) and r.value.value is False):
                    raise OutOfShape
                continue
            if not (isinstance(r.value, ir.Scalar) and r.value.value is True):
                raise OutOfShape
            bodies.append(self.body(r.body, self.module[id(r)], stack | {name}))
        f = z3.Or(*bodies) if bodies else z3.BoolVal(False)
        self.formulas[name] = f
        return f

    def body(self, lits: Sequence[ir.Literal], module: ir.Module, stack: set[str]):
        z3 = self.z3
        parts = []
        for comp in components(lits, self.globals):
            parts.append(self.component(comp, module, stack))
        return z3.And(*parts) if parts else z3.BoolVal(True)

    def component(self, lits: tuple[ir.Literal, ...], module: ir.Module, stack: set[str]):
        z3 = self.z3
        if len(lits) == 1 and isinstance(lits[0], ir.Expr):
            name = rule_name(lits[0].term, self.pkg)
            if name is not None and name in self.reads_input:
                f = self.rule(name, stack)
                return z3.Not(f) if lits[0].negated else f
        reads = input_reads(lits)
        for lit in lits:
            if mentions(lit, self.reads_input, self.pkg):
                raise OutOfShape  # a rule or function reading input, not a plain boolean
        owners = set()
        for path in reads:
            i = self.classes.of(path)
            if i is None:
                raise OutOfShape  # read whole, or a prefix of the classes' paths
            owners.add(i)
        if len(owners) > 1:
            raise OutOfShape
        if not owners:
            return z3.BoolVal(self._holds(self._query(lits, module), {}))
        (i,) = owners
        if i in self.classes.members:
            return self._membership(lits, i, module)
        key = (i, body_key(tuple(lits)))
        if key not in self.truths:
            q = self._query(lits, module)
            truths = [self._holds(q, choice) for choice in self.classes.choices[i]]
            self.truths[key] = _one_of(z3, _var(z3, i), truths)
        return self.truths[key]

    def _membership(self, lits, i: int, module: ir.Module):
        """A test that some member of the collection passes (`"g" in input.groups`,
        `input.groups[_] == "g"`, or its negation): the disjunction, over the
        constants that may be members, of the test on an array of that one member."""
        z3 = self.z3
        path, pool = self.classes.members[i]
        lit = lits[0]
        if len(lits) != 1 or not isinstance(lit, ir.Expr) or not existential(lit.term, path):
            raise OutOfShape
        key = ("members", i, body_key(tuple(lits)))
        if key not in self.truths:
            q = self._query((msgspec.structs.replace(lit, negated=False),), module)
            hits = [k for k, v in enumerate(pool) if self._holds(q, {path: [v]})]
            self.truths[key] = z3.Or(*[_member(z3, i, k) for k in hits]) if hits else z3.BoolVal(False)
        f = self.truths[key]
        return z3.Not(f) if lit.negated else f

    def _query(self, lits: tuple[ir.Literal, ...], module: ir.Module):
        from policydiff.compile import Query

        try:
            return Query(self.policy.program, tuple(lits), package=module.package, imports=module.imports)
        except PolicyError:
            raise OutOfShape from None

    @staticmethod
    def _holds(query, choice: Mapping[Path, Any]) -> bool:
        from policydiff.compile import Ctx

        try:
            return bool(query.solutions(Ctx(build_input(choice))))
        except PolicyError:
            raise OutOfShape from None


def _one_of(z3, var, truths: list[bool]):
    yes = [k for k, t in enumerate(truths) if t]
    if len(yes) == len(truths):
        return z3.BoolVal(True)
    if not yes:
        return z3.BoolVal(False)
    if len(yes) * 2 > len(truths):
        return z3.And(*[var != k for k, t in enumerate(truths) if not t])
    return z3.Or(*[var == k for k in yes])


def _var(z3, i: int):
    return z3.Int(f"c{i}")


def _member(z3, i: int, k: int):
    return z3.Bool(f"m{i}_{k}")


# --------------------------------------------------------------------------- search


class _Search:
    """Per cell, every pair of decisions some input realises, each with a witness."""

    def __init__(self, space: Space, classes: _Classes, f1, f2, v1: Policy, v2: Policy):
        import z3

        self.z3, self.space, self.classes, self.v1, self.v2 = z3, space, classes, v1, v2
        self.z = Session(rlimit=_RLIMIT)
        self.solver = self.z.solver()
        for i, choices in classes.choices.items():
            self.solver.add(self.z.local(_var(z3, i) >= 0), self.z.local(_var(z3, i) < max(1, len(choices))))
        self.a1, self.a2 = z3.Bool("v1"), z3.Bool("v2")
        self.solver.add(self.z.local(self.a1 == f1), self.z.local(self.a2 == f2))

    def _dimension_classes(self) -> list[int]:
        d = self.space.dims
        paths = [d.role, d.action, d.tenant, *d.relation_paths]
        out = []
        for p in paths:
            if p is None:
                continue
            i = self.classes.of(p)
            if i is not None and i not in out:
                if i in self.classes.members:
                    raise OutOfShape
                out.append(i)
        return sorted(out)

    def run(self) -> list[tuple[tuple[str, str, str, str], dict]] | None:
        z3 = self.z3
        dims = self._dimension_classes()
        per = [range(len(self.classes.choices[i]) or 1) for i in dims]
        total = 1
        for r in per:
            total *= len(r)
        if total > MAX_CELL_COMBINATIONS:
            raise OutOfShape
        cells: dict[tuple, list[tuple[int, ...]]] = {}
        for combo in itertools.product(*per):
            key = self.space.cell_of(self._input({i: k for i, k in zip(dims, combo)}, {}))
            if key is not None:
                cells.setdefault(key, []).append(combo)
        out = []
        for key, combos in cells.items():
            sel = z3.Bool(f"cell{len(out)}")
            self.solver.add(self.z.local(z3.Implies(sel, z3.Or(*[
                z3.And(*[_var(z3, i) == k for i, k in zip(dims, combo)]) for combo in combos]))))
            seen: list[tuple[bool, bool]] = []
            while len(seen) < 4:
                blocked = [z3.Not(z3.And(self.a1 == a, self.a2 == b)) for a, b in seen]
                r = self.z.check(self.solver, sel, *blocked)
                if r == z3.unsat:
                    break
                if r != z3.sat:
                    return None  # the solver gave up: enumerate instead
                inp, pair = self._witness(self.solver.model())
                got = (self.v1.decide(inp) is True, self.v2.decide(inp) is True)
                if got != pair or self.space.cell_of(inp) != key:
                    return None  # the formula and the evaluator disagree: trust neither
                seen.append(pair)
                out.append((key, inp))
        return out

    def _witness(self, model) -> tuple[dict, tuple[bool, bool]]:
        z3 = self.z3
        ev = model.eval
        model = _Translating(self.z, ev)
        picks = {}
        for i, choices in self.classes.choices.items():
            if choices:
                picks[i] = model.eval(_var(z3, i), model_completion=True).as_long()
        members = {}
        for i, (_, pool) in self.classes.members.items():
            members[i] = [v for k, v in enumerate(pool)
                          if z3.is_true(model.eval(_member(z3, i, k), model_completion=True))]
        pair = (z3.is_true(model.eval(self.a1, model_completion=True)),
                z3.is_true(model.eval(self.a2, model_completion=True)))
        return self._input(picks, members), pair

    def _input(self, picks: Mapping[int, int], members: Mapping[int, list]) -> dict:
        values: dict[Path, Any] = {}
        for i, k in picks.items():
            values.update(self.classes.choices[i][k])
        for i, items in members.items():
            values[self.classes.members[i][0]] = list(items)
        return build_input(values)


class _Translating:
    """A model of the search's own z3 context, evaluating formulas of the main one."""

    def __init__(self, z: Session, evaluate) -> None:
        self.z, self.evaluate = z, evaluate

    def eval(self, e, model_completion: bool = False):
        return self.evaluate(self.z.local(e), model_completion=model_completion)
