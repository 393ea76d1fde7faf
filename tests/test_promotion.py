"""The promotion gate and the audited switch, against a real database: Step 5's table
row by row, promote refused without a passing gate for these exact policies or after a
replay, rollback always allowed, status and history, nothing written for a refused
command, and an audit log the database itself keeps append-only."""

from __future__ import annotations

import json

import msgspec
import psycopg
import pytest
from replayfiles import replay_report, write

from policydiff import db
from policydiff.analyze import analyze
from policydiff.classify import load_rules
from policydiff.cli import main
from policydiff.db import audit
from policydiff.errors import InputError
from policydiff.promotion_gate import LoadedReport, promotion_gate
from policydiff.runs import RunFile, merge
from policydiff.switch import record_drill, record_replay

V1, V2, UNSAFE = "policies/rbac_v1.rego", "policies/rbac_v2.rego", "examples/unsafe/rbac_v2.rego"
RULES = "classifications/rbac_v2.yaml"
TRAFFIC = {"weights": {"billing:read": 0.05, "billing:write": 0.05, "project:export": 0.05,
                       "project:delete": 0.05}, "floor": 3}


@pytest.fixture(scope="module")
def tenancy():
    return db.generate(db.Scale(), db.policy_actions())


def _analysis(tmp_path, tenancy, name: str, v2: str = V2, requests: int = 30000, seed: int = 1):
    """An analysis report file from a replay file made of real evaluations."""
    from policydiff import load_policy

    run = replay_report(V1, v2, tenancy, requests=requests, seed=seed, **TRAFFIC)
    write(run, tmp_path / f"{name}.replay.json")
    report = analyze(merge([RunFile(path=f"{name}.replay.json", report=run)]), load_policy(V1),
                     load_policy(v2), tenancy, load_rules(RULES))
    path = tmp_path / f"{name}.analysis.json"
    path.write_bytes(msgspec.json.encode(report))
    return path


def _events(dsn):
    with db.connect(dsn) as conn:
        return audit.events(conn)


def _gate(dsn, *reports, signoff="Ada Lovelace", fmt="json", out=None):
    args = ["gate", *map(str, reports), "--dsn", dsn, "--format", fmt]
    if signoff:
        args += ["--signoff", signoff]
    if out:
        args += ["--output", str(out)]
    return main(args)


def test_gate_without_reports_is_bad_input_and_records_nothing(fresh_dsn, capsys):
    assert main(["gate", "--dsn", fresh_dsn, "--signoff", "x"]) == 2
    assert "missing_reports" in capsys.readouterr().err
    assert _events(fresh_dsn) == ()


def test_gate_locates_a_truncated_or_foreign_report_and_records_nothing(fresh_dsn, tmp_path, capsys):
    cut = tmp_path / "cut.json"
    cut.write_text('{"schema": "policydiff.analysis/1",\n "requests": ')
    other = tmp_path / "other.json"
    other.write_text('{"schema": "policydiff.replay/1"}')
    assert main(["gate", str(cut), "--dsn", fresh_dsn, "--signoff", "x"]) == 2
    err = capsys.readouterr().err
    assert f"{cut}:2:" in err and "syntax_error" in err and "truncated" in err
    assert main(["gate", str(other), "--dsn", fresh_dsn, "--signoff", "x"]) == 2
    err = capsys.readouterr().err
    assert "wrong_schema" in err and "policydiff.replay/1" in err
    assert _events(fresh_dsn) == ()


def test_gate_table_rows_and_the_figures_behind_them(fresh_dsn, tmp_path, tenancy, capsys):
    a = _analysis(tmp_path, tenancy, "a")
    assert _gate(fresh_dsn, a, fmt="text") == 1  # 30k requests, no drill: blocked
    text = capsys.readouterr().out
    rows_shown = [[p.strip() for p in line.strip().split("  ") if p.strip()]
                  for line in text.splitlines() if line.strip()[:1] in ("☑", "☐")]
    lines = {f"{box} {name}" for box, name, *_ in rows_shown}
    assert "☐ total requests ≥ 800,000" in lines
    assert "☑ v2_more_permissive = 0" in lines and "☐ rollback tested" in lines
    assert "30,000 requests in 1 reports" in text
    assert "no rollback drill recorded" in text
    assert "signed off by Ada Lovelace" in text
    [event] = _events(fresh_dsn)
    assert event.event == "gate" and event.detail["passed"] is False
    rows = {r["name"]: r for r in event.detail["rows"]}
    assert not rows["total requests ≥ 800,000"]["holds"]
    assert rows["v2_more_permissive = 0"]["holds"]
    assert rows["discrepancy rate < 1 %"]["holds"]
    assert rows["100 % of discrepancies classified"]["holds"]
    assert not rows["rollback tested"]["holds"]
    assert rows["human signoff"]["holds"]
    doc = json.loads(a.read_text())
    assert event.detail["reports"][0]["requests"] == doc["requests"]
    import hashlib

    assert event.detail["reports"][0]["sha256"] == hashlib.sha256(a.read_bytes()).hexdigest()


