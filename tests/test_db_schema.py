"""The schema: versioned migrations, applied once, safely in parallel; the append-only
audit log. Each test runs on the embedded server and on the machine's PostgreSQL."""

from __future__ import annotations

import threading

import psycopg
import pytest

from policydiff.db import migrate
from policydiff.db.migrate import applied, migrations
from policydiff.errors import InfraError

DESIGN_COLUMNS = {
    "enterprises": {"id"},
    "teams": {"id", "enterprise_id"},
    "users": {"id", "enterprise_id", "role"},
    "team_members": {"user_id", "team_id"},
    "resources": {"id", "kind", "enterprise_id", "team_id"},
    "actions": {"name"},
}


@pytest.fixture
def empty_dsn(server):
    name = server.create_database(migrated=False)
    yield server.dsn_for(name)
    server.drop_database(name)


def test_migrate_applies_every_migration_once(empty_dsn):
    expected = tuple(f"{m.version:03d}_{m.name}" for m in migrations())
    assert len(expected) >= 2
    with psycopg.connect(empty_dsn) as conn:
        assert migrate(conn) == expected
        assert migrate(conn) == ()
        assert applied(conn) == expected
        cols = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'policydiff'"
        ).fetchall()
    found: dict[str, set[str]] = {}
    for table, col in cols:
        found.setdefault(table, set()).add(col)
    for table, columns in DESIGN_COLUMNS.items():
        assert found[table] == columns, table
    assert {"promotions", "audit_log", "schema_migrations"} <= set(found)


def test_concurrent_migrators_do_not_race(empty_dsn):
    n = 4
    barrier = threading.Barrier(n)
    results: list[tuple[str, ...]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(empty_dsn) as conn:
                barrier.wait()
                results.append(migrate(conn))
        except Exception as e:  # noqa: BLE001 - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    applied_names = [name for r in results for name in r]
    assert sorted(applied_names) == sorted(f"{m.version:03d}_{m.name}" for m in migrations())


def test_an_edited_migration_is_refused(server_fresh_dsn):
    with psycopg.connect(server_fresh_dsn) as conn:
        conn.execute("UPDATE policydiff.schema_migrations SET sha256 = 'edited' WHERE version = 1")
        conn.commit()
        with pytest.raises(InfraError) as err:
            migrate(conn)
    assert err.value.code == "migration_changed"
    assert "001_facts" in str(err.value)


def test_audit_log_is_append_only(server_fresh_dsn):
    with psycopg.connect(server_fresh_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO policydiff.audit_log (actor, event, detail) VALUES ('ci', 'promote', '{}')")
        for statement in (
            "UPDATE policydiff.audit_log SET actor = 'someone else'",
            "DELETE FROM policydiff.audit_log",
            "TRUNCATE policydiff.audit_log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
        conn.execute("INSERT INTO policydiff.audit_log (actor, event) VALUES ('ci', 'rollback')")
        rows = conn.execute("SELECT actor, event FROM policydiff.audit_log ORDER BY id").fetchall()
    assert rows == [("ci", "promote"), ("ci", "rollback")]


def test_promotions_record_only_promote_and_rollback(server_fresh_dsn):
    with psycopg.connect(server_fresh_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO policydiff.promotions (action, flags, actor, reason)"
            " VALUES ('promote', '{\"RBAC_V2_ENFORCE\": true}', 'alice', 'gate passed')"
        )
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO policydiff.promotions (action, flags, actor, reason) VALUES ('yolo', '{}', 'bob', 'x')"
            )
