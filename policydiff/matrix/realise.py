"""Tenancy realisation: a tenancy's concrete requests grouped by the classes they realise.

`realise` walks a tenancy enterprise by enterprise to find which concrete (user,
action, resource) requests fall in which cell, and groups them by the class combination
they realise (the `Label`s of `policydiff.matrix.classes`), so that each combination is
evaluated once however many tenants and requests share it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from policydiff.errors import Code, PolicyError
from policydiff.flowgraph import ELEM, Path
from policydiff.matrix.classes import ClassSpace, Constant, Fresh, Label, Member
from policydiff.matrix.space import Space, get
from policydiff.tenancy import Resource, Tenancy, User, relation

# The classes of one side (subject or resource) of a request: per class, the labels of
# its scalars and, per collection, the labels of its members
SideSig = tuple[tuple[Any, ...], ...]


class Element(msgspec.Struct, frozen=True, array_like=True):
    """One kind of (user, resource) pair: the user's role, both sides' classes, how
    their values meet, and the relation. Every action combines with it alike."""

    role: str
    user_sig: SideSig
    resource_sig: SideSig
    cross: tuple[tuple[Path, Path], ...]
    relation: str


class TenantCells(msgspec.Struct, kw_only=True):
    """What one tenant (enterprise) realises: its kinds of pairs, a concrete pair for
    each, and how many requests each (role, relation) holds per action."""

    tenant: str
    elements: frozenset[Element]
    pairs: dict[Element, tuple[User, Resource]]
    counts: dict[tuple[str, str], int]


class Realisation(msgspec.Struct, kw_only=True):
    """Every tenant's realised pairs; each combines with every action of the tenancy."""

    tenants: list[TenantCells]
    actions: tuple[str, ...]
    requests: int


def realise(space: Space, tenancy: Tenancy) -> Realisation:
    """Group every (user, action, resource) request of `tenancy` by tenant and class
    combination, without visiting requests one by one: pairs within an enterprise are
    visited, pairs across enterprises are counted per resource class, except the few
    whose values meet (found through an index of values)."""
    sides = _SideSigs(space)
    by_ent_users: dict[str, list[User]] = defaultdict(list)
    by_ent_res: dict[str, list[Resource]] = defaultdict(list)
    for u in tenancy.users:
        by_ent_users[u.enterprise].append(u)
    for r in tenancy.resources:
        by_ent_res[r.enterprise].append(r)
    rsig = {r.id: sides.resource(r) for r in tenancy.resources}
    global_counts: Counter = Counter(rsig[r.id] for r in tenancy.resources)
    reps: dict[SideSig, list[Resource]] = defaultdict(list)  # a few resources per class, from distinct enterprises
    for r in tenancy.resources:
        lst = reps[rsig[r.id]]
        if len(lst) < 3 and all(x.enterprise != r.enterprise for x in lst):
            lst.append(r)
    rvals = {r.id: sides.values("resource", _resource_doc(r)) for r in tenancy.resources}
    index = sides.resource_index(tenancy.resources, rvals)
    out = []
    for ent in (e.id for e in tenancy.enterprises):
        own = by_ent_res.get(ent, [])
        others = Counter(global_counts)
        others.subtract(Counter(rsig[r.id] for r in own))
        elements: set[Element] = set()
        pairs: dict[Element, tuple[User, Resource]] = {}
        counts: Counter = Counter()
        for u in by_ent_users.get(ent, []):
            usig = sides.user(u)
            uvals = sides.values("subject", _user_doc(u))
            candidates = {r.id: r for r in own}
            for r in sides.meeting(uvals, index):
                candidates.setdefault(r.id, r)
            rest = others
            foreign = [r for r in candidates.values() if r.enterprise != ent]
            if foreign:  # resources of other enterprises whose values meet this user's
                rest = Counter(others)
                for r in foreign:
                    rest[rsig[r.id]] -= 1
            for r in candidates.values():
                rel = relation(u, r)
                e = Element(u.role, usig, rsig[r.id], sides.cross(uvals, rvals[r.id]), rel)
                elements.add(e)
                pairs.setdefault(e, (u, r))
                counts[(u.role, rel)] += 1
            for sig, n in rest.items():
                if n <= 0:
                    continue
                e = Element(u.role, usig, sig, (), "other_enterprise")
                elements.add(e)
                if e not in pairs:
                    r = next((x for x in reps[sig] if x.enterprise != ent and x.id not in candidates), None)
                    if r is None:  # every other resource of this class meets this user's values
                        r = next(x for x in tenancy.resources if rsig[x.id] == sig and x.enterprise != ent
                                 and x.id not in candidates)
                    pairs[e] = (u, r)
                counts[(u.role, "other_enterprise")] += n
        out.append(TenantCells(tenant=ent, elements=frozenset(elements), pairs=pairs, counts=dict(counts)))
    total = len(tenancy.users) * len(tenancy.resources) * len(tenancy.actions)
    return Realisation(tenants=out, actions=tuple(tenancy.actions), requests=total)


