"""The `db` commands as a user runs them: separate processes, no database configured
(the embedded server, shared by successive commands and stopped after the last), or
`DATABASE_URL`; dump writes a tenancy file that reads back equal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from policydiff import db
from policydiff.cli import main
from policydiff.db import embedded
from policydiff.tenancy import decode_tenancy, load_tenancy


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    unset = ("DATABASE_URL", "NEON_API_KEY", "NEON_PROJECT_ID", "COLUMNS")  # COLUMNS: the runner's terminal
    base = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run([sys.executable, "-m", "policydiff", *args], cwd=cwd, env={**base, **(env or {})},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)


def test_seed_and_verify_on_a_fresh_machine_use_the_embedded_server(workdir):
    seeded = _run("db", "seed", cwd=workdir)
    assert seeded.returncode == 0, seeded.stderr
    data = workdir / ".policydiff" / "pgdata"
    assert (data / "PG_VERSION").exists()
    # the last command using the server stopped it; the next one starts it on the same data
    assert not (data / "postmaster.pid").exists()
    verified = _run("db", "verify", "--format", "json", cwd=workdir)
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["passed"] and report["totals"]["enterprises"] >= 3
    assert "Traceback" not in seeded.stderr + verified.stderr


def test_snapshot_and_restore_on_the_embedded_server(workdir):
    data = workdir / ".policydiff" / "pgdata"
    for command in (("db", "seed"), ("db", "snapshot", "before")):
        done = _run(*command, cwd=workdir)
        assert done.returncode == 0, done.stderr
    try:
        with db.connect(data_dir=data) as conn:
            seeded = db.load_tenancy(conn)
            conn.execute("DELETE FROM policydiff.users")
            conn.commit()
        restored = _run("db", "restore", "before", cwd=workdir)
        assert restored.returncode == 0, restored.stderr
        with db.connect(data_dir=data) as conn:
            assert db.load_tenancy(conn) == seeded
    finally:
        embedded.stop(data)


def test_a_killed_command_does_not_keep_the_server_running(workdir):
    data = workdir / ".policydiff" / "pgdata"
    assert _run("db", "migrate", cwd=workdir).returncode == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (data / ".handle_pids.json").write_text(f"[{int(dead.stdout)}]")  # never unregistered
    assert _run("db", "verify", cwd=workdir).returncode == 1  # empty: minimums unmet
    assert not (data / "postmaster.pid").exists()


def test_url_keeps_the_embedded_server_for_psql_until_stopped(workdir):
    data = workdir / "elsewhere"
    url = _run("db", "url", "--data-dir", str(data), cwd=workdir)
    assert url.returncode == 0, url.stderr
    uri = url.stdout.strip()
    try:
        with psycopg.connect(uri) as conn:
            assert conn.info.dbname == "policydiff"
    finally:
        assert _run("db", "stop", "--data-dir", str(data), cwd=workdir).returncode == 0
    assert not (data / "postmaster.pid").exists()


def test_stop_refuses_a_dsn_and_leaves_the_embedded_server_running(workdir):
    data = workdir / "kept"
    url = _run("db", "url", "--data-dir", str(data), cwd=workdir)
    assert url.returncode == 0, url.stderr
    uri = url.stdout.strip()
    try:
        refused = _run("db", "stop", "--dsn", "postgresql://someone:s3cret-pw@db.example/x",
                       "--data-dir", str(data), cwd=workdir)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.startswith("--dsn: bad_flag:") and "Traceback" not in refused.stderr
        assert "s3cret-pw" not in refused.stderr
        with psycopg.connect(uri) as conn:  # not stopped
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        assert _run("db", "stop", "--data-dir", str(data), cwd=workdir).returncode == 0
    assert not (data / "postmaster.pid").exists()


def test_seed_and_verify_against_database_url(fresh_dsn, tmp_path):
    env = {"DATABASE_URL": fresh_dsn}
    assert _run("db", "seed", "--enterprises", "5", "--users-per-team", "4", cwd=tmp_path, env=env).returncode == 0
    verified = _run("db", "verify", cwd=tmp_path, env=env)
    assert verified.returncode == 0, verified.stderr
    # off a terminal the table is laid out at 120 columns: no role column is cut
    assert "…" not in verified.stdout and "team_admin" in verified.stdout
    assert max(map(len, verified.stdout.splitlines())) <= 120
    assert not (tmp_path / ".policydiff").exists()  # no embedded server was needed
    with psycopg.connect(fresh_dsn) as conn:
        assert len(db.load_tenancy(conn).enterprises) == 5


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_dump_reads_back_equal(database, fresh_dsn, tmp_path, suffix, capsys):
    db.seed(database, db.generate(db.Scale(enterprises=4, resources_per_team=2)))
    out = tmp_path / f"tenancy{suffix}"
    assert main(["db", "dump", "--tenancy", str(out), "--dsn", fresh_dsn]) == 0
    assert load_tenancy(out) == db.load_tenancy(database)
    # and what was dumped seeds the same facts again
    database.execute("DELETE FROM policydiff.actions")
    database.commit()
    assert main(["db", "seed", "--tenancy", str(out), "--dsn", fresh_dsn]) == 0
    assert db.load_tenancy(database) == load_tenancy(out)


def test_dump_to_standard_output(database, fresh_dsn, tmp_path, capsys, monkeypatch):
    db.seed(database, db.generate(db.Scale(enterprises=3)))
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    assert main(["db", "dump", "--output", "-", "--dsn", fresh_dsn]) == 0
    out = capsys.readouterr().out
    assert decode_tenancy(out, "dump.json") == db.load_tenancy(database)
    assert not (tmp_path / "-").exists()


def test_bad_seed_input_exits_2(fresh_dsn, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"enterprises": [{"id": "e"}], "users": [
        {"id": "u", "enterprise": "nowhere", "role": "admin"}]}))
    assert main(["db", "seed", "--tenancy", str(bad), "--dsn", fresh_dsn]) == 2
    assert "unknown enterprise `nowhere`" in capsys.readouterr().err
    assert main(["db", "seed", "--tenancy", str(bad), "--enterprises", "3", "--dsn", fresh_dsn]) == 2
    assert main(["db", "seed", "--enterprises", "0", "--dsn", fresh_dsn]) == 2
    assert "--enterprises" in capsys.readouterr().err


def test_migrate_command(fresh_dsn, capsys):
    assert main(["db", "migrate", "--dsn", fresh_dsn]) == 0
    newest = max(Path("policydiff/db/migrations").glob("[0-9][0-9][0-9]_*.sql")).stem
    assert f"schema at {newest}" in capsys.readouterr().out
