"""Versioned schema migrations: `policydiff/db/migrations/NNN_name.sql`, applied in order.

Each file runs once, in one transaction with its row in `policydiff.schema_migrations`
(version, name, sha256 of the text). Concurrent migrators serialise on a transaction
advisory lock (released at commit, so it also works behind a transaction-mode pooler);
the second one finds the work done. A file edited after it was applied is refused
rather than silently diverging from the databases that ran the old text.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import msgspec
import psycopg

from policydiff.errors import Code, InfraError
from policydiff.source import Span

# An arbitrary constant that no other application's advisory lock is likely to share.
LOCK_KEY = 0x706F6C6963796466 >> 1
_NAME = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)\.sql$")


class Migration(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations() -> tuple[Migration, ...]:
    """The migrations shipped with the package, by version."""
    found = []
    for entry in resources.files("policydiff.db").joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(version=int(m["version"]), name=m["name"], sql=entry.read_text("utf-8")))
    return tuple(sorted(found, key=lambda mig: mig.version))


def migrate(conn: psycopg.Connection) -> tuple[str, ...]:
    """Apply the migrations `conn`'s database lacks; returns the names applied now."""
    wanted = migrations()
    if _up_to_date(conn, wanted):
        return ()
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute("CREATE SCHEMA IF NOT EXISTS policydiff")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS policydiff.schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = dict(conn.execute("SELECT version, sha256 FROM policydiff.schema_migrations").fetchall())
        for mig in wanted:
            if mig.version in done:
                if done[mig.version] != mig.sha256:
                    raise InfraError.at(
                        Code.MIGRATION_CHANGED,
                        f"migration `{mig.version:03d}_{mig.name}` differs from the one applied to this database",
                        Span(file=f"policydiff/db/migrations/{mig.version:03d}_{mig.name}.sql"),
                        help="add a new migration instead of editing an applied one",
                    )
                continue
            conn.execute(mig.sql)
            conn.execute(
                "INSERT INTO policydiff.schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                (mig.version, mig.name, mig.sha256),
            )
            applied_now.append(f"{mig.version:03d}_{mig.name}")
    return tuple(applied_now)


def applied(conn: psycopg.Connection) -> tuple[str, ...]:
    """The migrations recorded in `conn`'s database, by version."""
    if not _has_table(conn):
        return ()
    rows = conn.execute("SELECT version, name FROM policydiff.schema_migrations ORDER BY version").fetchall()
    return tuple(f"{v:03d}_{n}" for v, n in rows)


def _has_table(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass('policydiff.schema_migrations')").fetchone()
    return row is not None and row[0] is not None


def _up_to_date(conn: psycopg.Connection, wanted: tuple[Migration, ...]) -> bool:
    """A lock-free look first, so that the many connections of a replay don't queue on
    the advisory lock once the schema is in place."""
    with conn.transaction():
        if not _has_table(conn):
            return False
        done = dict(conn.execute("SELECT version, sha256 FROM policydiff.schema_migrations").fetchall())
    return all(done.get(m.version) == m.sha256 for m in wanted)
