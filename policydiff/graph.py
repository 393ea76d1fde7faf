"""The permission graph: tenancy facts and roles as one networkx graph, and its export.

Nodes are `kind:id` strings (`enterprise:`, `team:`, `user:`, `resource:`, `role:`,
`action:`) with a `kind` attribute; edges say how they hang together (`part_of`,
`member_of`, `has_role`, `owned_by`, `inherits`, `grants` with its `scope`, and
`allows` where a Rego policy's symbolic matrix allows an action). `to_json` and
`to_dot` export it for `policydiff graph`. This is the only module that imports
networkx; the tenancy matrix does not go through it (`policydiff.matrix.realise`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path as FsPath
from typing import Any

import networkx as nx

from policydiff.analysis import analyze_policies
from policydiff.diff import diff
from policydiff.frontend.roletable import load_table
from policydiff.policy import Policy
from policydiff.tenancy import Tenancy


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


def add_policy_roles(g: nx.DiGraph, policy: Policy, name: str) -> None:
    """The roles and actions a (Rego) policy names, and an `allows` edge from a role
    to an action with the relations where the policy's symbolic matrix allows it
    (`conditional` when only some requests of a cell are allowed)."""
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
