"""The embedded server dies while a command runs against it: the command exits 3 with
a diagnostic, and pgserver's exit handler (which stops the server through psutil and
fails on a dead one) prints no traceback after it (`db/embedded.py`, `_quiet_exit`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg


def _cli(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    unset = ("DATABASE_URL", "NEON_API_KEY", "NEON_PROJECT_ID", "COLUMNS")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.Popen([sys.executable, "-m", "policydiff", *args], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _done(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    p = _cli(*args, cwd=cwd)
    out, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _waiting_on_a_lock(conn: psycopg.Connection, deadline: float) -> bool:
    while time.monotonic() < deadline:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                           " AND pid <> pg_backend_pid()").fetchone()
        if row[0]:
            return True
        time.sleep(0.05)
    return False


def _kill_server(data: Path) -> None:
    """SIGKILL the postmaster (its pid is the first line of `postmaster.pid`) and every
    process it started, as a crash or the OOM killer would."""
    postmaster = psutil.Process(int((data / "postmaster.pid").read_text().split()[0]))
    for p in [postmaster, *postmaster.children(recursive=True)]:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    postmaster.wait(10)


def test_a_command_whose_embedded_server_is_killed_exits_3_without_a_traceback(workdir):
    data = workdir / "pgdata"  # this test's own server: no other test's is touched
    assert _done("db", "migrate", "--data-dir", str(data), cwd=workdir).returncode == 0
    url = _done("db", "url", "--data-dir", str(data), cwd=workdir)  # starts it, keeps it running
    assert url.returncode == 0, url.stderr
    blocker = psycopg.connect(url.stdout.strip())
    watcher = psycopg.connect(url.stdout.strip(), autocommit=True)
    command = None
    try:
        # the command joins the running server (so its exit handler is the last one and
        # must stop it) and then waits on a table this connection holds
        blocker.execute("LOCK TABLE policydiff.users IN ACCESS EXCLUSIVE MODE")
        command = _cli("db", "verify", "--data-dir", str(data), cwd=workdir)
        assert _waiting_on_a_lock(watcher, time.monotonic() + 60), "the command never reached the lock"
        _kill_server(data)
        out, err = command.communicate(timeout=60)
    finally:
        if command is not None and command.poll() is None:
            command.kill()
        for conn in (blocker, watcher):
            try:
                conn.close()
            except psycopg.Error:
                pass
    assert command.returncode == 3, (out, err)
    assert "Traceback" not in err and "NoSuchProcess" not in err, err
    # one diagnostic line that says what happened
    assert "db_error" in err and "server closed the connection" in err, err
