"""Replay under faults, on a PostgreSQL server of its own that the tests restart and
stop under a running replay: a restart, a killed worker and a worker crashing at any
point of a block leave the counts exact and the run complete; a server that stays away, and SIGTERM, end the run with a partial
report (`complete: false`, exit 3) whose counts equal the metrics; nothing is counted
twice or lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import msgspec
import psycopg
import pytest
from replay_checks import V1, V2, assert_agrees, assert_metrics_equal_report, compare, samples, seed

from conftest import DebianCluster
from policydiff.cli.replay import exit_code
from policydiff.errors import ExitCode
from policydiff.replay import run_replay
from policydiff.replay.worker import CRASH_EXIT, CRASH_POINTS
from policydiff.replay.workload import BLOCK
from policydiff.results import ReplayReport

REQUESTS = 60_000


@pytest.fixture(scope="module")
def cluster():
    c = DebianCluster()
    maintenance = c.start()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute("CREATE DATABASE replay")
    dsn = maintenance.rsplit("/", 1)[0] + "/replay"
    seed(dsn)
    c.dsn = dsn
    yield c
    c.stop()


def _pg_ctl(cluster, *args: str) -> None:
    options = (f"-p {cluster.port} -k {cluster.base} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c max_connections=200")
    cluster._run("pg_ctl", "-D", str(cluster.data), "-l", str(cluster.base / "log"), "-o", options,
                 "-w", "-m", "fast", *args)


class _Runner:
    """run_replay in a thread; the test acts on the run when it reaches `at` requests.
    The run's parent is held there (its observer waits) until the test calls `resume()`,
    so what the test does happens in the middle of the run, however fast it goes."""

    def __init__(self, **kw):
        self.reached = threading.Event()
        self.resumed = threading.Event()
        self.at = kw.pop("at")
        self.result: ReplayReport | None = None
        self.thread = threading.Thread(target=self._run, kwargs=kw)

    def _observe(self, p) -> None:
        if p.done >= self.at and not self.reached.is_set():
            self.reached.set()
            self.resumed.wait(120)

    def resume(self) -> None:
        self.resumed.set()

    def _run(self, **kw) -> None:
        self.result = run_replay(observer=self._observe, **kw)

    def __enter__(self):
        self.thread.start()
        assert self.reached.wait(120), "the replay never got going"
        return self

    def __exit__(self, *exc) -> None:
        self.resume()
        self.thread.join(180)
        assert not self.thread.is_alive()


def _workers():
    import multiprocessing

    return [p for p in multiprocessing.active_children() if p.name.startswith("policydiff-replay-")]


def test_restart_and_killed_worker_keep_counts_exact(cluster):
    requests = REQUESTS // 2
    runner = _Runner(v1=V1, v2=V2, requests=requests, parallel=2, seed=1, dsn=cluster.dsn, at=3000)
    with runner:
        os.kill(_workers()[0].pid, signal.SIGKILL)
        _pg_ctl(cluster, "stop")  # every connection of the run breaks here
        runner.resume()  # the workers go on against no server: they wait and retry
        time.sleep(0.2)
        at_restart = runner.result  # still running: no block is read while the server is away
        _pg_ctl(cluster, "start")
    report = runner.result
    assert at_restart is None
    assert report.complete, report.problems
    assert report.requests == requests
    assert any("crashed" in p for p in report.problems)
    assert_agrees(report, compare(cluster.dsn, V2))
    # the killed worker's block ran again elsewhere: counted once, in the report and the metrics
    assert_metrics_equal_report(report)


def test_server_that_stays_away_ends_the_run_incomplete(cluster):
    runner = _Runner(v1=V1, v2=V2, requests=REQUESTS, parallel=2, seed=2, dsn=cluster.dsn,
                     reconnect_attempts=2, at=4000)
    try:
        with runner:
            _pg_ctl(cluster, "stop")
            runner.resume()
    finally:
        _pg_ctl(cluster, "start")
    report = runner.result
    assert not report.complete
    assert 4000 <= report.requests < REQUESTS
    assert any("cannot connect" in p for p in report.problems), report.problems
    assert_metrics_equal_report(report)
    assert sum(c.requests for c in report.cells) == report.requests


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_worker_crashing_anywhere_in_a_block_is_reported_and_counts_stay_exact(cluster, tmp_path, point):
    """One of two workers dies in its 2nd block: before tallying it, after, in the middle
    of sending it (the parent reads half a message), or just after sending it. The run
    names the crash, exits 3 as a run with trouble, and still counts every request once:
    the report, the metrics and the blocks the metrics saw read (one database lookup per
    block) all say the same."""
    claim = tmp_path / "crash"
    requests = 24 * BLOCK
    report = run_replay(v1=V1, v2=V2, requests=requests, parallel=2, seed=3, dsn=cluster.dsn,
                        crash_at=(2, point, str(claim)))
    assert claim.exists()  # a worker took the crash
    crashed = [p for p in report.problems if "crashed" in p]
    assert len(crashed) == 1 and f"exit code {CRASH_EXIT}" in crashed[0], report.problems
    assert list(report.problems) == crashed
    assert report.complete and report.requests == requests
    assert exit_code(report) == ExitCode.INFRA
    assert_metrics_equal_report(report)
    assert samples(report.metrics)[("rbac_db_lookup_seconds_count", ())] == 24  # each block once
    assert_agrees(report, compare(cluster.dsn, V2))


def test_the_last_worker_crashing_ends_the_run_incomplete(cluster, tmp_path):
    requests = 24 * BLOCK
    report = run_replay(v1=V1, v2=V2, requests=requests, parallel=1, seed=3, dsn=cluster.dsn,
                        crash_at=(3, "after_tally", str(tmp_path / "crash")))
    assert not report.complete
    assert any("worker 0 crashed" in p for p in report.problems), report.problems
    assert "no worker left" in report.problems
    assert report.requests == 2 * BLOCK  # the two blocks sent before the crash
    assert_metrics_equal_report(report)
    assert exit_code(report) == ExitCode.INFRA


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_sigterm_writes_a_partial_report_and_exits_3(cluster, tmp_path, how):
    """SIGTERM to the command, or Ctrl-C: SIGINT to its whole process group, workers,
    fork server and resource tracker included, as a terminal sends it."""
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "policydiff", "replay", "--v1", str(V1), "--v2", str(V2),
         "--requests", str(10 * REQUESTS), "--parallel", "2", "--dsn", cluster.dsn,
         "--output", str(out)],
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_for_replay_connections(cluster.dsn, 2)
        time.sleep(1.0)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    report = msgspec.json.decode(out.read_bytes(), type=ReplayReport)
    assert not report.complete and 0 < report.requests < 10 * REQUESTS
    assert any("signal" in p for p in report.problems)
    assert not any("worker" in p for p in report.problems), report.problems  # none lost to the signal
    assert_metrics_equal_report(report)


def _wait_for_replay_connections(dsn: str, n: int) -> None:
    deadline = time.monotonic() + 120
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            (count,) = conn.execute("SELECT count(*) FROM pg_stat_activity "
                                    "WHERE application_name = 'policydiff-replay'").fetchone()
            if count >= n:
                return
            time.sleep(0.1)
    raise AssertionError("the replay's workers never connected")
