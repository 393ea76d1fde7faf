"""The shipped rule file against the example policies, decided by real OPA.

Independently of policydiff's own compare engine, every cell of the symbolic matrix is
decided by OPA for v1, v2 and the unsafe v2 with one witness request per cell (v1 and v2
decide on role, action and relation only, so one request per cell is the whole cell).
classifications/rbac_v2.yaml must explain every discrepancy of v2 — the gate passes, even
strict — and must not explain the unsafe v2's leak: the gate blocks and names it.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from engines import OpaEngine

from policydiff.classify import classify, load_rules
from policydiff.gate import gate
from policydiff.report import FORMATS, render
from policydiff.results import Cell, CompareReport, Discrepancy, Gate, PolicyInfo, Summary
from policydiff.tenancy import RELATIONS

ROOT = Path(__file__).parent.parent
ROLES = ("admin", "team_admin", "developer", "viewer", "system", "other-role")
ACTIONS = ("project:read", "project:write", "project:delete", "project:export", "billing:read",
           "billing:write", "team:manage", "member:invite", "audit:read", "settings:write",
           "other:action")
PLACES = {"own_team": ("ent-a", "t-1"), "other_team": ("ent-a", "t-2"),
          "enterprise": ("ent-a", None), "other_enterprise": ("ent-b", "t-9")}


def decide(path: str, package: str) -> dict[tuple[str, str, str], tuple[bool, dict]]:
    engine = OpaEngine({path: (ROOT / path).read_text()})
    out = {}
    for role, action, relation in itertools.product(ROLES, ACTIONS, RELATIONS):
        enterprise, team = PLACES[relation]
        request = {"subject": {"id": "u-1", "enterprise": "ent-a", "role": role, "teams": ["t-1"]},
                   "action": action,
                   "resource": {"id": "p-1", "kind": "project", "enterprise": enterprise,
                                "team": team}}
        out[(role, action, relation)] = (engine.evaluate(f"data.{package}.allow", request) is True,
                                         request)
    return out


def opa_report(v2_path: str) -> CompareReport:
    v1 = decide("policies/rbac_v1.rego", "rbac.v1")
    v2 = decide(v2_path, "rbac.v2")
    word = {True: "allow", False: "deny"}
    cells, ds = [], []
    for key, (a1, request) in v1.items():
        a2 = v2[key][0]
        role, action, relation = key
        cells.append(Cell(tenant="*", role=role, action=action, relation=relation,
                          v1=word[a1], v2=word[a2]))
        if a1 != a2:
            ds.append(Discrepancy(
                tenant="*", role=role, action=action, relation=relation,
                direction="v2_more_permissive" if a2 else "v2_more_restrictive",
                v1=word[a1], v2=word[a2], witness=request))
    return CompareReport(
        v1=PolicyInfo(path="policies/rbac_v1.rego", sha256="", decision="data.rbac.v1.allow"),
        v2=PolicyInfo(path=v2_path, sha256="", decision="data.rbac.v2.allow"),
        summary=Summary(cells=len(cells), discrepancies=len(ds),
                        v2_more_permissive=sum(d.direction == "v2_more_permissive" for d in ds),
                        v2_more_restrictive=sum(d.direction == "v2_more_restrictive" for d in ds),
                        unclassified=len(ds), discrepancy_rate=len(ds) / len(cells),
                        complete=True),
        discrepancies=tuple(ds), gate=Gate(passed=not ds), cells=tuple(cells))


@pytest.fixture(scope="module")
def rules():
    return load_rules(ROOT / "classifications" / "rbac_v2.yaml")


def test_rule_file_explains_every_discrepancy_of_v2(rules):
    r = opa_report("policies/rbac_v2.rego")
    assert r.summary.discrepancies == 17  # policies/README.md's count
    out = gate(classify(r, rules), rules, strict=True)
    assert out.summary.unclassified == 0
    assert out.summary.by_class == {"expected_tightening": 17}
    assert out.stale_rules == ()
    assert out.gate.passed, out.gate.reasons


def test_unsafe_v2_is_blocked_and_the_leak_named_everywhere(rules):
    r = opa_report("examples/unsafe/rbac_v2.rego")
    out = gate(classify(r, rules), rules)
    leaks = [d for d in out.discrepancies if d.direction == "v2_more_permissive"]
    assert {(d.role, d.action, d.relation) for d in leaks} == {
        (role, "project:read", "other_enterprise") for role in ("viewer", "developer", "team_admin")}
    assert all(d.classification is None for d in leaks)
    assert not out.gate.passed
    assert any("more permissive" in reason and "viewer project:read on other_enterprise" in reason
               for reason in out.gate.reasons)
    for fmt in FORMATS:
        text = render(out, fmt, rules=rules, width=200)
        if fmt == "json":
            assert {"role": "viewer", "action": "project:read", "relation": "other_enterprise",
                    "direction": "v2_more_permissive", "classification": None}.items() <= next(
                d for d in json.loads(text)["discrepancies"]
                if d["role"] == "viewer" and d["relation"] == "other_enterprise").items()
        else:
            assert "viewer project:read on other_enterprise" in text, fmt
