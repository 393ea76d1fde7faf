"""Snapshots of plain PostgreSQL as template databases on the same server.

A snapshot is a database created with the source as TEMPLATE, marked by a comment
(`policydiff snapshot {json}`) that names the snapshot and its source, so `list` needs
no registry table. A template may have no other sessions, so the copy waits until other
commands' sessions have ended (it never terminates a session at work, only one left
idle) and fails naming them after a bounded wait. Restore copies the snapshot to a new
database, then swaps it in by renaming, so a failure leaves the current database as it
was; the snapshot stays, to be restored again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from policydiff.db.connection import database_name, maintenance_dsn, open_connection, with_dbname
from policydiff.db.snapshots.contract import (
    Snapshot,
    check_name,
    refuse_if_replaying,
    unknown_snapshot,
)
from policydiff.errors import Code, InfraError, InputError
from policydiff.source import Span

COMMENT_PREFIX = "policydiff snapshot "


class TemplateSnapshots:
    """Snapshots as template copies of the database, on the same server."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.source = database_name(dsn)
        self._maintenance = maintenance_dsn(dsn)

    def _connect(self) -> psycopg.Connection:
        return open_connection(self._maintenance, autocommit=True, application_name="policydiff-snapshot")

    def _database_for(self, name: str) -> str:
        digest = hashlib.sha256(self.source.encode()).hexdigest()[:8]
        return f"pdsnap_{digest}_{name}"

    def list(self) -> tuple[Snapshot, ...]:
        with self._connect() as conn:
            return self._list(conn)

    def _list(self, conn: psycopg.Connection) -> tuple[Snapshot, ...]:
        rows = conn.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE shobj_description(oid, 'pg_database') LIKE %s",
            (COMMENT_PREFIX + "%",),
        ).fetchall()
        found = []
        for datname, comment in rows:
            meta = json.loads(comment[len(COMMENT_PREFIX):])
            if meta.get("source") == self.source:
                found.append(Snapshot(name=meta["name"], backend="postgres", source=self.source,
                                      location=datname, created=meta["created"]))
        return tuple(sorted(found, key=lambda s: s.created))

    def create(self, name: str) -> Snapshot:
        check_name(name)
        target = self._database_for(name)
        with self._connect() as conn:
            if any(s.name == name for s in self._list(conn)):
                raise InputError.at(Code.SNAPSHOT_EXISTS, f"snapshot `{name}` exists", Span(file="NAME"),
                                    help="choose another name")
            _copy_when_idle(conn, target, self.source)
            snap = Snapshot(name=name, backend="postgres", source=self.source, location=target,
                            created=datetime.now(UTC).isoformat(timespec="seconds"))
            meta = json.dumps({"name": name, "source": self.source, "created": snap.created})
            _sql(conn, "COMMENT ON DATABASE {} IS {}", target, sql.Literal(COMMENT_PREFIX + meta))
        return snap

    def restore(self, name: str, *, force: bool = False) -> Snapshot:
        with self._connect() as conn:
            snaps = {s.name: s for s in self._list(conn)}
            if name not in snaps:
                raise unknown_snapshot(name, list(snaps))
            snap = snaps[name]
            refuse_if_replaying(conn, self.source, force)
            incoming = f"pdrestore_{uuid.uuid4().hex[:12]}"
            outgoing = f"pdold_{uuid.uuid4().hex[:12]}"
            _sql(conn, "CREATE DATABASE {} TEMPLATE {}", incoming, snap.location)
            try:
                with _closed(conn, self.source):
                    _sql(conn, "ALTER DATABASE {} RENAME TO {}", self.source, outgoing)
            except BaseException:
                _sql(conn, "DROP DATABASE IF EXISTS {}", incoming)
                raise
            _sql(conn, "ALTER DATABASE {} RENAME TO {}", incoming, self.source)
            _sql(conn, "DROP DATABASE {} WITH (FORCE)", outgoing)
        return snap

    def scratch(self, name: str) -> _Scratch:
        """A throwaway copy of snapshot `name`, for checking what a restore would give
        without touching the database: `with snaps.scratch(name) as (dsn, snap): ...`;
        the copy is dropped when the block ends."""
        return _Scratch(self, name)


