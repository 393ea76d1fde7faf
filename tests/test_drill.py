"""The rollback drill on a real database: the pre-track snapshot restored into a scratch
database holds exactly the snapshot's facts (and the scratch copy is gone afterwards),
a missing snapshot fails the check with the command that takes one."""

from __future__ import annotations

import psycopg

from policydiff import db
from policydiff.db.snapshots import backend
from policydiff.drill import _restore_check


def _databases(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database")}


def test_the_snapshot_restores_into_a_scratch_database_with_its_facts(fresh_dsn):
    with db.connect(fresh_dsn) as conn:
        db.seed(conn, db.generate(db.Scale(), db.policy_actions()))
    backend(fresh_dsn).create("pre-track")
    with db.connect(fresh_dsn) as conn:  # the track goes on changing the live facts
        db.seed(conn, db.generate(db.Scale(enterprises=4), db.policy_actions()))
    before = _databases(fresh_dsn)
    check = _restore_check(fresh_dsn, "pre-track")
    assert check.passed, check.detail
    assert "3 enterprises" in check.detail  # the snapshot's facts, not the live ones
    assert _databases(fresh_dsn) == before  # the scratch copy was dropped
    missing = _restore_check(fresh_dsn, "nope")
    assert not missing.passed and "policydiff db snapshot nope" in missing.detail


def test_rollback_drill_from_the_command_line(fresh_dsn, capsys):
    from policydiff.cli import main
    from policydiff.db import audit

    with db.connect(fresh_dsn) as conn:
        db.seed(conn, db.generate(db.Scale(), db.policy_actions()))
    backend(fresh_dsn).create("before")
    assert main(["rollback", "--drill", "--dsn", fresh_dsn, "--snapshot", "before"]) == 0
    out = capsys.readouterr().out
    assert "ok   v2 enforces, v1 in shadow" in out and "ok   v1 enforces, v2 in shadow" in out
    # the probe is a request the two policies decide differently, so "enforces" is seen
    assert "the shadow comparison was logged as v2_more_restrictive" in out
    # without the snapshot the drill fails, is recorded as failed, and exits 1
    assert main(["rollback", "--drill", "--dsn", fresh_dsn, "--snapshot", "gone"]) == 1
    assert "FAIL snapshot `gone`" in capsys.readouterr().out
    with db.connect(fresh_dsn) as conn:
        events = audit.events(conn)
        assert audit.last_switch(conn).action == "rollback"
    assert [e.event for e in events] == ["promote", "rollback", "drill"] * 2
    assert [e.detail["passed"] for e in events if e.event == "drill"] == [True, False]
    assert all(e.detail.get("drill") for e in events if e.event in ("promote", "rollback"))
