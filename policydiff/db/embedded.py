"""The embedded PostgreSQL: what commands use when neither `--dsn` nor `DATABASE_URL` is set.

`pgserver` owns the server process. Its data directory persists (by default
`.policydiff/pgdata` under the working directory), so successive commands see the same
data; every process that asks for it registers itself, and the server stops when the
last one of them exits (`cleanup_mode="stop"`), unless a caller asks to keep it running
(`policydiff db url`, so that psql can reach it afterwards). The facts live in their own
database, `policydiff`, so that the maintenance database stays free for snapshots.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import warnings
from pathlib import Path

import psycopg

from policydiff.errors import Code, InfraError, InputError
from policydiff.source import Span

DEFAULT_DATA_DIR = Path(".policydiff") / "pgdata"
DATABASE = "policydiff"

logging.getLogger("pgserver").addHandler(logging.NullHandler())


def data_dir_path(data_dir: str | Path | None) -> Path:
    """The data directory; one that exists as something else is bad input (`--data-dir`)."""
    path = Path(data_dir) if data_dir is not None else Path.cwd() / DEFAULT_DATA_DIR
    if path.exists() and not path.is_dir():
        raise InputError.at(Code.UNREADABLE_FILE, "the embedded server's data directory is not a "
                            "directory", Span(file=str(path)))
    return path


_ready: set[str] = set()  # maintenance URIs whose `policydiff` database exists


def embedded_dsn(data_dir: str | Path | None = None, *, keep_running: bool = False) -> str:
    """Start (or join) the embedded server and return a URI for its `policydiff` database."""
    server = _server(data_dir_path(data_dir), keep_running=keep_running)
    if server.get_uri() not in _ready:
        _ensure_database(server.get_uri())
        _ready.add(server.get_uri())
    return server.get_uri(DATABASE)


def stop(data_dir: str | Path | None = None) -> bool:
    """Stop the embedded server of `data_dir` if one runs; True when one was stopped."""
    path = data_dir_path(data_dir).resolve()
    if not (path / "postmaster.pid").exists():
        return False
    pg_ctl = _pgserver().POSTGRES_BIN_PATH / "pg_ctl"
    user = "pgserver" if os.geteuid() == 0 else None
    result = subprocess.run(
        [str(pg_ctl), "-D", str(path), "-w", "-m", "fast", "stop"],
        capture_output=True, text=True, user=user, check=False,
    )
    return result.returncode == 0


def _pgserver():
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
        warnings.simplefilter("ignore")
        from pgserver import _commands

    return _commands


def _forget_dead_handles(path: Path) -> None:
    """pgserver stops the server when the last registered process exits; a process that
    was killed never unregisters, and the server would then run forever. Drop them."""
    handles = path / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if _alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _server(path: Path, *, keep_running: bool):
    _pgserver()
    import pgserver
    from pgserver.postgres_server import PostgresServer

    where = Span(file=str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with PostgresServer._lock:  # the lock pgserver itself takes around the list
            _forget_dead_handles(path.resolve())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(path, cleanup_mode=None if keep_running else "stop")
        _quiet_exit(server)
        return server
    except (OSError, subprocess.SubprocessError, AssertionError, RuntimeError) as e:
        log = path / "log"
        said = getattr(e, "stderr", None) or getattr(e, "output", None)  # initdb's own words
        if isinstance(said, bytes):
            said = said.decode("utf-8", "replace")
        why = f"{e}: {said.strip().splitlines()[-1]}" if isinstance(said, str) and said.strip() else str(e)
        raise InfraError.at(
            Code.EMBEDDED_DB_FAILED,
            f"cannot start the embedded postgresql: {why}",
            where,
            help=f"see the server log `{log}`" if log.exists() else None,
        ) from None


_guarded: set[int] = set()


def _quiet_exit(server) -> None:
    """pgserver stops the server at exit through psutil; when the server died during the
    command, that handler raises (`psutil.NoSuchProcess`) and Python prints its traceback
    after the command's own diagnostic. Run it so that such a failure stays silent: the
    command has already reported the lost server (exit 3)."""
    if id(server) in _guarded:
        return
    _guarded.add(id(server))
    atexit.unregister(server._cleanup)

    def cleanup() -> None:
        try:
            server._cleanup()
        except Exception:  # any failure of a dead server's cleanup is moot
            logging.getLogger("pgserver").debug("cleanup of a lost server failed", exc_info=True)

    atexit.register(cleanup)


def _ensure_database(maintenance_uri: str) -> None:
    with psycopg.connect(maintenance_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
            except psycopg.errors.DuplicateDatabase:
                pass  # another command created it first
