"""The space of the matrix: every class of input paths, and the cell of any request.

From an `Analysis` (what the policies compare each input path with) a `Space` builds a
`ClassSpace` (`policydiff.matrix.classes`) for every class of paths: the values that
stand for all others — each constant, one string per realisable combination of string
patterns, and fresh values that are equal or not to each other. Two requests that
agree on which class every path falls in are decided alike by both policies, so one
representative per combination decides every request of the combination, and a
cell's verdict covers all its requests without sampling.

`Space.representatives()` enumerates the combinations for the symbolic matrix (tenant
`"*"`), with the relation realised by construction. `Space.cell_of` is the one
definition of a request's cell, used by compare, replay and the analysis of a replay.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec

from policydiff.analysis import Analysis, InputClass
from policydiff.flowgraph import ELEM, Path, position, position_of
from policydiff.matrix.classes import (
    ABSENT,
    ARRAY,
    MAX_COMBINATIONS,
    OBJECT,
    ClassSpace,
    ValueType,
    shown,
    too_large,
    value_key,
)
from policydiff.matrix.dimensions import ANY, RUNBOOK, Dimensions
from policydiff.tenancy import relation_of

# The request model's leaves and what each may hold; a team list of another shape
# (`--dimension`) holds any value but null.
REQUEST_MODEL: dict[Path, ValueType] = {
    ("subject", "id"): ValueType.STRING, ("subject", "enterprise"): ValueType.STRING,
    ("subject", "role"): ValueType.STRING, ("subject", "teams"): ValueType.STRING_LIST,
    ("subject", "teams", ELEM): ValueType.STRING, ("action",): ValueType.STRING,
    ("resource", "id"): ValueType.STRING, ("resource", "kind"): ValueType.STRING,
    ("resource", "enterprise"): ValueType.STRING, ("resource", "team"): ValueType.STRING_OR_NULL,
}

CellKey = tuple[str, str, str, str]  # tenant, role, action, relation
_UNSET = object()  # a path no class chosen so far has given a value


class Space:
    """The classes of every input path both policies read, and the cells they form."""

    def __init__(self, analysis: Analysis, dims: Dimensions = RUNBOOK):
        self.dims = dims
        self.incomplete = list(analysis.incomplete)
        info = {p: c for c in analysis.classes for p in c.paths}
        read = set(info)
        if dims.runbook:
            # The request model always has every field, read or not.
            read |= set(REQUEST_MODEL)
            self.types = dict(REQUEST_MODEL)
        else:
            self.types = {}
        self.read = read
        self._analysed = {p for c in analysis.classes for p in c.paths}
        # read by a policy, but not in the request model: split into classes like any
        # other path (absent and mistyped among them), and named in the report
        self.outside_model: list[Path] = []
        if dims.runbook:
            model_parents = {p[:i] for p in REQUEST_MODEL for i in range(len(p))}
            self.outside_model = sorted(p for p in self._analysed
                                        if p not in REQUEST_MODEL and p not in model_parents)
        # Whether cells split on the relation, and whether the action's path is apart
        # from the other dimensions': fixed by the dimensions and what the policies
        # read, so decided once (cell_of runs per replayed request).
        self._splits_relation = dims.has_relation and self._reads_relation()
        act = dims.action
        self._action_apart = act is not None and not any(
            p is not None and (p[:len(act)] == act or act[:len(p)] == p)
            for p in (dims.tenant, dims.role, *dims.relation_paths))
        # The relation's ingredients must meet in one class each so the relation can
        # be realised by construction.
        groups: list[tuple[Path, ...]] = []
        if self._splits_relation:
            groups = [(dims.subject_enterprise, dims.resource_enterprise),
                      (dims.resource_team, dims.subject_teams + (ELEM,))]
        if groups:  # a team list names teams: null is never among them
            self.types.setdefault(dims.subject_teams + (ELEM,), ValueType.NOT_NULL)
        # a tuple of positions (`Analysis.arrays`) holds arrays of any length: its
        # positions up to the longest pattern's, and one past it, which no pattern
        # names (an array longer than every pattern)
        self.arrays = dict(analysis.arrays)
        for p in [p for p in self.arrays if p in self.types or p + (ELEM,) in self.types]:
            # the request model (a tenancy's team list) holds it as a collection too
            del self.arrays[p]
            self.incomplete.append(f"<input>: `input.{'.'.join(p)}` compared with array patterns "
                                   "and held by the request model as a collection (positions not modelled)")
        # literals of the arrays read only by them: an array no literal can match any
        # more is decided as its shortest such prefix (`_canonical`)
        self.literals = {p: pats for p, pats in analysis.only_patterns if p in self.arrays}
        # the positions no policy reads (before one read by `input.path[2]`) and one past
        # the last, each a class of its own
        beyond = [InputClass(paths=(p + (position(i),),)) for p, n in self.arrays.items() for i in range(n + 1)
                  if p + (position(i),) not in info]
        read |= {c.paths[0] for c in beyond}
        merged = self._merge(analysis, groups) + beyond
        self.classes: list[ClassSpace] = []
        self.class_of: dict[Path, ClassSpace] = {}
        all_paths = set(read) | {p for g in groups for p in g}
        parents = {p[:i] for p in all_paths for i in range(len(p))}
        for cls in merged:
            scalars, collections, objects = [], [], set()
            for p in cls.paths:
                if p and p[-1] == ELEM:
                    collections.append(p[:-1])
                elif p in self.arrays or p not in parents:  # an array: built from its positions
                    scalars.append(p)
                elif len(cls.paths) > 1 or cls.constants or cls.patterns or cls.atoms:
                    scalars.append(p)  # read as a value and as an object
                    objects.add(p)
            scalars = [p for p in scalars if p]  # the input itself is an object
            if not scalars and not collections:
                continue
            whole = {c for c in collections if c not in info or info[c].whole}
            arrays = frozenset(p for p in scalars if p in self.arrays)
            cs = ClassSpace(cls, sorted(scalars), sorted(collections), objects, self.types, whole, arrays)
            self.incomplete += cs.unproved
            self.classes.append(cs)
            for p in cls.paths:
                self.class_of[p] = cs
        for p in (dims.role, dims.action, dims.tenant if dims.symbolic_tenant else None):
            # read as a collection (`some t in input.teams`, `input.teams[_]`): each
            # collection is a cell of its own, and those compare tried are not all of them
            if p is None:
                continue
            members = any(q[:len(p) + 1] == p + (ELEM,) for q in self.class_of)
            if p in self.class_of and p not in self.class_of[p].scalars or members:
                self.incomplete.append(f"dimension `input.{'.'.join(p)}` is not a single value")

    def _reads_relation(self) -> bool:
        return self.dims.runbook or any(p in self.read for p in self.dims.relation_paths
                                        if p is not None)

    def _merge(self, analysis: Analysis, groups: list[tuple[Path, ...]]) -> list[InputClass]:
        classes = {i: c for i, c in enumerate(analysis.classes)}
        owner = {p: i for i, c in classes.items() for p in c.paths}
        nxt = len(classes)
        for g in groups:
            for p in g:
                if p not in owner:
                    classes[nxt] = InputClass(paths=(p,))
                    owner[p] = nxt
                    nxt += 1
        if self.dims.runbook:
            for p in REQUEST_MODEL:
                if p not in owner:
                    classes[nxt] = InputClass(paths=(p,))
                    owner[p] = nxt
                    nxt += 1
        for g in groups:
            ids = sorted({owner[p] for p in g})
            if len(ids) < 2:
                continue
            parts = [classes.pop(i) for i in ids]
            paths = tuple(sorted({p for c in parts for p in c.paths}))
            consts = tuple({value_key(c): c for part in parts for c in part.constants}.values())
            pats = tuple(sorted({p for part in parts for p in part.patterns}))
            tests = tuple({a.key: a for part in parts for a in part.atoms}.values())
            classes[ids[0]] = InputClass(paths=paths, constants=consts, patterns=pats, atoms=tests,
                                         whole=any(part.whole for part in parts),
                                         member_constants=_member_constants(parts))
            for p in paths:
                owner[p] = ids[0]
        team = self.dims.resource_team
        if groups and team is not None:  # a null team is the `enterprise` relation
            i = owner[team]
            c = classes[i]
            if not any(v is None for v in c.constants):
                classes[i] = msgspec.structs.replace(c, constants=c.constants + (None,))
        return list(classes.values())

    # ---- cells

    def representatives(self) -> Iterator[tuple[CellKey, dict]]:
        """Every class combination as (cell, representative input), relation realised."""
        per_class = [c.assignments() for c in self.classes]
        for c in self.classes:  # collections too large for every subset are searched only
            self.incomplete += [r for r in c.unproved if r not in self.incomplete]
        # the classes of tuples of positions first, combined only as arrays read them
        tied = sorted((i for i, c in enumerate(self.classes) if any(map(self._in_tuple, c.cls.paths))),
                      key=lambda i: min(map(self._tuple_order, self.classes[i].cls.paths)))
        arrays = list(self._tuples([per_class[i] for i in tied])) if tied else [{}]
        rest = [a for i, a in enumerate(per_class) if i not in tied]
        total = len(arrays)
        for a in rest:
            total *= max(1, len(a))
        if total > MAX_COMBINATIONS:
            raise too_large(f"{total} class combinations exceed the limit of {MAX_COMBINATIONS}")
        # Only a path read both as a value and as an object builds the same input twice.
        seen: set[bytes] | None = set() if any(c.objects for c in self.classes) else None
        for first, *combo in itertools.product(arrays, *rest):
            values: dict[Path, Any] = dict(first)
            for part in combo:
                values.update(part)
            inp = build_input(values)
            key = self.cell_of(inp)
            if key is None:
                continue
            if seen is not None:
                encoded = msgspec.json.encode(inp, order="sorted")
                if encoded in seen:
                    continue
                seen.add(encoded)
            yield key, inp

    def _in_tuple(self, p: Path) -> bool:
        return p in self.arrays or (bool(p) and position_of(p[-1]) is not None and p[:-1] in self.arrays)

    def _tuple_order(self, p: Path) -> int:
        """The array before its positions, and positions in order (the rest last)."""
        if p in self.arrays:
            return -1
        at = position_of(p[-1]) if p else None
        return at if at is not None and p[:-1] in self.arrays else 1 << 30

    def _tuples(self, per_class: list[list[dict[Path, Any]]]) -> Iterator[dict[Path, Any]]:
        """Every combination of the classes holding tuples of positions that builds a
        distinct input: their positions none where the path holds no array, else
        absent only after the last; the other combinations would build an input
        already built, so they are pruned as soon as they show."""

        def rec(k: int, values: dict[Path, Any]) -> Iterator[dict[Path, Any]]:
            if k == len(per_class):
                yield values
                return
            for part in per_class[k]:
                merged = values | part
                if self._canonical(merged):
                    yield from rec(k + 1, merged)

        yield from rec(0, {})

    def _canonical(self, values: Mapping[Path, Any]) -> bool:
        """Whether the positions chosen so far can be an array's (see `_tuples`). An
        array read only by comparisons with array literals whose first positions no
        literal (of a length that reaches them) matches fails every comparison,
        whatever follows: only its shortest such prefix is kept."""
        for p, n in self.arrays.items():
            v = values.get(p, _UNSET)
            ended = v is not _UNSET and v is not ARRAY
            live = self.literals.get(p)  # the literals the positions so far may match
            for i in range(n + 1):
                v = values.get(p + (position(i),), _UNSET)
                if v is _UNSET:
                    live = None  # unknown: no prefix is judged beyond it
                    continue
                if ended and v is not ABSENT:
                    return False
                ended = ended or v is ABSENT
                if live is not None and not ended:
                    key = value_key(v)
                    live = tuple(q for q in live if len(q) > i and (not q[i][0] or value_key(q[i][1]) == key))
                    ended = not live
        return True

    def cell_of(self, inp: Mapping, *, concrete: bool = False) -> CellKey | None:
        """The symbolic cell of any input: the class labels of its dimensions, and its
        relation; None when no tenancy could realise it. `concrete`: the cell as a
        tenancy realises it (compare with `--tenancy`/`--dsn`, replay): the dimensions'
        own values, the tenant being the subject's enterprise."""
        rel = self.relation(inp)
        if rel is None:
            return None
        d = self.dims
        if concrete:
            tenant, role = self._tenant_role(inp)
            action = get(inp, d.action)
            return (tenant, role, ANY if action is None else str(action), rel)
        tenant = self._class_label(d.tenant, inp) if d.symbolic_tenant and d.tenant else ANY
        role = self._class_label(d.role, inp) if d.role and d.role in self.read else ANY
        action = self._class_label(d.action, inp) if d.action and d.action in self.read else ANY
        return (tenant, role, action, rel)

    def cells_of(self, inp: dict, actions: Sequence[str]) -> list[CellKey | None]:
        """`cell_of(..., concrete=True)` of `inp` with each of `actions` in turn at the
        action's path (`inp` keeps the last). Where no other dimension lives under
        the action's path (the request model), only the action changes from one to the
        next, so the rest is computed once: compare keys a tenancy's rows this way."""
        if not self._action_apart:
            out: list[CellKey | None] = []
            for action in actions:
                _put(inp, self.dims.action, action)
                out.append(self.cell_of(inp, concrete=True))
            return out
        rel = self.relation(inp)
        if rel is None:
            return [None] * len(actions)
        tenant, role = self._tenant_role(inp)
        return [(tenant, role, ANY if a is None else str(a), rel) for a in actions]

    def _tenant_role(self, inp: Mapping) -> tuple[str, str]:
        """A concrete cell's tenant and role: their own values (the tenant is the
        subject's enterprise), `*` where the input has none."""
        d = self.dims
        tenant, role = get(inp, d.tenant), get(inp, d.role)
        return ANY if tenant is None else str(tenant), ANY if role is None else str(role)

    def _class_label(self, path: Path, inp: Mapping) -> str:
        v = get(inp, path)
        cs = self.class_of.get(path)
        return cs.describe(v) if cs is not None else shown(v)

    def relation(self, inp: Mapping) -> str | None:
        """The relation an input realises (`policydiff.tenancy.relation_of` on the
        values at the relation's paths), `*` when the cells do not split on it."""
        if not self._splits_relation:
            return ANY
        d = self.dims
        return relation_of(get(inp, d.subject_enterprise), get(inp, d.subject_teams),
                           get(inp, d.resource_enterprise), get(inp, d.resource_team))

    def attributes_of(self, inp: Mapping) -> dict[str, str]:
        """The class of every path of `inp` that is not a dimension, as reports show it."""
        d = self.dims
        skip = {d.role, d.action, d.tenant, *d.relation_paths}
        read = self.analysis_paths
        out = {}
        for cs in self.classes:
            for p in cs.scalars:
                if p not in skip and p in read:
                    out["input." + ".".join(p)] = cs.describe(get(inp, p))
        return out

    @functools.cached_property
    def analysis_paths(self) -> frozenset[Path]:
        return frozenset(self._analysed)