class _Scratch:
    def __init__(self, snaps: TemplateSnapshots, name: str):
        self.snaps, self.name = snaps, name
        self.database = f"pdscratch_{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> tuple[str, Snapshot]:
        with self.snaps._connect() as conn:
            known = {s.name: s for s in self.snaps._list(conn)}
            if self.name not in known:
                raise unknown_snapshot(self.name, list(known))
            _sql(conn, "CREATE DATABASE {} TEMPLATE {}", self.database, known[self.name].location)
        return with_dbname(self.snaps.dsn, self.database), known[self.name]

    def __exit__(self, *exc) -> None:
        with self.snaps._connect() as conn:
            _sql(conn, "DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database)


def snapshot_dsn(dsn: str, snap: Snapshot) -> str:
    """How to read a template snapshot's own database (read it, never write it)."""
    return with_dbname(dsn, snap.location)


SNAPSHOT_WAIT_SECONDS = float(os.environ.get("POLICYDIFF_SNAPSHOT_WAIT", "120"))
IDLE_SECONDS = 5.0


def _copy_when_idle(conn: psycopg.Connection, target: str, source: str) -> None:
    """`CREATE DATABASE target TEMPLATE source`, which PostgreSQL allows only while no
    other session is connected to `source`: sessions at work are waited for (PostgreSQL
    itself waits 5 s per attempt), never terminated, up to `SNAPSHOT_WAIT_SECONDS`;
    then the snapshot fails naming who is still connected. Only a session idle outside
    a transaction for `IDLE_SECONDS` (a forgotten psql) is ended."""
    deadline = time.monotonic() + SNAPSHOT_WAIT_SECONDS
    while True:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(target), sql.Identifier(source)))
            return
        except psycopg.errors.ObjectInUse:
            if time.monotonic() >= deadline:
                break
            # a session idle outside any transaction for this long is left open, not at
            # work (a command pauses far less between its statements): it may go
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                         " AND pid <> pg_backend_pid() AND state = 'idle'"
                         " AND state_change < now() - make_interval(secs => %s)",
                         (source, IDLE_SECONDS))
            time.sleep(0.2)
        except psycopg.Error as e:
            raise InfraError.at(Code.SNAPSHOT_FAILED, f"{e.diag.message_primary or e}",
                                Span(file=conn.info.dbname)) from None
    rows = conn.execute("SELECT DISTINCT coalesce(nullif(application_name, ''), 'unnamed') FROM "
                        "pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                        (source,)).fetchall()
    raise InfraError.at(Code.SNAPSHOT_BUSY, f"`{source}` kept other sessions for "
                        f"{SNAPSHOT_WAIT_SECONDS:.0f} s ({', '.join(sorted(r[0] for r in rows))}); "
                        "a template copy needs the database to itself", Span(file=source),
                        help="take the snapshot when they finish, or set POLICYDIFF_SNAPSHOT_WAIT")


class _closed:
    """Close `dbname` to new connections and end its sessions, for as long as the
    block runs (a template copy or a rename needs the database to itself)."""

    def __init__(self, conn: psycopg.Connection, dbname: str):
        self.conn, self.dbname = conn, dbname

    def __enter__(self) -> None:
        _sql(self.conn, "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", self.dbname)
        self.conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.dbname,),
        )
        # pg_terminate_backend only signals; wait until the sessions are really gone.
        _sql(
            self.conn,
            "DO $$ BEGIN FOR i IN 1..200 LOOP"
            " EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = {}"
            " AND pid <> pg_backend_pid()); PERFORM pg_sleep(0.05); END LOOP; END $$",
            sql.Literal(self.dbname),
        )

    def __exit__(self, *exc) -> None:
        exists = self.conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)).fetchone()
        if exists:
            _sql(self.conn, "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true", self.dbname)


def _sql(conn: psycopg.Connection, statement: str, *names: str | sql.Composable) -> None:
    """Run a statement whose `{}` are filled with identifiers (plain strings) or
    composables; a failure is an `InfraError` with the server's message."""
    parts = [sql.Identifier(n) if isinstance(n, str) else n for n in names]
    try:
        conn.execute(sql.SQL(statement).format(*parts))
    except psycopg.Error as e:
        raise InfraError.at(Code.SNAPSHOT_FAILED, f"{e.diag.message_primary or e}", Span(file=conn.info.dbname)) from None
