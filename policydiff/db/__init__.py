"""The live database: schema, connections, seeding, verification, snapshots.

This package is the only importer of psycopg and pgserver. Its public surface:

- `connect(dsn=None, *, data_dir=None)`: a connection to the resolved database, migrated;
- `resolve_dsn(dsn=None, *, data_dir=None)`: `--dsn`, else `DATABASE_URL`, else embedded;
- `migrate(conn)`: apply the shipped migrations;
- `load_tenancy(conn)`: the facts as the `Tenancy` a tenancy file gives;
- `request_input(conn, user_id, action, resource_id)`: one request's `input`, facts read live;
- `open_connection(dsn, ...)`, `connect_kwargs(dsn)`: a connection to a DSN as given (no
  resolution, no migration), and the Neon-ready settings for pools;
- `retry(operation)`, `is_transient(exc)`, `database_errors(conn or flag)`: bounded
  retries of transient failures, and database errors as `InfraError` located at the
  database (`origin(dsn)` names the flag or variable a DSN comes from);
- `display(dsn)`: the DSN with its password hidden, for messages and reports;
- `seed`, `generate`, `verify`, and the snapshot backends in `policydiff.db.snapshots`.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from policydiff.db.connection import (
    APPLICATION_NAME,
    DEFAULT_ATTEMPTS,
    connect_kwargs,
    database_errors,
    display,
    is_pooled,
    is_transient,
    locate,
    open_connection,
    origin,
    resolve_dsn,
    retry,
)
from policydiff.db.facts import load_tenancy, normalized, request_input
from policydiff.db.migrate import migrate
from policydiff.db.seed import Scale, SeedEvent, SeedResult, generate, policy_actions, seed
from policydiff.db.verify import VerifyReport, verify

__all__ = [
    "Scale", "SeedEvent", "SeedResult", "VerifyReport", "connect", "connect_kwargs",
    "database_errors", "display", "generate", "is_pooled", "is_transient", "load_tenancy",
    "locate", "migrate", "normalized", "open_connection", "origin", "policy_actions", "request_input",
    "resolve_dsn", "retry", "seed", "verify",
]


def connect(
    dsn: str | None = None,
    *,
    data_dir: str | Path | None = None,
    autocommit: bool = False,
    application_name: str = APPLICATION_NAME,
    attempts: int = DEFAULT_ATTEMPTS,
) -> psycopg.Connection:
    """A connection to the database `dsn` resolves to (see `resolve_dsn`), with the
    schema migrated. Unreachable: `InfraError` (exit 3) naming the redacted DSN."""
    target, origin = locate(dsn, data_dir=data_dir)
    conn = open_connection(target, attempts=attempts, autocommit=autocommit,
                           application_name=application_name, origin=origin)
    try:
        with database_errors(conn):
            migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn
