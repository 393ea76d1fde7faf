"""Verification: the runbook's minimums and the integrity the matrix relies on, each
problem named; the command exits 1 on any of them."""

from __future__ import annotations

import json

import psycopg

from policydiff import db
from policydiff.cli import main


def _codes(report) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in report.problems:
        out.setdefault(p.code, []).append(p.message)
    return out


def test_an_empty_database_names_every_unmet_minimum(server_fresh_dsn):
    with psycopg.connect(server_fresh_dsn) as conn:
        report = db.verify(conn)
    assert not report.passed
    messages = " | ".join(_codes(report)["minimum_unmet"])
    assert "0 enterprises" in messages
    for role in ("admin", "team_admin", "developer", "viewer", "system"):
        assert f"`{role}`" in messages
    assert "no actions" in messages


def test_too_few_teams_is_named_per_enterprise(server_fresh_dsn):
    tenancy = db.generate(db.Scale(enterprises=3, teams_per_enterprise=2))
    with psycopg.connect(server_fresh_dsn) as conn:
        db.seed(conn, tenancy)
        conn.execute("DELETE FROM policydiff.teams WHERE id = 'ent-2-team-2'")
        conn.commit()
        report = db.verify(conn)
    assert [m for m in _codes(report)["minimum_unmet"]] == [
        "enterprise `ent-2` has 1 teams, the runbook needs at least 2"
    ]
    counts = {e.id: e.teams for e in report.enterprises}
    assert counts == {"ent-1": 2, "ent-2": 1, "ent-3": 2}


def test_broken_integrity_is_named(server_fresh_dsn):
    with psycopg.connect(server_fresh_dsn) as conn:
        db.seed(conn, db.generate())
        # a hand-made database may lack the foreign keys; verify must not rely on them
        conn.execute("ALTER TABLE policydiff.users DROP CONSTRAINT users_enterprise_id_fkey")
        conn.execute("INSERT INTO policydiff.users VALUES ('ghost', 'ent-9', 'viewer')")
        conn.execute("INSERT INTO policydiff.team_members VALUES ('ent-1-user-1', 'ent-2-team-1')")
        conn.execute("UPDATE policydiff.resources SET team_id = 'ent-3-team-1' WHERE id = 'ent-1-team-1-project-1'")
        conn.commit()
        report = db.verify(conn)
    codes = _codes(report)
    assert not report.passed
    assert codes["orphan_user"] == ["user `ghost` names missing enterprise `ent-9`"]
    assert codes["member_outside_enterprise"] == [
        "user `ent-1-user-1` is a member of team `ent-2-team-1` of another enterprise"
    ]
    assert codes["resource_team_outside_enterprise"] == [
        "resource `ent-1-team-1-project-1` names team `ent-3-team-1`, which is not a team of its enterprise"
    ]
    assert "minimum_unmet" not in codes


def test_verify_command_exit_codes_and_json(server_fresh_dsn, capsys):
    assert main(["db", "seed", "--dsn", server_fresh_dsn]) == 0
    capsys.readouterr()
    assert main(["db", "verify", "--dsn", server_fresh_dsn, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True
    assert report["totals"]["enterprises"] == len(report["enterprises"]) >= 3
    assert sum(e["users"] for e in report["enterprises"]) == report["totals"]["users"]

    with psycopg.connect(server_fresh_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO policydiff.team_members VALUES ('ent-1-user-1', 'ent-2-team-1')")
    assert main(["db", "verify", "--dsn", server_fresh_dsn]) == 1
    captured = capsys.readouterr()
    assert "member_outside_enterprise" in captured.err
    assert "ent-2-team-1" in captured.err
    assert "ent-1" in captured.out  # the table of counts
