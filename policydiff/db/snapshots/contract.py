"""What every snapshot backend is: the `Snapshot` record, the `Snapshots` interface
(`create`, `restore`, `list`), and the checks both backends share — a snapshot name's
shape, an unknown name with a did-you-mean, and the refusal to restore under running
replay workers (`application_name` starting with `policydiff-replay`) unless forced.

The backends (`template`, `neon`) import this module and nothing of each other; the
package's `__init__` re-exports it and chooses the backend.
"""

from __future__ import annotations

import re
from typing import Literal, Protocol

import msgspec
import psycopg

from policydiff.documents import did_you_mean
from policydiff.errors import Code, ExitCode, InputError, PolicydiffError
from policydiff.source import Span

REPLAY_APPLICATION = "policydiff-replay"
_SNAPSHOT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    backend: Literal["postgres", "neon"]
    source: str  # the database (or Neon branch id) it was taken of
    location: str  # the snapshot's database name (or Neon branch id)
    created: str


class RestoreRefused(PolicydiffError):
    """Restoring now would pull the database from under running replay workers."""

    exit_code = ExitCode.BLOCKED


class Snapshots(Protocol):
    def create(self, name: str) -> Snapshot: ...
    def restore(self, name: str, *, force: bool = False) -> Snapshot: ...
    def list(self) -> tuple[Snapshot, ...]: ...


def check_name(name: str) -> str:
    if not _SNAPSHOT_NAME.match(name):
        raise InputError.at(
            Code.INVALID_SNAPSHOT_NAME,
            f"snapshot name `{name}` must be 1-40 of a-z, 0-9, `_` and `-`, starting with a letter or digit",
            Span(file="NAME"),
        )
    return name


def replay_workers(conn: psycopg.Connection, dbname: str) -> list[str]:
    """The application names of replay sessions connected to `dbname`."""
    rows = conn.execute(
        "SELECT application_name FROM pg_stat_activity WHERE datname = %s AND application_name LIKE %s"
        " AND pid <> pg_backend_pid() ORDER BY application_name",
        (dbname, REPLAY_APPLICATION + "%"),
    ).fetchall()
    return [r[0] for r in rows]


def refuse_if_replaying(conn: psycopg.Connection, dbname: str, force: bool) -> None:
    workers = replay_workers(conn, dbname)
    if workers and not force:
        raise RestoreRefused.at(
            Code.REPLAY_RUNNING,
            f"{len(workers)} replay worker(s) are connected to `{dbname}` ({', '.join(sorted(set(workers)))})",
            Span(file=dbname),
            help="wait for the replay to finish, or pass --force to terminate them",
        )


def unknown_snapshot(name: str, known: list[str]) -> InputError:
    hint = did_you_mean(name, known)
    return InputError.at(
        Code.UNKNOWN_SNAPSHOT,
        f"no snapshot `{name}`" + (f"; {hint}" if hint else ""),
        Span(file="NAME"),
        help=("snapshots: " + ", ".join(known)) if known else "`policydiff db snapshot NAME` takes one",
    )
