"""Connections: where the DSN comes from, Neon-readiness (pooled hosts, the DSN's own
parameters), bounded retries of transient failures, redaction, exit 3 when unreachable."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import conninfo

from policydiff import db
from policydiff.cli import main
from policydiff.db import embedded
from policydiff.errors import ExitCode, InfraError


def _with(dsn: str, **params) -> str:
    return conninfo.make_conninfo(dsn, **params)


def test_unreachable_database_is_infra_error_with_redacted_dsn():
    dsn = "postgresql://app:s3cret-pw@127.0.0.1:1/app?sslmode=disable"
    with pytest.raises(InfraError) as err:
        db.open_connection(dsn, attempts=3)
    assert err.value.exit_code == ExitCode.INFRA
    assert err.value.code == "db_unreachable"
    text = str(err.value)
    assert "s3cret-pw" not in text
    assert "postgresql://app:***@127.0.0.1:1/app" in text


def test_cli_unreachable_exits_3_and_never_shows_the_password(capsys):
    code = main(["db", "verify", "--dsn", "host=127.0.0.1 port=1 user=app password=hunter2 connect_timeout=2"])
    err = capsys.readouterr().err
    assert code == 3
    assert "hunter2" not in err and "db_unreachable" in err and "Traceback" not in err


def test_retry_is_bounded_with_growing_jittered_backoff():
    calls: list[int] = []
    slept: list[float] = []

    def refuse():
        calls.append(1)
        raise psycopg.OperationalError("connection refused")

    with pytest.raises(psycopg.OperationalError):
        db.retry(refuse, attempts=4, base=1.0, cap=3.0, sleep=slept.append)
    assert len(calls) == 4 and len(slept) == 3
    assert all(0 <= s <= bound for s, bound in zip(slept, [1.0, 2.0, 3.0]))


def test_retry_reconnects_after_the_server_ends_the_session(server_fresh_dsn):
    """A session terminated by the server (57P01, as on a Neon compute restart) is
    retried on a new connection."""
    state = {"conn": db.open_connection(server_fresh_dsn, autocommit=True)}
    with psycopg.connect(server_fresh_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (state["conn"].info.backend_pid,))
    seen: list[psycopg.OperationalError] = []

    def query():
        if state["conn"].closed:
            state["conn"] = db.open_connection(server_fresh_dsn, autocommit=True)
        try:
            return state["conn"].execute("SELECT count(*) FROM policydiff.users").fetchone()[0]
        except psycopg.OperationalError as e:
            seen.append(e)
            state["conn"].close()
            raise

    assert db.retry(query, sleep=lambda s: None) == 0
    assert len(seen) == 1 and db.is_transient(seen[0])
    assert seen[0].sqlstate in ("57P01", None)  # admin shutdown, or the socket already gone
    state["conn"].close()


def test_non_transient_errors_are_not_retried(server_fresh_dsn):
    calls: list[int] = []

    def bad():
        calls.append(1)
        with psycopg.connect(_with(server_fresh_dsn, dbname="no_such_database_here")):
            pass

    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        db.retry(bad, sleep=lambda s: None)
    assert len(calls) == 1


def test_pooled_host_disables_prepared_statements_and_keeps_dsn_parameters(debian_server):
    """Neon's `-pooler` host names a PgBouncer in transaction mode: no server-side
    prepared statements. `hostaddr` lets the pooler's name reach the local server."""
    name = debian_server.create_database()
    try:
        base = debian_server.dsn_for(name)
        port = conninfo.conninfo_to_dict(base)["port"]
        pooled = _with(base, host="ep-cool-lake-123456-pooler.us-east-2.aws.neon.tech",
                       hostaddr="127.0.0.1", port=port, sslmode="disable", channel_binding="disable")
        direct = _with(pooled, host="ep-cool-lake-123456.us-east-2.aws.neon.tech")
        assert db.is_pooled(pooled) and not db.is_pooled(direct)
        with db.connect(pooled) as conn:
            assert conn.prepare_threshold is None
            params = conn.info.get_parameters()
            assert params["sslmode"] == "disable" and params["channel_binding"] == "disable"
            assert conn.execute("SELECT current_setting('application_name')").fetchone()[0] == "policydiff"
        with db.connect(direct) as conn:
            assert conn.prepare_threshold is not None
    finally:
        debian_server.drop_database(name)


def test_dsn_precedence(monkeypatch, fresh_dsn, workdir):
    monkeypatch.setenv("DATABASE_URL", fresh_dsn)
    assert db.resolve_dsn("postgresql://explicit/db") == "postgresql://explicit/db"
    assert db.resolve_dsn() == fresh_dsn
    monkeypatch.delenv("DATABASE_URL")
    data_dir = workdir / "pgdata"
    try:
        embedded_dsn = db.resolve_dsn(data_dir=data_dir)
        assert conninfo.conninfo_to_dict(embedded_dsn)["dbname"] == "policydiff"
        with db.connect(data_dir=data_dir) as conn:
            assert db.migrate(conn) == ()  # connect already migrated
            assert conn.info.dbname == "policydiff"
        assert (data_dir / "PG_VERSION").exists()
    finally:
        assert embedded.stop(data_dir)


def test_library_calls_turn_database_failures_into_infra_errors(fresh_dsn):
    conn = db.connect(fresh_dsn)
    dbname = conn.info.dbname
    with psycopg.connect(fresh_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    for call in (db.load_tenancy, db.verify, lambda c: db.seed(c, db.generate())):
        with pytest.raises(InfraError) as err:
            call(conn)
        assert err.value.exit_code == ExitCode.INFRA and err.value.code == "db_error"
        # located at the database the statement went to, not at a file position
        where = str(err.value.span)
        assert "<input>" not in where and where.startswith("postgresql://")
        assert f"/{dbname}" in where and "password" not in where
    conn.close()