def _member_constants(parts: Sequence[InputClass]) -> tuple[tuple[Path, tuple], ...] | None:
    """The constants each collection's members may be compared with, across classes
    merged so a relation is realised by construction: a collection keeps its own
    class's (the analysis put the other classes' constants apart from its members; the
    merge adds only the relation, which `ClassSpace` meets through the paths' values).
    Dropping them would let every constant of the merged class be a member: needless
    subsets, a refusal or an unproved cell where the parts alone were decided."""
    out: list[tuple[Path, tuple]] = []
    for part in parts:
        if part.member_constants is not None:
            out += part.member_constants
        else:
            out += [(p, part.constants) for p in part.paths if p and p[-1] == ELEM]
    return tuple(out) if out else None


def get(doc: Any, path: Path | None) -> Any:
    """The value at `path` in `doc`, None where it has none."""
    if path is None:
        return None
    for k in path:
        if type(doc) is list:  # a position of a tuple of positions
            at = position_of(k)
            if at is None or at >= len(doc):
                return None
            doc = doc[at]
            continue
        # a plain dict skips the slower abstract-class check (replay calls this per request)
        if (type(doc) is not dict and not isinstance(doc, Mapping)) or k not in doc:
            return None
        doc = doc[k]
    return doc


def _put(doc: dict, path: Path | None, value: Any) -> None:
    """`value` at `path` in `doc`, making the objects on the way (nothing without a path)."""
    if path is None:
        return
    for k in path[:-1]:
        doc = doc.setdefault(k, {})
    doc[path[-1]] = value


