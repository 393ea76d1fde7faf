"""The permission graph: tenancy facts and roles as one networkx graph.

Nodes are `kind:id` strings (`enterprise:`, `team:`, `user:`, `resource:`, `role:`,
`action:`) with a `kind` attribute; edges say how they hang together (`part_of`,
`member_of`, `has_role`, `owned_by`, `inherits`, `grants` with its `scope`). The graph
drives the tenancy matrix: `realise` walks it enterprise by enterprise to find which
concrete (user, action, resource) requests fall in which cell, and groups them by the
class combination they realise (`policydiff.matrix`), so that each combination is
evaluated once however many tenants and requests share it. This is the only module
that imports networkx.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any

import msgspec
import networkx as nx

from policydiff.analysis import ELEM
from policydiff.errors import PolicyError
from policydiff.matrix import ClassSpace, Space
from policydiff.tenancy import Resource, Tenancy, User, relation

_SIDES = ("subject", "action", "resource")


def permission_graph(tenancy: Tenancy | None = None, role_tables: Sequence[str | FsPath] = ()) -> nx.DiGraph:
    """The tenancy (when given) and the roles of any role-table policies."""
    g = nx.DiGraph()
    if tenancy is not None:
        for e in tenancy.enterprises:
            g.add_node(f"enterprise:{e.id}", kind="enterprise", id=e.id)
            for t in e.teams:
                g.add_node(f"team:{t}", kind="team", id=t)
                g.add_edge(f"team:{t}", f"enterprise:{e.id}", rel="part_of")
        for u in tenancy.users:
            g.add_node(f"user:{u.id}", kind="user", id=u.id, role=u.role)
            g.add_edge(f"user:{u.id}", f"enterprise:{u.enterprise}", rel="member_of")
            for t in u.teams:
                g.add_edge(f"user:{u.id}", f"team:{t}", rel="member_of")
            g.add_node(f"role:{u.role}", kind="role", id=u.role)
            g.add_edge(f"user:{u.id}", f"role:{u.role}", rel="has_role")
        for r in tenancy.resources:
            g.add_node(f"resource:{r.id}", kind="resource", id=r.id, resource_kind=r.kind)
            g.add_edge(f"resource:{r.id}", f"enterprise:{r.enterprise}", rel="owned_by")
            if r.team is not None:
                g.add_edge(f"resource:{r.id}", f"team:{r.team}", rel="owned_by")
        for a in tenancy.actions:
            g.add_node(f"action:{a}", kind="action", id=a)
    for path in role_tables:
        _add_role_table(g, path)
    return g


def _add_role_table(g: nx.DiGraph, path: str | FsPath) -> None:
    from policydiff.frontend.roletable import load_table

    table = load_table(path)
    for name, role in table.roles.items():
        g.add_node(f"role:{name}", kind="role", id=name)
        for parent in role.inherits:
            g.add_node(f"role:{parent}", kind="role", id=parent)
            g.add_edge(f"role:{name}", f"role:{parent}", rel="inherits")
        for grant in role.grants:
            for action in grant.actions:
                g.add_node(f"action:{action}", kind="action", id=action)
                g.add_edge(f"role:{name}", f"action:{action}", rel="grants", scope=grant.scope,
                           source=str(path))


def add_policy_roles(g: nx.DiGraph, policy: Any, name: str) -> None:
    """The roles and actions a (Rego) policy names, and an `allows` edge from a role
    to an action with the relations where the policy's symbolic matrix allows it
    (`conditional` when only some requests of a cell are allowed)."""
    from policydiff.analysis import analyze_policies
    from policydiff.diff import diff

    analysis = analyze_policies(policy)
    named: dict[str, set[str]] = {}
    for path, kind in ((("subject", "role"), "role"), (("action",), "action")):
        cls = analysis.class_of(path)
        named[kind] = {v for v in (cls.constants if cls else ()) if isinstance(v, str)}
        for value in named[kind]:
            node = f"{kind}:{value}"
            g.add_node(node, kind=kind, id=value)
            g.nodes[node].setdefault("policies", [])
            if name not in g.nodes[node]["policies"]:
                g.nodes[node]["policies"].append(name)
    allowed: dict[tuple[str, str], dict[str, str]] = {}
    for cell in diff(policy, policy).cells:
        if cell.v1 != "deny" and cell.role in named["role"] and cell.action in named["action"]:
            allowed.setdefault((cell.role, cell.action), {})[cell.relation] = cell.v1
    for (role, action), relations in allowed.items():
        g.add_edge(f"role:{role}", f"action:{action}", rel="allows", policy=name,
                   scope=",".join(sorted(relations)), conditional="mixed" in relations.values())


def role_closure(g: nx.DiGraph, role: str) -> tuple[str, ...]:
    """`role` and every role it inherits from, transitively."""
    node = f"role:{role}"
    if node not in g:
        return (role,)
    inherits = nx.subgraph_view(g, filter_edge=lambda a, b: g.edges[a, b].get("rel") == "inherits")
    return (role,) + tuple(sorted(g.nodes[n]["id"] for n in nx.descendants(inherits, node)))


def role_grants(g: nx.DiGraph, role: str) -> tuple[tuple[str, str], ...]:
    """(action pattern, scope) of every grant `role` holds, own or inherited."""
    out = set()
    for r in role_closure(g, role):
        for _, target, data in g.out_edges(f"role:{r}", data=True):
            if data.get("rel") == "grants":
                out.add((g.nodes[target]["id"], data["scope"]))
    return tuple(sorted(out))


# ---------------------------------------------------------------------------- export


def to_json(g: nx.DiGraph) -> str:
    data = nx.node_link_data(g, edges="edges")
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def to_dot(g: nx.DiGraph) -> str:
    def q(s: Any) -> str:
        return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'

    shapes = {"enterprise": "box3d", "team": "folder", "user": "ellipse", "resource": "note",
              "role": "diamond", "action": "plaintext"}
    lines = ["digraph permissions {", "  rankdir=LR;"]
    for n, data in sorted(g.nodes(data=True)):
        attrs = {"shape": shapes.get(data.get("kind"), "ellipse"), "label": data.get("id", n)}
        lines.append(f"  {q(n)} [" + ", ".join(f"{k}={q(v)}" for k, v in attrs.items()) + "];")
    for a, b, data in sorted(g.edges(data=True), key=lambda e: (e[0], e[1])):
        label = data.get("rel", "")
        if data.get("scope"):
            label += f" ({data['scope']})"
        lines.append(f"  {q(a)} -> {q(b)} [label={q(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ tenancy matrix


class Element(msgspec.Struct, frozen=True, array_like=True):
    """One kind of (user, resource) pair: the user's role, both sides' classes, how
    their values meet, and the relation. Every action combines with it alike."""

    role: str
    user_sig: Any
    resource_sig: Any
    cross: Any
    relation: str


class TenantCells(msgspec.Struct, kw_only=True):
    """What one tenant (enterprise) realises: its kinds of pairs, a concrete pair for
    each, and how many requests each (role, relation) holds per action."""

    tenant: str
    elements: frozenset
    pairs: dict
    counts: dict


class Realisation(msgspec.Struct, kw_only=True):
    tenants: list[TenantCells]
    actions: tuple[str, ...]
    requests: int


def realise(space: Space, tenancy: Tenancy, g: nx.DiGraph | None = None) -> Realisation:
    """Group every (user, action, resource) request of `tenancy` by tenant and class
    combination, without visiting requests one by one: pairs within an enterprise are
    visited, pairs across enterprises are counted per resource class, except the few
    whose values meet (found through an index of values)."""
    g = g if g is not None else permission_graph(tenancy)
    sides = _SideSigs(space)
    users = {u.id: u for u in tenancy.users}
    resources = {r.id: r for r in tenancy.resources}
    by_ent_users: dict[str, list[User]] = defaultdict(list)
    by_ent_res: dict[str, list[Resource]] = defaultdict(list)
    for n, data in g.nodes(data=True):
        kind = data.get("kind")
        if kind == "user":
            u = users[data["id"]]
            by_ent_users[u.enterprise].append(u)
        elif kind == "resource":
            r = resources[data["id"]]
            by_ent_res[r.enterprise].append(r)
    rsig = {r.id: sides.resource(r) for r in tenancy.resources}
    global_counts: Counter = Counter(rsig[r.id] for r in tenancy.resources)
    reps: dict[Any, list[Resource]] = defaultdict(list)  # a few resources per class, from distinct enterprises
    for r in tenancy.resources:
        lst = reps[rsig[r.id]]
        if len(lst) < 3 and all(x.enterprise != r.enterprise for x in lst):
            lst.append(r)
    rvals = {r.id: sides.values("resource", _resource_doc(r)) for r in tenancy.resources}
    index = sides.resource_index(tenancy.resources, rvals)
    enterprises = [g.nodes[n]["id"] for n, d in g.nodes(data=True) if d.get("kind") == "enterprise"]
    out = []
    for ent in enterprises:
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


def request_counts(real: Realisation) -> dict[tuple[str, str, str, str], int]:
    """How many requests each cell (tenant, role, action, relation) holds."""
    out = {}
    for t in real.tenants:
        for (role, rel), n in t.counts.items():
            for action in real.actions:
                out[(t.tenant, role, action, rel)] = n
    return out


def action_sig(space: Space, action: str) -> Any:
    cs = space.class_of.get(("action",))
    return cs.label(action) if cs is not None else None


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
                    "unsupported", "the policies compare `input.action` with subject or resource "
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

    def _sig(self, side: str, doc: Mapping) -> tuple:
        out = []
        for cs, scalars, colls in self.layouts[side]:
            fresh: dict[Any, int] = {}
            part = []
            for p in scalars:
                v = _get(doc, p[1:])
                lab = cs.label(v)
                if lab[0] == "f":
                    lab = lab + (fresh.setdefault(v, len(fresh)),)
                part.append(lab)
            for p in colls:
                items = _get(doc, p[1:]) or ()
                members, others = [], []
                for v in items:
                    lab = cs.label(v)
                    if lab[0] == "c":
                        members.append(lab)
                    elif v in fresh:
                        members.append(("s", fresh[v]))
                    else:
                        others.append(lab)
                part.append((tuple(sorted(set(members), key=repr)), tuple(sorted(others, key=repr))))
            out.append(tuple(part))
        return tuple(out)

    def user(self, u: User) -> tuple:
        return self._sig("subject", _user_doc(u))

    def resource(self, r: Resource) -> tuple:
        return self._sig("resource", _resource_doc(r))

    def values(self, side: str, doc: Mapping) -> list[tuple[int, Path_, Any]]:
        """The non-constant values of `doc` in classes both halves share."""
        vals = []
        for i in self.spanning:
            cs = self.classes[i]
            for p in cs.scalars:
                if p[0] == side:
                    v = _get(doc, p[1:])
                    if cs.label(v)[0] == "f":
                        vals.append((i, p, v))
            for p in cs.collections:
                if p[0] == side:
                    for v in _get(doc, p[1:]) or ():
                        if cs.label(v)[0] == "f":
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


Path_ = tuple[str, ...]


def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v


def _get(doc: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(k)
    return doc


def _user_doc(u: User) -> dict:
    return {"id": u.id, "enterprise": u.enterprise, "role": u.role, "teams": list(u.teams)}


def _resource_doc(r: Resource) -> dict:
    return {"id": r.id, "kind": r.kind, "enterprise": r.enterprise, "team": r.team}
