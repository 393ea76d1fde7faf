"""Replay throughput next to pgbench's select-only load, and the shadow authorizer's cost.

    python benches/replay.py [--requests 800000] [--parallel 4] [--seconds 10] [--dsn DSN]

Against one server (the `--dsn` server, `DATABASE_URL`'s, else an embedded one started
in a temporary directory), in one run:

1. `pgbench -S -c 4 -j 2 -T SECONDS` (select-only, default simple protocol) on a
   `pgbench -i -s 10` database: its transactions per second (pgserver's own pgbench,
   else the machine's);
2. right after it, `policydiff replay` with `--parallel` workers over a seeded tenancy (20 enterprises
   of 5 teams of 10 users): requests per second, every request's facts read from the
   database during the run — over the whole run (worker start-up included) and from the
   first finished batch to the end (steady state); 1 and 2 alternate `--rounds` times;
3. `ShadowAuthorizer.authorize` next to the enforcing policy's `allows` alone on the same
   requests: what the shadow adds to the enforced path (target under 10 %), and the
   shadow evaluation itself, which `drain()` takes off that path.

Rates swing with whatever else the machine runs, so each round also reports the CPU
time spent per transaction and per request (from /proc, when the server runs on this
machine): pgbench's client and its server backends; replay's workers, its parent and
its server backends. Their quotient is the rate ratio the two loads would reach on the
same CPUs if both were bound by them alone, and is far less noisy than the rates.

It prints the figures side by side and the ratios; nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import psycopg
from psycopg import conninfo

from policydiff import db, load_policy
from policydiff.db import Scale, generate, policy_actions
from policydiff.replay import Metrics, ShadowAuthorizer, run_replay
from policydiff.tenancy import request_input

ROOT = Path(__file__).resolve().parent.parent


def _server(dsn: str | None):
    """A maintenance DSN, and the embedded server to clean up (or None)."""
    if dsn:
        return dsn, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    base = Path(tempfile.mkdtemp(prefix="policydiff-bench-"))
    base.chmod(0o755)
    srv = pgserver.get_server(base / "pgdata", cleanup_mode="delete")
    with psycopg.connect(srv.get_uri(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET max_connections = 100")
    return srv.get_uri(), srv


def _database(maintenance: str) -> str:
    name = f"pdbench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return conninfo.make_conninfo(maintenance, dbname=name)


def _pgbench() -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver import _commands
        candidate = _commands.POSTGRES_BIN_PATH / "pgbench"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("pgbench")
    if not found:
        sys.exit("no pgbench: install postgresql-client or pgserver")
    return found


def init_pgbench(dsn: str) -> None:
    subprocess.run([_pgbench(), "-i", "-s", "10", "-q", dsn], check=True, capture_output=True)


def seed_replay(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        db.migrate(conn)
        db.seed(conn, generate(Scale(enterprises=20, teams_per_enterprise=5, users_per_team=10,
                                     resources_per_team=4), actions=policy_actions(ROOT / "policies")))


_HZ = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int | None) -> tuple[float, float]:
    """CPU seconds of process `pid`: its own, and its reaped children's (0, 0 when it
    is not there)."""
    if pid is None:
        return 0.0, 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / _HZ, (cutime + cstime) / _HZ


def postmaster(dsn: str) -> int | None:
    """The server's postmaster when it runs on this machine: the parent of a backend
    (its reaped children's CPU time is what the backends spent)."""
    with psycopg.connect(dsn) as conn:
        (backend,) = conn.execute("SELECT pg_backend_pid()").fetchone()
        try:  # while the backend lives
            with open(f"/proc/{backend}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{ppid}/comm") as f:
                return ppid if "postgres" in f.read() else None
        except OSError:
            return None  # a server elsewhere: its CPU is not measured


def _forkserver() -> int | None:
    """replay's fork server (a child of this process): its reaped children are the workers."""
    for child in os.listdir("/proc"):
        if not child.isdigit():
            continue
        try:
            with open(f"/proc/{child}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != os.getpid():
                continue
            with open(f"/proc/{child}/cmdline", "rb") as f:
                if b"forkserver" in f.read():
                    return int(child)
        except OSError:
            continue
    return None


def _settle(server: int | None) -> float:
    """The server's backends' CPU so far, once the ones just closed are reaped."""
    time.sleep(0.3)
    return _cpu(server)[1]


def bench_pgbench(dsn: str, seconds: int, server: int | None = None) -> tuple[float, float, float]:
    """Transactions a second, and CPU µs a transaction of pgbench and of the server."""
    exe = _pgbench()
    user = _as_user()
    before, server0 = resource.getrusage(resource.RUSAGE_CHILDREN), _settle(server)
    out = subprocess.run([*user, exe, "-S", "-c", "4", "-j", "2", "-T", str(seconds), dsn],
                         check=True, capture_output=True, text=True).stdout
    after, server1 = resource.getrusage(resource.RUSAGE_CHILDREN), _settle(server)
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out) or re.search(
        r"tps = ([\d.]+)", out)
    n = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    client = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return float(m.group(1)), client / n * 1e6, (server1 - server0) / n * 1e6


def _as_user() -> list[str]:
    return []


def bench_replay(dsn: str, requests: int, parallel: int, server: int | None = None):
    """Requests a second over the whole run and from the first finished batch on, the
    report, and CPU µs a request of the workers, the parent and the server (the whole
    run: worker start-up included)."""
    first: list[float] = []

    def observe(p) -> None:
        if p.done and not first:
            first.append((time.perf_counter(), p.done))

    forkserver = _forkserver()
    workers0, server0, parent0 = _cpu(forkserver)[1], _settle(server), time.process_time()
    start = time.perf_counter()
    report = run_replay(v1=ROOT / "policies/rbac_v1.rego", v2=ROOT / "policies/rbac_v2.rego",
                        requests=requests, parallel=parallel, seed=1, dsn=dsn, observer=observe)
    end = time.perf_counter()
    parent = time.process_time() - parent0
    server1 = _settle(server)
    workers = _cpu(forkserver or _forkserver())[1] - workers0
    whole = report.requests / (end - start)
    t0, done0 = first[0] if first else (start, 0)
    steady = (report.requests - done0) / (end - t0) if end > t0 else whole
    per = 1e6 / report.requests
    return whole, steady, report, (workers * per, parent * per, (server1 - server0) * per)


def bench_shadow(n: int = 10000, repeat: int = 25) -> tuple[float, float, float, float]:
    """µs per request: the enforcing policy's `allows` bare, `authorize` without a shadow
    (the enforced path: evaluated, timed, counted), `authorize` with v2 in shadow (queued),
    and the shadow evaluation `drain()` does later. CPU time, the best of `repeat`
    interleaved rounds: time spent waiting for a CPU others hold does not count."""
    v1 = load_policy(ROOT / "policies/rbac_v1.rego")
    v2 = load_policy(ROOT / "policies/rbac_v2.rego")
    t = generate(Scale(enterprises=5, teams_per_enterprise=3, users_per_team=4),
                 actions=policy_actions(ROOT / "policies"))
    reqs = [request_input(u, a, r) for u in t.users for a in t.actions for r in t.resources]
    reqs = (reqs * (n // len(reqs) + 1))[:n]
    auth = ShadowAuthorizer(v1, v2, metrics=Metrics(prometheus=False), flush_every=None,
                            max_pending=n + 1)
    alone = ShadowAuthorizer(v1, None, metrics=Metrics(prometheus=False), flush_every=None)
    best_plain = best_alone = best_auth = best_drain = float("inf")
    for _ in range(repeat):
        s = time.process_time()
        for r in reqs:
            v1.allows(r)
        best_plain = min(best_plain, time.process_time() - s)
        s = time.process_time()
        for r in reqs:
            alone.authorize(r)
        best_alone = min(best_alone, time.process_time() - s)
        alone.metrics.flush()
        s = time.process_time()
        for r in reqs:
            auth.authorize(r)
        best_auth = min(best_auth, time.process_time() - s)
        s = time.process_time()
        auth.drain()
        best_drain = min(best_drain, time.process_time() - s)
    us = 1e6 / n
    return best_plain * us, best_alone * us, best_auth * us, best_drain * us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=800_000)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=10, help="pgbench's duration")
    ap.add_argument("--dsn", help="maintenance DSN of the server (default: an embedded one)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternate pgbench and replay this many times (a busy machine's load "
                    "changes by the minute; each round's ratio compares neighbours)")
    args = ap.parse_args()
    maintenance, srv = _server(args.dsn)
    rounds = []
    load = []
    try:
        bench_db, replay_db = _database(maintenance), _database(maintenance)
        init_pgbench(bench_db)
        seed_replay(replay_db)
        server = postmaster(bench_db)
        for _ in range(args.rounds):
            load.append(os.getloadavg()[0])
            tps, pg_client, pg_server = bench_pgbench(bench_db, args.seconds, server)
            whole, steady, report, cpu = bench_replay(replay_db, args.requests // args.rounds,
                                                       args.parallel, server)
            rounds.append((tps, whole, steady, report, (pg_client, pg_server), cpu))
    finally:
        if srv is not None:
            srv.cleanup()
    plain, alone, authorize, drain = bench_shadow()
    print(f"pgbench -S -c 4 -j 2 -T {args.seconds}, then replay --parallel {args.parallel} "
          f"with {args.requests // args.rounds:,} requests, {args.rounds} rounds "
          f"(load average before each round: {', '.join(f'{x:.1f}' for x in load)}):")
    print("  pgbench tx/s   replay req/s (whole / steady)   ratio (whole / steady)   db p50/p99 ms")
    for tps, whole, steady, report, _, _ in rounds:
        print(f"  {tps:12,.0f}   {whole:12,.0f} / {steady:<12,.0f}   {whole / tps:5.2f}x / "
              f"{steady / tps:5.2f}x          {report.latency_ms.db.p50} / {report.latency_ms.db.p99}"
              + ("" if report.complete else "  (incomplete)"))
    ratios = sorted(steady / tps for tps, _, steady, _, _, _ in rounds)
    print(f"  median steady-state ratio: {ratios[len(ratios) // 2]:.2f}x pgbench (target 1.5x)")
    if server is not None:
        print("CPU µs per pgbench transaction (client + server) and per replay request "
              "(workers + parent + server):")
        cpu_ratios = []
        for _, _, _, _, (c, sv), (w, p, rs) in rounds:
            cpu_ratios.append((c + sv) / (w + p + rs))
            print(f"  pgbench {c:5.1f} + {sv:5.1f} = {c + sv:5.1f}   replay {w:5.1f} + {p:4.1f} + {rs:4.1f} "
                  f"= {w + p + rs:5.1f}   ratio {cpu_ratios[-1]:4.2f}x")
        cpu_ratios.sort()
        print(f"  median CPU ratio: {cpu_ratios[len(cpu_ratios) // 2]:.2f}x (what the rates would be "
              "on the same CPUs, both bound by them alone)")
    print("shadow authorizer, µs per request:")
    print(f"  enforced path (authorize, no shadow) {alone:.2f}, with v2 in shadow {authorize:.2f}: "
          f"the shadow adds {100 * (authorize - alone) / alone:+.1f} %")
    print(f"  bare v1.allows {plain:.2f}: authorize with shadow is {100 * (authorize - plain) / plain:+.1f} % "
          "over it (timing and counting included)")
    print(f"  v2 shadow evaluation in drain(): {drain:.2f} (off the enforced path)")


if __name__ == "__main__":
    main()