class _SideSigs:
    """Class signatures of the subject and resource halves of requests, and how the
    values of the two halves meet in the classes they share."""

    def __init__(self, space: Space):
        self.space = space
        self.classes: list[ClassSpace] = space.classes
        self.spanning = []
        for i, cs in enumerate(self.classes):
            sides = {p[0] for p in cs.scalars + cs.collections}
            if len(sides & {"subject", "resource"}) == 2:
                self.spanning.append(i)
            if "action" in sides and len(sides) > 1:
                raise PolicyError.at(
                    Code.UNSUPPORTED, "the policies compare `input.action` with subject or resource "
                    "attributes, which the tenancy matrix does not group",
                    help="compare without a tenancy: the symbolic matrix covers these requests")
        self.layouts = {side: self._layout(side) for side in ("subject", "resource")}

    def _layout(self, side: str) -> list[tuple[ClassSpace, list, list]]:
        out = []
        for cs in self.classes:
            scalars = [p for p in cs.scalars if p[0] == side]
            colls = [p for p in cs.collections if p[0] == side]
            if scalars or colls:
                out.append((cs, scalars, colls))
        return out

    def _sig(self, side: str, doc: Mapping) -> SideSig:
        out = []
        for cs, scalars, colls in self.layouts[side]:
            fresh: dict[Any, int] = {}
            part = []
            for p in scalars:
                v = get(doc, p[1:])
                lab = cs.label(v)
                if isinstance(lab, Fresh):
                    lab = Fresh(lab.sig, lab.type, fresh.setdefault(v, len(fresh)))
                part.append(lab)
            for p in colls:
                items = get(doc, p[1:]) or ()
                members: list[Label] = []
                others: list[Label] = []
                for v in items:
                    lab = cs.label(v)
                    if isinstance(lab, Constant):
                        members.append(lab)
                    elif v in fresh:
                        members.append(Member(fresh[v]))
                    else:
                        others.append(lab)
                part.append((tuple(sorted(set(members), key=repr)), tuple(sorted(others, key=repr))))
            out.append(tuple(part))
        return tuple(out)

    def user(self, u: User) -> SideSig:
        return self._sig("subject", _user_doc(u))

    def resource(self, r: Resource) -> SideSig:
        return self._sig("resource", _resource_doc(r))

    def values(self, side: str, doc: Mapping) -> list[tuple[int, Path, Any]]:
        """The non-constant values of `doc` in classes both halves share."""
        vals = []
        for i in self.spanning:
            cs = self.classes[i]
            for p in cs.scalars:
                if p[0] == side:
                    v = get(doc, p[1:])
                    if isinstance(cs.label(v), Fresh):
                        vals.append((i, p, v))
            for p in cs.collections:
                if p[0] == side:
                    for v in get(doc, p[1:]) or ():
                        if isinstance(cs.label(v), Fresh):
                            vals.append((i, p + (ELEM,), v))
        return vals

    def resource_index(self, resources: Iterable[Resource], rvals) -> dict[tuple[int, Any], list[Resource]]:
        index: dict[tuple[int, Any], list[Resource]] = defaultdict(list)
        for r in resources:
            for i, _, v in rvals[r.id]:
                index[(i, _hashable(v))].append(r)
        return index

    def meeting(self, uvals, index) -> list[Resource]:
        out: list[Resource] = []
        for i, _, v in uvals:
            out.extend(index.get((i, _hashable(v)), ()))
        return out

    def cross(self, uvals, rvals) -> tuple:
        """Which subject and resource paths hold the same non-constant value."""
        return tuple(sorted({(pu, pr) for i, pu, a in uvals for j, pr, b in rvals if i == j and a == b}))


def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v


def _user_doc(u: User) -> dict:
    return {"id": u.id, "enterprise": u.enterprise, "role": u.role, "teams": list(u.teams)}


def _resource_doc(r: Resource) -> dict:
    return {"id": r.id, "kind": r.kind, "enterprise": r.enterprise, "team": r.team}
