"""The permission graph: tenancy and role tables as a networkx graph and its exports;
and the tenancy realisation of the matrix (checked against every concrete request)."""

from __future__ import annotations

import json

import networkx as nx

from policydiff import load_policy
from policydiff.analysis import analyze_policies
from policydiff.cli import main
from policydiff.graph import permission_graph, to_dot, to_json
from policydiff.matrix import Space, realise
from policydiff.tenancy import Enterprise, Resource, Tenancy, User, relation

TENANCY = Tenancy(
    enterprises=(Enterprise(id="acme", teams=("acme-web", "acme-ops")), Enterprise(id="globex", teams=("gx",))),
    users=(
        User(id="u1", enterprise="acme", role="developer", teams=("acme-web",)),
        User(id="u2", enterprise="acme", role="viewer", teams=()),
        User(id="u3", enterprise="globex", role="admin", teams=("gx",)),
    ),
    resources=(
        Resource(id="p1", kind="project", enterprise="acme", team="acme-web"),
        Resource(id="p2", kind="project", enterprise="acme", team="acme-ops"),
        Resource(id="e1", kind="enterprise", enterprise="acme", team=None),
        Resource(id="g1", kind="project", enterprise="globex", team="gx"),
    ),
    actions=("project:read", "project:write"),
)


def test_graph_holds_the_tenancy_facts():
    g = permission_graph(TENANCY)
    assert g.nodes["user:u1"]["kind"] == "user"
    assert g.edges["user:u1", "team:acme-web"]["rel"] == "member_of"
    assert g.edges["team:acme-web", "enterprise:acme"]["rel"] == "part_of"
    assert g.edges["resource:p1", "team:acme-web"]["rel"] == "owned_by"
    assert not g.has_edge("resource:e1", "team:None")
    # a user reaches the resources of its own teams through the graph
    assert nx.has_path(g.to_undirected(), "user:u1", "resource:p1")
    assert not nx.has_path(g.to_undirected(), "user:u3", "resource:p1")


def test_role_inheritance_and_grants_come_from_the_role_table():
    g = permission_graph(None, ["policies/rbac_v1.yaml"])
    inherits = nx.subgraph_view(g, filter_edge=lambda a, b: g.edges[a, b]["rel"] == "inherits")
    assert nx.descendants(inherits, "role:team_admin") == {"role:developer", "role:viewer"}
    assert nx.descendants(inherits, "role:admin") == set()

    def grants(role: str) -> dict[str, str]:
        return {g.nodes[b]["id"]: d["scope"] for _, b, d in g.out_edges(f"role:{role}", data=True)
                if d["rel"] == "grants"}

    assert grants("developer")["project:write"] == "team"
    # the developer's project:read is inherited from the viewer
    assert "project:read" not in grants("developer") and grants("viewer")["project:read"] == "enterprise"
    assert nx.descendants(inherits, "role:developer") == {"role:viewer"}


def test_exports_are_dot_and_node_link_json():
    g = permission_graph(TENANCY, ["policies/rbac_v1.yaml"])
    data = json.loads(to_json(g))
    ids = {n["id"] for n in data["nodes"]}
    assert {"user:u1", "role:team_admin", "action:project:write"} <= ids
    dot = to_dot(g)
    assert dot.startswith("digraph")
    assert '"user:u1" -> "team:acme-web"' in dot
    assert dot.count("->") == g.number_of_edges()


def test_graph_command(tmp_path, capsys):
    t = tmp_path / "t.json"
    import msgspec

    t.write_bytes(msgspec.json.encode(TENANCY))
    assert main(["graph", "--tenancy", str(t), "policies/rbac_v1.yaml", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any(e["source"] == "role:team_admin" and e["target"] == "role:developer" for e in data["edges"])
    assert main(["graph", "--tenancy", str(t), "--format", "dot"]) == 0
    assert "digraph" in capsys.readouterr().out
    assert main(["graph", "--tenancy", str(tmp_path / "missing.json")]) == 2


def test_realisation_counts_every_request_once():
    p1, p2 = load_policy("policies/rbac_v1.rego"), load_policy("policies/rbac_v2.rego")
    space = Space(analyze_policies(p1, p2))
    real = realise(space, TENANCY)
    counted = {}
    for t in real.tenants:
        for (role, rel), n in t.counts.items():
            counted[(t.tenant, role, rel)] = counted.get((t.tenant, role, rel), 0) + n
    expected: dict = {}
    for u in TENANCY.users:
        for r in TENANCY.resources:
            k = (u.enterprise, u.role, relation(u, r))
            expected[k] = expected.get(k, 0) + 1
    assert counted == expected
    assert real.requests == len(list(TENANCY.requests()))
    assert sum(n for t in real.tenants for n in t.counts.values()) * len(real.actions) == real.requests
    assert counted[("acme", "developer", "own_team")] == 1
    # every element's concrete pair really has the element's role and relation
    for t in real.tenants:
        for e in t.elements:
            u, r = t.pairs[e]
            assert u.enterprise == t.tenant and u.role == e.role and relation(u, r) == e.relation


def test_rego_policies_add_the_grants_their_matrix_shows():
    from policydiff.graph import add_policy_roles

    g = permission_graph(None)
    add_policy_roles(g, load_policy("policies/rbac_v1.rego"), "policies/rbac_v1.rego")
    edge = g.edges["role:developer", "action:project:write"]
    assert edge["rel"] == "allows" and edge["scope"] == "own_team"
    assert set(g.edges["role:viewer", "action:billing:read"]["scope"].split(",")) == {
        "enterprise", "own_team", "other_team"}
    assert not g.has_edge("role:viewer", "action:project:write")
