"""Where the database is and how to reach it.

A DSN comes from `--dsn`, else `DATABASE_URL`, else the embedded server. Connections
are Neon-ready: the DSN's own parameters (`sslmode`, `channel_binding`, …) are kept
as given; on a pooled host (`-pooler` in the host name, i.e. PgBouncer in transaction
mode) psycopg's server-side prepared statements are turned off, and nothing here issues
a session-level `SET`. Transient failures (no route, connection reset, class 08,
`57P01` admin shutdown, `57P03` still starting) are retried with bounded exponential
backoff and full jitter. Every message that carries a DSN is redacted.
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psycopg
from psycopg import conninfo

from policydiff.db import embedded
from policydiff.errors import Code, InfraError, InputError, redact
from policydiff.source import Span

ENV_VAR = "DATABASE_URL"
APPLICATION_NAME = "policydiff"
DEFAULT_ATTEMPTS = 5
TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
_TRANSIENT_FATAL = ("starting up", "shutting down", "terminating connection", "too many clients", "recovery mode")

T = TypeVar("T")


def resolve_dsn(dsn: str | None = None, *, data_dir: str | Path | None = None) -> str:
    """The DSN to use: `dsn`, else `DATABASE_URL`, else the embedded server's (started
    on demand)."""
    return locate(dsn, data_dir=data_dir)[0]


def locate(dsn: str | None = None, *, data_dir: str | Path | None = None) -> tuple[str, str]:
    """The DSN and where it came from, for diagnostics; a given DSN that libpq could not
    use is `invalid_dsn` here, before anything connects or prints it."""
    if dsn:
        dsn_params(dsn)
        return dsn, "--dsn"
    if os.environ.get(ENV_VAR):
        dsn_params(os.environ[ENV_VAR], where=ENV_VAR)
        return os.environ[ENV_VAR], ENV_VAR
    return embedded.embedded_dsn(data_dir), str(embedded.data_dir_path(data_dir))


def origin(dsn: str | None = None, *, data_dir: str | Path | None = None) -> str:
    """Where the DSN `locate` would use comes from (`--dsn`, `DATABASE_URL` or the
    embedded server's data directory), found without starting or parsing anything."""
    if dsn:
        return "--dsn"
    if os.environ.get(ENV_VAR):
        return ENV_VAR
    return str(embedded.data_dir_path(data_dir))


def is_pooled(dsn: str) -> bool:
    """Whether the DSN names a pooled endpoint (Neon's `-pooler` hosts)."""
    hosts = dsn_params(dsn).get("host") or ""
    return any("-pooler" in h for h in hosts.split(","))


def dsn_params(dsn: str, *, where: str = "--dsn") -> dict[str, str]:
    """The DSN's parameters (URL and key=value forms alike); a DSN libpq cannot parse,
    or a port that is not a number, is `invalid_dsn` on `where` (`--dsn` or
    `DATABASE_URL`; message redacted)."""
    try:
        params = {k: str(v) for k, v in conninfo.conninfo_to_dict(dsn).items()}
    except psycopg.ProgrammingError as e:
        raise InputError.at(Code.INVALID_DSN, redact(f"cannot parse the dsn: {e}"), Span(file=where)) from None
    except UnicodeDecodeError:  # a percent-encoded byte that is not UTF-8
        raise InputError.at(Code.INVALID_DSN, "cannot parse the dsn: a percent-encoded part is not "
                            "UTF-8", Span(file=where)) from None
    except UnicodeEncodeError:  # bytes that are not UTF-8 in the environment variable itself
        raise InputError.at(Code.NOT_UTF8, "the dsn holds bytes that are not UTF-8", Span(file=where)) from None
    # libpq refuses a port that is not a number only when it connects, as a connection
    # failure (exit 3); it is the DSN that is wrong
    for port in params.get("port", "").split(","):
        if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise InputError.at(Code.INVALID_DSN, redact(f"cannot parse the dsn: port `{port}` is not "
                                "a port number (1-65535)"), Span(file=where))
    return params


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the operation that raised `exc` may succeed.

    A failed connection attempt carries no SQLSTATE in psycopg, even when the server
    answered: a `FATAL` answer (unknown database, bad password) is final unless it says
    the server is starting, stopping or full; no answer at all is worth retrying."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    if state is not None:
        return state.startswith("08") or state in TRANSIENT_SQLSTATES
    text = str(exc)
    if "FATAL:" in text:
        return any(phrase in text for phrase in _TRANSIENT_FATAL)
    return True


def retry(
    operation: Callable[[], T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    base: float = 0.2,
    cap: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `operation`, retrying transient database errors up to `attempts` times in all,
    sleeping a random time up to `base * 2**n` (at most `cap`) between tries."""
    for attempt in range(attempts):
        try:
            return operation()
        except psycopg.OperationalError as e:
            if not is_transient(e) or attempt == attempts - 1:
                raise
            sleep(random.uniform(0, min(cap, base * 2**attempt)))
    raise AssertionError("unreachable")  # the loop returns or raises


def connect_kwargs(dsn: str, *, application_name: str = APPLICATION_NAME) -> dict[str, object]:
    """The keyword arguments every connection to `dsn` gets (also for a psycopg-pool
    `ConnectionPool(dsn, kwargs=...)`): an application name and a connect timeout unless
    the DSN sets them, and no server-side prepared statements on a pooled host."""
    params = dsn_params(dsn)
    extra: dict[str, object] = {}
    if "application_name" not in params:
        extra["application_name"] = application_name
    if "connect_timeout" not in params:
        extra["connect_timeout"] = 10
    if is_pooled(dsn):
        extra["prepare_threshold"] = None
    return extra


def open_connection(
    dsn: str,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    autocommit: bool = False,
    application_name: str = APPLICATION_NAME,
    origin: str = "--dsn",
) -> psycopg.Connection:
    """Connect to `dsn` as given (no DSN resolution, no migration), retrying transient
    failures; an unreachable database is an `InfraError` naming the redacted DSN."""
    extra = connect_kwargs(dsn, application_name=application_name)

    def attempt() -> psycopg.Connection:
        return psycopg.connect(dsn, autocommit=autocommit, **extra)

    try:
        return retry(attempt, attempts=attempts)
    except psycopg.OperationalError as e:
        reason = " ".join(str(e).split())
        raise InfraError.at(
            Code.DB_UNREACHABLE,
            redact(f"cannot connect to `{display(dsn)}`: {reason}"),
            Span(file=origin),
        ) from None


def display(dsn: str) -> str:
    """The DSN as it may be shown, password hidden (URL and key=value forms alike)."""
    return redact(dsn)


def maintenance_dsn(dsn: str) -> str:
    """The same server's maintenance database (`postgres`, or `template1` when `dsn`
    already names `postgres`), where databases can be created and dropped."""
    params = dsn_params(dsn)
    params["dbname"] = "template1" if params.get("dbname", "") == "postgres" else "postgres"
    return conninfo.make_conninfo("", **params)


def with_dbname(dsn: str, dbname: str) -> str:
    """The same DSN naming database `dbname` instead."""
    params = dsn_params(dsn)
    params["dbname"] = dbname
    return conninfo.make_conninfo("", **params)


def database_name(dsn: str) -> str:
    params = dsn_params(dsn)
    return params.get("dbname") or params.get("user") or os.environ.get("PGDATABASE") or "postgres"


class database_errors:  # lower case: it replaced a function of that name, and reads as one
    """Turn a database error escaping the block into an `InfraError` (exit 3), with the
    server's message and SQLSTATE, redacted. It is located at the database the block
    works on: `where` is a connection (shown as `postgresql://user@host:port/dbname`, no
    password, taken when the block starts) or the flag or variable the DSN came from; as
    a decorator, the connection is the function's first argument. Never a file position
    the database does not have."""

    def __init__(self, where: psycopg.Connection | str | None = None):
        self.where = where
        self._at = "the database"

    def __call__(self, fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def run(*args, **kwargs) -> T:
            first = args[0] if args and isinstance(args[0], psycopg.Connection) else self.where
            with database_errors(first):
                return fn(*args, **kwargs)

        return run

    def __enter__(self) -> None:
        if isinstance(self.where, psycopg.Connection):
            self._at = connection_target(self.where) or self._at
        elif self.where:
            self._at = self.where

    def __exit__(self, kind, e, tb) -> bool:
        if isinstance(e, psycopg.Error):
            state = f" [{e.sqlstate}]" if e.sqlstate else ""
            reason = " ".join(str(e).split())
            raise InfraError.at(Code.DB_ERROR, redact(f"database error{state}: {reason}"),
                                Span(file=redact(self._at))) from None
        return False


def connection_target(conn: psycopg.Connection) -> str | None:
    """Where `conn` is connected, as a URL without password; None when it is closed."""
    try:
        info = conn.info
        host, port, db, user = info.host, info.port, info.dbname, info.user
    except psycopg.Error:
        return None
    if host.startswith("/") or not host:  # a Unix socket directory
        return f"postgresql://{user}@/{db}" + (f"?host={host}&port={port}" if host else "")
    host = f"[{host}]" if ":" in host else host
    return f"postgresql://{user}@{host}:{port}/{db}"
