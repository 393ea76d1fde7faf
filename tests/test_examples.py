"""The example policies say what policies/README.md says they say.

Checked with real OPA (and rego-cpp as a second engine), independently of policydiff:
RBACv1 is exactly its documented role table (a decision of role, action and relation
only), RBACv2 is never more permissive than RBACv1, and the two differ in exactly the
three intended tightenings.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from engines import OpaEngine, RegopyEngine
from hypothesis import HealthCheck, given, settings
from strategies import ACTIONS, ROLES, relation, requests

POLICIES = Path(__file__).resolve().parents[1] / "policies"
V1, V2 = "data.rbac.v1.allow", "data.rbac.v2.allow"
RELATIONS = ("own_team", "other_team", "enterprise", "other_enterprise")
SCOPES = {
    "team": {"own_team"},
    "enterprise": {"own_team", "other_team", "enterprise"},
    "global": set(RELATIONS),
}

# RBACv1 as policies/README.md writes it: role -> (inherited roles, {action: scope}).
V1_TABLE = {
    "admin": ((), {"*": "enterprise"}),
    "viewer": ((), {"project:read": "enterprise", "billing:read": "enterprise"}),
    "developer": (("viewer",), {"project:write": "team", "project:export": "enterprise"}),
    "team_admin": (
        ("developer",),
        {"project:delete": "team", "team:manage": "team", "member:invite": "team", "audit:read": "team"},
    ),
    "system": (
        (),
        {a: "global" for a in ("project:read", "project:write", "project:delete", "project:export", "audit:read")},
    ),
}

# The README's intended differences: (action, roles, relations) where v2 denies what v1 allows.
INTENDED = (
    ("billing:read", {"viewer", "developer", "team_admin"}, {"own_team", "other_team", "enterprise"}),
    ("project:export", {"developer", "team_admin"}, {"other_team", "enterprise"}),
    ("project:delete", {"system"}, set(RELATIONS)),
)


def table_allows(role: str, action: str, rel: str) -> bool:
    if role not in V1_TABLE:
        return False
    inherits, grants = V1_TABLE[role]
    for pattern, scope in grants.items():
        if pattern in ("*", action) and rel in SCOPES[scope]:
            return True
    return any(table_allows(parent, action, rel) for parent in inherits)


def witness(role: str, action: str, rel: str) -> dict:
    """One request of the cell: a subject of ent-acme in two teams."""
    ent, team = {
        "own_team": ("ent-acme", "acme-web"),
        "other_team": ("ent-acme", "acme-data"),
        "enterprise": ("ent-acme", None),
        "other_enterprise": ("ent-globex", "globex-web"),
    }[rel]
    return {
        "subject": {"id": "u-1", "enterprise": "ent-acme", "role": role, "teams": ["acme-core", "acme-web"]},
        "action": action,
        "resource": {"id": "p-1", "kind": "project", "enterprise": ent, "team": team},
    }


@pytest.fixture(scope="module")
def engines():
    modules = {p.name: p.read_text() for p in (POLICIES / "rbac_v1.rego", POLICIES / "rbac_v2.rego")}
    return OpaEngine(modules), RegopyEngine(modules)


CELLS = list(itertools.product(ROLES + ("guest",), ACTIONS + ("deploy:run",), RELATIONS))


def test_every_cell_of_v1_is_its_role_table(engines):
    opa, rego = engines
    for role, action, rel in CELLS:
        req = witness(role, action, rel)
        expected = table_allows(role, action, rel)
        assert opa.evaluate(V1, req) is expected, (role, action, rel)
        assert rego.evaluate(V1, req) is expected, (role, action, rel)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=requests())
def test_v1_depends_on_role_action_and_relation_only(engines, req):
    opa, _ = engines
    expected = table_allows(req["subject"]["role"], req["action"], relation(req))
    assert opa.evaluate(V1, req) is expected


def test_v2_differs_from_v1_exactly_by_the_intended_tightenings(engines):
    opa, rego = engines
    intended = {
        (role, action, rel)
        for action, roles, rels in INTENDED
        for role in roles
        for rel in rels
    }
    tightened, loosened = set(), set()
    for role, action, rel in CELLS:
        req = witness(role, action, rel)
        v1, v2 = opa.evaluate(V1, req), opa.evaluate(V2, req)
        assert rego.evaluate(V2, req) is v2
        if v1 and not v2:
            tightened.add((role, action, rel))
        if v2 and not v1:
            loosened.add((role, action, rel))
    assert loosened == set()
    assert tightened == intended


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=requests())
def test_v2_never_allows_what_v1_denies(engines, req):
    opa, _ = engines
    if opa.evaluate(V2, req):
        assert opa.evaluate(V1, req) is True


def test_policydiff_reports_the_intended_tightenings_with_real_witnesses(engines, capsys):
    """The symbolic diff, read through its JSON contract, finds exactly the README's
    cells, its gate passes with the reviewed classifications, and every witness it
    gives really differs when OPA evaluates it."""
    from policydiff.cli import main

    root = POLICIES.parent
    code = main([
        "compare", str(POLICIES / "rbac_v1.rego"), str(POLICIES / "rbac_v2.rego"),
        "--classifications", str(root / "classifications" / "rbac_v2.yaml"), "--format", "json",
    ])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["gate"]
    assert report["summary"]["v2_more_permissive"] == 0
    intended = {(role, action, rel) for action, roles, rels in INTENDED for role in roles for rel in rels}
    assert {(d["role"], d["action"], d["relation"]) for d in report["discrepancies"]} == intended
    opa, _ = engines
    for d in report["discrepancies"]:
        assert d["direction"] == "v2_more_restrictive"
        assert relation(d["witness"]) == d["relation"]
        assert (opa.evaluate(V1, d["witness"]), opa.evaluate(V2, d["witness"])) == (True, False), d
