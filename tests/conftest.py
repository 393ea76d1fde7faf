"""Shared database fixtures: real PostgreSQL servers, one of each per test session.

- `dsn` (session): a migrated database on the default server — `DATABASE_URL`'s when
  set, else an embedded pgserver started for the session.
- `fresh_dsn` (function): an empty, migrated database of its own on the default server,
  created from a migrated template with CREATE DATABASE and dropped afterwards.
- `database` (function): an open connection to `fresh_dsn`.
- `server` (session, parametrized `embedded` / `pg15`) and `server_fresh_dsn`
  (function): the same over both the embedded server and the machine's PostgreSQL 15
  (Debian's binaries, started in a temporary directory), for the core database tests.

Postgres refuses to run as root; as pgserver does, the Debian server is then run as an
unprivileged user (`postgres`) that owns its data directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings
from psycopg import conninfo

from policydiff.db import migrate

TEMPLATE = "policydiff_test_template"

# Property tests draw the same examples on every run of the suite (`ci`, the default), so
# the gate CI keeps is reproducible; `HYPOTHESIS_PROFILE=explore` draws new ones on every
# run, to look for what the fixed draw misses (a find becomes an `@example`).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


class Server:
    """A running PostgreSQL server and a migrated template database on it."""

    def __init__(self, name: str, maintenance_dsn: str):
        self.name = name
        self.maintenance_dsn = maintenance_dsn
        self._template_ready = False

    def dsn_for(self, dbname: str) -> str:
        params = conninfo.conninfo_to_dict(self.maintenance_dsn)
        params["dbname"] = dbname
        return conninfo.make_conninfo("", **params)

    def create_database(self, *, migrated: bool = True) -> str:
        """A new database (migrated, or empty); its name."""
        if migrated and not self._template_ready:
            self._make_template()
        name = f"pdtest_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{TEMPLATE}"' if migrated else ""
        with psycopg.connect(self.maintenance_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        return name

    def drop_database(self, name: str) -> None:
        """Drop `name` and the snapshots taken of it."""
        with psycopg.connect(self.maintenance_dsn, autocommit=True) as conn:
            snapshots = conn.execute(
                "SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE %s",
                (f'policydiff snapshot %"source": "{name}"%',),
            ).fetchall()
            for (db,) in [(name,), *snapshots]:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    def _make_template(self) -> None:
        with psycopg.connect(self.maintenance_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        with psycopg.connect(self.dsn_for(TEMPLATE)) as conn:
            migrate(conn)
        self._template_ready = True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _debian_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")
    return found[-1].parent


class DebianCluster:
    """initdb + pg_ctl in a temporary directory, on a free loopback port."""

    def __init__(self) -> None:
        self.bindir = _debian_bindir()
        self.base = Path(tempfile.mkdtemp(prefix="policydiff-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=self.base)

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "log"), "-o", options, "-w", "start")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def _version(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.info.server_version


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A scratch directory for an embedded server's data, outside pytest's own temporary
    root: as root, pgserver runs postgres as another user that must traverse the path,
    and pytest resets its root to mode 0700 whenever another session starts."""
    path = Path(tempfile.mkdtemp(prefix="policydiff-work-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[Server]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    base = Path(tempfile.mkdtemp(prefix="policydiff-embedded-"))
    srv = pgserver.get_server(base / "pgdata", cleanup_mode="delete")
    with psycopg.connect(srv.get_uri(), autocommit=True) as conn:
        # throwaway data: durability only costs time here
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("SELECT pg_reload_conf()")
    yield Server("embedded", srv.get_uri())
    srv.cleanup()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def debian_server() -> Iterator[Server]:
    cluster = DebianCluster()
    dsn = cluster.start()
    yield Server(f"pg{_version(dsn) // 10000}", dsn)
    cluster.stop()


@pytest.fixture(scope="session")
def default_server(request) -> Server:
    """`DATABASE_URL`'s server when set (its maintenance database), else the embedded one."""
    url = os.environ.get("DATABASE_URL")
    if url:
        params = conninfo.conninfo_to_dict(url)
        params["dbname"] = "postgres"
        return Server("database_url", conninfo.make_conninfo("", **params))
    return request.getfixturevalue("embedded_server")


@pytest.fixture(scope="session", params=["embedded", "pg15"])
def server(request) -> Server:
    return request.getfixturevalue("embedded_server" if request.param == "embedded" else "debian_server")


@pytest.fixture(scope="session")
def dsn(default_server: Server) -> Iterator[str]:
    name = default_server.create_database()
    yield default_server.dsn_for(name)
    default_server.drop_database(name)


@pytest.fixture
def fresh_dsn(default_server: Server) -> Iterator[str]:
    name = default_server.create_database()
    yield default_server.dsn_for(name)
    default_server.drop_database(name)


@pytest.fixture
def database(fresh_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(fresh_dsn) as conn:
        yield conn


@pytest.fixture
def server_fresh_dsn(server: Server) -> Iterator[str]:
    name = server.create_database()
    yield server.dsn_for(name)
    server.drop_database(name)
