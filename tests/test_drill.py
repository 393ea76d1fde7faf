"""The rollback drill on a real database: the pre-track snapshot restored into a scratch
database holds exactly the snapshot's facts (and the scratch copy is gone afterwards),
a missing snapshot fails the check with the command that takes one."""

from __future__ import annotations

import psycopg

from policydiff import db
from policydiff.db.snapshot import backend
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
