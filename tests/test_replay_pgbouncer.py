"""Replay through a real PgBouncer in transaction mode (what Neon's pooled endpoint is):
no session state survives between transactions and server-side prepared statements are
not kept, so the workers must need neither. The run agrees with compare as a direct one
does, and the DSN's password appears nowhere in the report."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo
from replay_checks import V1, V2, assert_agrees, assert_metrics_equal_report, compare, seed

from policydiff.replay import run_replay

PASSWORD = "s3cret-pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def bouncer(debian_server):
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert Path(binary).exists(), "pgbouncer is missing: scripts/test.sh installs it"
    name = debian_server.create_database()
    target = conninfo.conninfo_to_dict(debian_server.maintenance_dsn)
    base = Path(tempfile.mkdtemp(prefix="policydiff-pgbouncer-"))
    port = _free_port()
    (base / "pgbouncer.ini").write_text(f"""[databases]
{name} = host={target['host']} port={target['port']} user=postgres dbname={name}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 2
max_client_conn = 50
logfile = {base}/pgbouncer.log
pidfile = {base}/pgbouncer.pid
""")
    cmd = [binary, str(base / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        entry = pwd.getpwnam("postgres")
        for p in (base, *base.iterdir()):
            os.chown(p, entry.pw_uid, entry.pw_gid)
        cmd = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pooled = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/{name}"
    try:
        _wait(pooled, proc)
        yield debian_server.dsn_for(name), pooled
    finally:
        proc.terminate()
        proc.wait(10)
        debian_server.drop_database(name)
        shutil.rmtree(base, ignore_errors=True)


def _wait(dsn: str, proc) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pgbouncer exited: {proc.stderr.read()}")
        try:
            with psycopg.connect(dsn, connect_timeout=2):
                return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise AssertionError("pgbouncer never answered")


def test_replay_through_pgbouncer_transaction_mode(bouncer):
    direct, pooled = bouncer
    seed(direct)
    # three clients (the parent and two workers) share two server connections
    report = run_replay(v1=V1, v2=V2, requests=3000, parallel=2, seed=4, dsn=pooled)
    assert report.complete, report.problems
    assert_agrees(report, compare(direct, V2))
    assert_metrics_equal_report(report)
    import msgspec

    text = msgspec.json.encode(report).decode()
    assert PASSWORD not in text and "postgres:***@127.0.0.1" in report.run.dsn
