"""The symbolic diff on the example policies: counts, cells, witnesses re-checked with
policydiff's evaluator and with regopy, provenance, tenancy mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from engines import RegopyEngine

from policydiff import load_policy
from policydiff.diff import diff, discrepancy_rate
from policydiff.matrix import OTHER, dimensions
from policydiff.report import json, text
from policydiff.tenancy import Enterprise, Resource, Tenancy, User

V1, V2 = "policies/rbac_v1.rego", "policies/rbac_v2.rego"
UNSAFE = "examples/unsafe/rbac_v2.rego"


@pytest.fixture(scope="module")
def policies():
    return load_policy(V1), load_policy(V2)


@pytest.fixture(scope="module")
def report(policies):
    return diff(*policies)


@pytest.fixture(scope="module")
def regopy():
    def engine(path: str) -> RegopyEngine:
        return RegopyEngine({path: Path(path).read_text()})

    return {V1: engine(V1), V2: engine(V2), UNSAFE: engine(UNSAFE)}


def _allowed(value) -> bool:
    return value is True


def test_summary_counts_cell_direction_pairs(report):
    s = report.summary
    assert s.discrepancies == len(report.discrepancies) == s.v2_more_permissive + s.v2_more_restrictive
    assert s.cells == len(report.cells) == len({c.key for c in report.cells})
    discrepant = {d.key for d in report.discrepancies}
    assert s.discrepancy_rate == pytest.approx(len(discrepant) / s.cells)
    assert s.complete and s.unclassified == s.discrepancies
    assert report.gate.passed == (s.discrepancies == 0)


def test_example_change_is_a_pure_tightening_of_the_intended_cells(report):
    assert report.summary.v2_more_permissive == 0
    changed = {(d.role, d.action) for d in report.discrepancies}
    # policies/README.md: billing becomes admin-only, export own-team only, system loses delete
    assert ("viewer", "billing:read") in changed
    assert ("developer", "project:export") in changed
    assert ("system", "project:delete") in changed
    assert all(role != "admin" for role, _ in changed)
    export = {d.relation for d in report.discrepancies if d.role == "developer" and d.action == "project:export"}
    assert "own_team" not in export and "other_team" in export


def test_cells_cover_roles_and_actions_plus_other(report):
    roles = {c.role for c in report.cells}
    actions = {c.action for c in report.cells}
    assert {"admin", "team_admin", "developer", "viewer", "system", OTHER} <= roles
    assert {"project:read", "billing:read", "audit:read", OTHER} <= actions
    assert all(c.tenant == "*" for c in report.cells)
    other = [c for c in report.cells if c.role == OTHER]
    assert other and all(c.v1 == "deny" and c.v2 == "deny" for c in other)


def _check_witnesses(report, v1_path, v2_path, p1, p2, regopy):
    assert report.discrepancies
    for d in report.discrepancies:
        w = d.witness
        assert w["subject"]["role"] == d.role or d.role == OTHER
        assert w["action"] == d.action or OTHER in d.action
        expect = (False, True) if d.direction == "v2_more_permissive" else (True, False)
        assert (p1.allows(w), p2.allows(w)) == expect, d
        r1 = _allowed(regopy[v1_path].evaluate(p1.decision, w))
        r2 = _allowed(regopy[v2_path].evaluate(p2.decision, w))
        assert (r1, r2) == expect, d


def test_every_witness_differs_in_the_reported_direction(report, policies, regopy):
    _check_witnesses(report, V1, V2, *policies, regopy)


def test_loosening_witnesses_too(policies, regopy):
    unsafe = load_policy(UNSAFE)
    report = diff(policies[0], unsafe)
    assert report.summary.v2_more_permissive > 0
    _check_witnesses(report, V1, UNSAFE, policies[0], unsafe, regopy)


def test_provenance_points_at_the_deciding_rules(report):
    lines = {p: Path(p).read_text().splitlines() for p in (V1, V2)}
    for d in report.discrepancies:
        assert d.v1_rules and d.v2_rules
        for where in d.v1_rules + d.v2_rules:
            file, line = where.rsplit(":", 1)
            text = lines[file][int(line) - 1]
            assert "allow" in text, where  # an allow rule (or the default) decided
    billing = next(d for d in report.discrepancies if d.action == "billing:read")
    assert any(lines[V2][int(w.rsplit(":", 1)[1]) - 1].startswith("default allow") for w in billing.v2_rules)


def test_identical_policies_have_no_discrepancy(policies):
    r = diff(policies[0], policies[0])
    assert r.summary.discrepancies == 0 and r.gate.passed
    assert all(c.v1 == c.v2 for c in r.cells)


def test_paths_outside_the_request_model_are_modelled_and_named(policies):
    # the request model has no resource.weight: it is split into classes like any
    # other path (absent among them), so a difference that depends on it is found,
    # and the report names the paths outside the model
    src = "package p\n\nimport rego.v1\n\nallow if {{\n\tinput.resource.weight == {}\n\tinput.subject.tier[_] == 1\n}}\n"
    r = diff(load_policy(src.format(2)), load_policy(src.format(3)))
    assert r.summary.v2_more_permissive > 0 and r.summary.v2_more_restrictive > 0
    loose = next(d for d in r.discrepancies if d.direction == "v2_more_permissive")
    assert loose.witness["resource"]["weight"] == 3 and 1 in loose.witness["subject"]["tier"]
    assert r.summary.outside_model == ("input.resource.weight", "input.subject.tier", "input.subject.tier[_]")
    assert diff(*policies).summary.outside_model == ()  # the examples read the model only
    assert "not in the request model: input.resource.weight" in text.render(r)
    assert json.document(r)["summary"]["outside_model"][0] == "input.resource.weight"
    assert "outside_model" not in json.document(diff(*policies))["summary"]
    other = dimensions(["role=input.subject.role"])
    shaped = diff(load_policy(src.format(2)), load_policy(src.format(3)), dims=other)
    assert shaped.summary.outside_model == () and shaped.summary.discrepancies > 0


def test_role_table_and_rego_forms_of_v1_agree(policies):
    table = load_policy("policies/rbac_v1.yaml")
    r = diff(table, policies[0])
    assert r.summary.discrepancies == 0 and r.summary.complete


TENANCY = Tenancy(
    enterprises=(Enterprise(id="acme", teams=("acme-web", "acme-ops")), Enterprise(id="globex", teams=("gx",))),
    users=(
        User(id="u1", enterprise="acme", role="developer", teams=("acme-web",)),
        User(id="u2", enterprise="acme", role="viewer", teams=()),
        User(id="u3", enterprise="globex", role="system", teams=("gx",)),
        User(id="u4", enterprise="globex", role="team_admin", teams=("gx",)),
    ),
    resources=(
        Resource(id="p1", kind="project", enterprise="acme", team="acme-web"),
        Resource(id="p2", kind="project", enterprise="acme", team="acme-ops"),
        Resource(id="e1", kind="enterprise", enterprise="acme", team=None),
        Resource(id="g1", kind="project", enterprise="globex", team="gx"),
    ),
    actions=("project:read", "project:export", "project:delete", "billing:read"),
)


def test_tenancy_cells_are_the_realised_ones_with_concrete_witnesses(policies):
    r = diff(*policies, tenancy=TENANCY)
    tenants = {c.tenant for c in r.cells}
    assert tenants - {"*"} == {"acme", "globex"}
    # roles and actions the tenancy does not realise are decided symbolically: the cells
    # that differ are there, tenant `*`
    roles, actions = {u.role for u in TENANCY.users}, set(TENANCY.actions)
    assert all(c.role not in roles or c.action not in actions for c in r.cells if c.tenant == "*")
    assert all(c.v1 != c.v2 or "mixed" in (c.v1, c.v2) for c in r.cells if c.tenant == "*")
    assert not any(c.role == OTHER for c in r.cells if c.tenant != "*")
    # globex has no enterprise-level resource: that relation has no cells there
    assert not any(c.tenant == "globex" and c.relation == "enterprise" for c in r.cells)
    users = {u.id for u in TENANCY.users}
    resources = {x.id for x in TENANCY.resources}
    for d in r.discrepancies:
        if d.tenant == "*":
            continue
        assert d.witness["subject"]["id"] in users and d.witness["resource"]["id"] in resources
        assert d.witness["subject"]["enterprise"] == d.tenant
    assert discrepancy_rate(0, 0) == 0.0