def build_input(values: Mapping[Path, Any]) -> dict:
    """The input document with each path at its value; paths under a path that holds
    a plain value (not `OBJECT`) are left out."""
    keys = tuple(values)
    plan = _PLANS.get(keys)
    if plan is None:
        if len(_PLANS) >= _PLANS_LIMIT:
            _PLANS.clear()
        plan = _PLANS[keys] = _plan(keys)
    root: dict = {}
    for path, parents, last, is_position, items_at in plan:
        v = values[path]
        if v is ABSENT and is_position:
            continue  # a position is read from its array's value (`ARRAY`), never made a field
        node = root
        ok = True
        for k in parents:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                ok = False
                break
            node = nxt
        if not ok or v is ABSENT:
            continue
        if v is OBJECT:
            node.setdefault(last, {})
        elif v is ARRAY:  # its positions, up to the first absent one
            items = []
            for at in items_at:
                item = values[at]
                if item is ABSENT:
                    break
                items.append(item)
            node[last] = items
        else:
            node[last] = list(v) if isinstance(v, list) else v
    return root


# How `build_input` lays out each set of paths (in the order given): representatives()
# builds every combination from the same few sets, so the order, the parents and the
# positions of each array are worked out once per set.
_PLANS: dict[tuple[Path, ...], list[tuple[Path, Path, str, bool, tuple[Path, ...]]]] = {}
_PLANS_LIMIT = 256


def _plan(keys: tuple[Path, ...]) -> list[tuple[Path, Path, str, bool, tuple[Path, ...]]]:
    given = set(keys)
    out = []
    for path in sorted(keys, key=len):
        is_position = bool(path) and position_of(path[-1]) is not None
        items_at: list[Path] = []
        while (at := path + (position(len(items_at)),)) in given:
            items_at.append(at)
        out.append((path, path[:-1], path[-1] if path else "", is_position, tuple(items_at)))
    return out
