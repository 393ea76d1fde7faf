"""Template-database snapshots on real PostgreSQL: a snapshot taken before deleting rows
restores them; restore refuses while replay workers are connected, unless forced."""

from __future__ import annotations

import json

import psycopg
import pytest

from policydiff import db
from policydiff.cli import main
from policydiff.db.snapshots import RestoreRefused, TemplateSnapshots
from policydiff.errors import ExitCode, InputError


def _users(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM policydiff.users").fetchone()[0]


def test_snapshot_then_restore_brings_deleted_rows_back(server_fresh_dsn):
    with psycopg.connect(server_fresh_dsn) as conn:
        db.seed(conn, db.generate())
        before = db.load_tenancy(conn)
    # a session left open and idle on the database must not stop the snapshot
    idle = psycopg.connect(server_fresh_dsn)
    snaps = TemplateSnapshots(server_fresh_dsn)
    taken = snaps.create("before-delete")
    assert idle.closed or idle.broken or _terminated(idle)
    with psycopg.connect(server_fresh_dsn) as conn:
        conn.execute("DELETE FROM policydiff.resources")
        conn.execute("DELETE FROM policydiff.users WHERE role = 'viewer'")
        conn.commit()
        assert db.load_tenancy(conn) != before
    assert [s.name for s in snaps.list()] == ["before-delete"]
    restored = snaps.restore("before-delete")
    assert restored == taken
    with psycopg.connect(server_fresh_dsn) as conn:
        assert db.load_tenancy(conn) == before
    # the snapshot survives its restore, and restores again
    with psycopg.connect(server_fresh_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM policydiff.team_members")
    snaps.restore("before-delete")
    with psycopg.connect(server_fresh_dsn) as conn:
        assert db.load_tenancy(conn) == before


def _terminated(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def test_restore_refuses_while_replay_workers_are_connected(server_fresh_dsn):
    snaps = TemplateSnapshots(server_fresh_dsn)
    snaps.create("s1")
    worker = db.open_connection(server_fresh_dsn, application_name="policydiff-replay-3")
    try:
        with pytest.raises(RestoreRefused) as err:
            snaps.restore("s1")
        assert err.value.exit_code == ExitCode.BLOCKED
        assert "policydiff-replay-3" in str(err.value)
        assert not _terminated(worker)  # refused means untouched
        snaps.restore("s1", force=True)
        assert _terminated(worker)
    finally:
        worker.close()


def test_names_are_checked_and_unknown_snapshots_named(server_fresh_dsn):
    snaps = TemplateSnapshots(server_fresh_dsn)
    with pytest.raises(InputError, match="invalid_snapshot_name"):
        snaps.create("Robert'); DROP TABLE users;--")
    snaps.create("nightly")
    with pytest.raises(InputError, match="snapshot_exists"):
        snaps.create("nightly")
    with pytest.raises(InputError) as err:
        snaps.restore("nigthly")
    assert err.value.code == "unknown_snapshot" and "did you mean `nightly`" in str(err.value)


def test_snapshot_commands(server_fresh_dsn, capsys):
    assert main(["db", "seed", "--dsn", server_fresh_dsn]) == 0
    users = _users(server_fresh_dsn)
    assert main(["db", "snapshot", "pre-promotion", "--dsn", server_fresh_dsn]) == 0
    with psycopg.connect(server_fresh_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM policydiff.users WHERE role <> 'admin'")
    assert _users(server_fresh_dsn) < users
    capsys.readouterr()
    assert main(["db", "snapshots", "--dsn", server_fresh_dsn, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["backend"]) for s in listed] == [("pre-promotion", "postgres")]
    worker = db.open_connection(server_fresh_dsn, application_name="policydiff-replay-0")
    try:
        assert main(["db", "restore", "pre-promotion", "--dsn", server_fresh_dsn]) == 1
        assert "replay_running" in capsys.readouterr().err
        assert main(["db", "restore", "pre-promotion", "--dsn", server_fresh_dsn, "--force"]) == 0
    finally:
        worker.close()
    assert _users(server_fresh_dsn) == users
    assert main(["db", "restore", "nope", "--dsn", server_fresh_dsn]) == 2


def test_snapshot_waits_for_a_session_at_work_and_never_ends_it(server_fresh_dsn):
    import threading

    with psycopg.connect(server_fresh_dsn) as conn:
        db.seed(conn, db.generate())
    busy = psycopg.connect(server_fresh_dsn)
    busy.execute("SELECT count(*) FROM policydiff.users").fetchone()  # a transaction left open
    snaps = TemplateSnapshots(server_fresh_dsn)
    done: list = []
    worker = threading.Thread(target=lambda: done.append(snaps.create("while-busy")))
    worker.start()
    worker.join(1.5)
    assert not done and worker.is_alive()  # waiting, not terminating
    assert busy.execute("SELECT count(*) FROM policydiff.users").fetchone()[0] > 0
    busy.commit()
    busy.close()
    worker.join(60)
    assert [s.name for s in done] == ["while-busy"]