def test_every_row_holds_with_enough_evidence_a_drill_and_a_signoff(tmp_path, tenancy):
    from policydiff.promotion_gate import Drill, load_analysis

    reports = [load_analysis(_analysis(tmp_path, tenancy, f"r{i}", seed=i)) for i in (1, 2)]
    later = "2999-01-01T00:00:00Z"
    gate = promotion_gate(reports, drill=Drill(id=1, at=later, passed=True), signoff="Ada",
                          min_requests=60_000)
    assert gate.passed, [r for r in gate.rows if not r.holds]
    assert "60,000 requests in 2 reports" in gate.rows[0].figure
    early = promotion_gate(reports, drill=Drill(id=1, at="2000-01-01T00:00:00Z", passed=True),
                           signoff="Ada", min_requests=60_000)
    assert not early.passed and "older than the last run" in early.rows[6].figure
    unsigned = promotion_gate(reports, drill=Drill(id=1, at=later, passed=True), signoff=" ",
                              min_requests=60_000)
    assert [r.name for r in unsigned.rows if not r.holds] == ["human signoff"]
    slow = promotion_gate(reports, drill=Drill(id=1, at=later, passed=True), signoff="Ada",
                          min_requests=60_000, latency_budget_ms=0.0)
    assert [r.name for r in slow.rows if not r.holds] == ["v2 p95 latency acceptable"]
    unsafe = load_analysis(_analysis(tmp_path, tenancy, "u", v2=UNSAFE))
    with pytest.raises(InputError) as e:
        promotion_gate([reports[0], unsafe], drill=None, signoff="Ada")
    assert "mixed_policies" in str(e.value)
    same = LoadedReport(path="copy.json", sha256="x", report=reports[0].report)
    with pytest.raises(InputError) as e:
        promotion_gate([reports[0], same], drill=None, signoff="Ada")
    assert "counted_twice" in str(e.value)


def test_gate_refuses_other_files_and_mixed_policies(fresh_dsn, tmp_path, tenancy, capsys):
    a = _analysis(tmp_path, tenancy, "a")
    u = _analysis(tmp_path, tenancy, "u", v2=UNSAFE)
    assert _gate(fresh_dsn, a, u) == 2
    assert "mixed_policies" in capsys.readouterr().err
    replay = tmp_path / "a.replay.json"
    assert _gate(fresh_dsn, replay) == 2
    assert "policydiff.replay/1" in capsys.readouterr().err
    assert _events(fresh_dsn) == ()


def _passing_gate(dsn, v1=V1, v2=V2) -> None:
    """A passing gate for `v1`/`v2` as the record holds it (the evidence itself is tested above)."""
    from policydiff import load_policy
    from policydiff.diff import policy_info
    from policydiff.promotion_gate import PromotionGate, Row

    gate = PromotionGate(v1=policy_info(load_policy(v1), v1), v2=policy_info(load_policy(v2), v2),
                         reports=(), rows=(Row(name="all", holds=True, figure="-"),), passed=True,
                         signoff="Ada", latency_budget_ms=5, latency_factor=2)
    from policydiff.switch import record_gate

    with db.connect(dsn) as conn:
        record_gate(conn, gate, "tester")


def test_promote_refusals_write_nothing(fresh_dsn, tenancy, tmp_path, capsys):
    assert main(["promote", "--dsn", fresh_dsn]) == 1
    err = capsys.readouterr().err
    assert ": no_gate:" in err and err.startswith("postgresql://") and "<input>" not in err
    assert _events(fresh_dsn) == ()
    a = _analysis(tmp_path, tenancy, "a")
    assert _gate(fresh_dsn, a) == 1  # a failing gate is recorded...
    assert main(["promote", "--dsn", fresh_dsn]) == 1  # ...and refuses promotion
    err = capsys.readouterr().err
    assert "gate_failed" in err and "total requests" in err
    assert [e.event for e in _events(fresh_dsn)] == ["gate"]
    _passing_gate(fresh_dsn)
    assert main(["promote", "--dsn", fresh_dsn, "--v2", UNSAFE]) == 1
    assert "policy_not_gated" in capsys.readouterr().err
    with db.connect(fresh_dsn) as conn:
        record_replay(conn, replay_report(V1, V2, tenancy, requests=100), "tester")
    assert main(["promote", "--dsn", fresh_dsn]) == 1
    assert "replayed_since_gate" in capsys.readouterr().err
    assert [e.event for e in _events(fresh_dsn)] == ["gate", "gate", "replay"]
    with db.connect(fresh_dsn) as conn:
        assert audit.last_switch(conn) is None


