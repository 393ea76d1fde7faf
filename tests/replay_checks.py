"""What every replay test checks: the report against compare's verdicts, the embedded
metrics against the report, decision-log entries against real OPA."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from policydiff import db, load_policy
from policydiff.db import generate, policy_actions
from policydiff.diff import diff
from policydiff.results import CompareReport, ReplayReport

ROOT = Path(__file__).resolve().parent.parent
V1 = ROOT / "policies/rbac_v1.rego"
V2 = ROOT / "policies/rbac_v2.rego"
UNSAFE = ROOT / "examples/unsafe/rbac_v2.rego"


def seed(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        db.migrate(conn)
        db.seed(conn, generate(actions=policy_actions(ROOT / "policies")))


def compare(dsn: str, v2: Path) -> CompareReport:
    """compare V1 V2 --dsn: the symbolic diff over the database's tenancy."""
    conn = db.connect(dsn)
    try:
        tenancy = db.load_tenancy(conn)
    finally:
        conn.close()
    return diff(load_policy(V1), load_policy(v2), tenancy=tenancy)


def assert_agrees(report: ReplayReport, expected: CompareReport) -> None:
    """Every replayed request's outcome is its cell's verdict, and the discrepant
    (cell, direction) pairs are compare's, exactly."""
    verdicts = {c.key: (c.v1, c.v2) for c in expected.cells}
    seen = set()
    for cell in report.cells:
        v1, v2 = verdicts[cell.key]  # a cell compare does not know fails here
        assert cell.errors == 0, cell
        if "mixed" not in (v1, v2):
            permissive = cell.requests if (v1, v2) == ("deny", "allow") else 0
            restrictive = cell.requests if (v1, v2) == ("allow", "deny") else 0
            assert (cell.v2_more_permissive, cell.v2_more_restrictive) == (permissive, restrictive), cell
        if cell.v2_more_permissive:
            seen.add((cell.key, "v2_more_permissive"))
        if cell.v2_more_restrictive:
            seen.add((cell.key, "v2_more_restrictive"))
    predicted = {(d.key, d.direction) for d in expected.discrepancies}
    assert seen == predicted, {"unexpected": seen - predicted, "unexercised": predicted - seen}
    assert sum(c.requests for c in report.cells) == report.requests
    assert sum(report.outcomes.values()) == report.requests


def samples(text: str) -> dict:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def assert_metrics_equal_report(report: ReplayReport) -> None:
    m = samples(report.metrics)
    for outcome, n in report.outcomes.items():
        assert m[("rbac_v1_v2_comparison_total", (("outcome", outcome),))] == n, outcome
    assert m[("rbac_replay_requests_total", ())] == report.requests
    assert m[("rbac_v1_latency_seconds_count", ())] == report.requests
    assert m[("rbac_v2_latency_seconds_count", ())] == report.requests


def assert_log_agrees_with_opa(path: Path, report: ReplayReport, v2: Path) -> None:
    from engines import OpaEngine, decision

    entries = [json.loads(line) for line in path.read_text().splitlines()]
    o = report.outcomes
    assert len(entries) == o["v2_more_permissive"] + o["v2_more_restrictive"] + o["error"]
    opa1 = OpaEngine({str(V1): V1.read_text()})
    opa2 = OpaEngine({str(v2): v2.read_text()})
    try:
        for e in entries[:200]:
            assert decision(opa1.evaluate("data.rbac.v1.allow", e["input"])) is e["v1_result"]
            assert decision(opa2.evaluate("data.rbac.v2.allow", e["input"])) is e["v2_result"]
            assert e["v1_result"] != e["v2_result"] and e["result"] is e["v1_result"]
    finally:
        opa1.close()
        opa2.close()