def test_promote_rollback_status(fresh_dsn, capsys, monkeypatch):
    monkeypatch.setenv("POLICYDIFF_ACTOR", "ada@example")
    _passing_gate(fresh_dsn)
    assert main(["promote", "--dsn", fresh_dsn, "--ticket", "PIN-274"]) == 0
    out = capsys.readouterr().out
    assert "promotion recorded in PIN-274" in out
    assert "export RBAC_V1_ENFORCE=false" in out and "export RBAC_V2_ENFORCE=true" in out
    assert "export RBAC_V2_SHADOW=false" in out
    assert main(["status", "--dsn", fresh_dsn, "--format", "json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["mode"] == "v2_enforce_v1_shadow"
    promote = st["history"][-1]
    assert promote["event"] == "promote" and promote["actor"] == "ada@example"
    assert promote["detail"]["ticket"] == "PIN-274" and promote["detail"]["gate"] == st["history"][0]["id"]
    assert main(["rollback", "--dsn", fresh_dsn, "--reason", "p95 alert"]) == 0
    out = capsys.readouterr().out
    assert "export RBAC_V1_ENFORCE=true" in out and "export RBAC_V2_SHADOW=true" in out
    assert main(["status", "--dsn", fresh_dsn]) == 0
    text = capsys.readouterr().out
    assert "v1_enforce_v2_shadow" in text and "p95 alert" in text and "PIN-274" in text
    assert main(["rollback", "--dsn", fresh_dsn]) == 0  # always allowed, even twice
    with db.connect(fresh_dsn) as conn:
        rows = conn.execute("SELECT action, actor FROM policydiff.promotions ORDER BY id").fetchall()
    assert rows == [("promote", "ada@example"), ("rollback", "ada@example"),
                    ("rollback", "ada@example")]


def test_the_database_refuses_to_rewrite_the_record(fresh_dsn):
    with db.connect(fresh_dsn) as conn:
        record_drill(conn, "tester", passed=True, checks=[])
    _passing_gate(fresh_dsn)
    assert main(["promote", "--dsn", fresh_dsn]) == 0
    for statement in ("UPDATE policydiff.audit_log SET actor = 'mallory'",
                      "DELETE FROM policydiff.audit_log",
                      "TRUNCATE policydiff.audit_log",
                      "UPDATE policydiff.promotions SET reason = 'forged'",
                      "DELETE FROM policydiff.promotions",
                      "TRUNCATE policydiff.promotions"):
        with psycopg.connect(fresh_dsn) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
    assert [e.event for e in _events(fresh_dsn)] == ["drill", "gate", "promote"]


def test_a_replay_run_from_the_command_line_voids_the_gate(fresh_dsn, tmp_path, capsys):
    with db.connect(fresh_dsn) as conn:
        db.seed(conn, db.generate(db.Scale(), db.policy_actions()))
    _passing_gate(fresh_dsn)
    out = tmp_path / "late.json"
    assert main(["replay", "--v1", V1, "--v2", V2, "--requests", "600", "--parallel", "1",
                 "--dsn", fresh_dsn, "--output", str(out)]) == 0
    run_id = json.loads(out.read_text())["run"]["run_id"]
    assert main(["promote", "--dsn", fresh_dsn]) == 1
    assert "replayed_since_gate" in capsys.readouterr().err
    replay = [e for e in _events(fresh_dsn) if e.event == "replay"]
    assert [e.detail["run_id"] for e in replay] == [run_id]


def test_gate_writes_the_html_page(fresh_dsn, tmp_path, tenancy):
    a = _analysis(tmp_path, tenancy, "a")
    page = tmp_path / "gate.html"
    assert _gate(fresh_dsn, a, fmt="html", out=page) == 1
    text = page.read_text(encoding="utf-8")
    assert 'id="promotion-table"' in text and "BLOCKED: do not promote" in text
    assert "Plotly" in text and "<script src=" not in text
