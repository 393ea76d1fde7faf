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

It prints the figures side by side and the ratios; nothing here asserts.
"""

from __future__ import annotations

import argparse
import re
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


def bench_pgbench(dsn: str, seconds: int) -> float:
    exe = _pgbench()
    user = _as_user()
    out = subprocess.run([*user, exe, "-S", "-c", "4", "-j", "2", "-T", str(seconds), dsn],
                         check=True, capture_output=True, text=True).stdout
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out) or re.search(
        r"tps = ([\d.]+)", out)
    return float(m.group(1))


def _as_user() -> list[str]:
    return []


def bench_replay(dsn: str, requests: int, parallel: int) -> tuple[float, float, object]:
    first: list[float] = []

    def observe(p) -> None:
        if p.done and not first:
            first.append((time.perf_counter(), p.done))

    start = time.perf_counter()
    report = run_replay(v1=ROOT / "policies/rbac_v1.rego", v2=ROOT / "policies/rbac_v2.rego",
                        requests=requests, parallel=parallel, seed=1, dsn=dsn, observer=observe)
    end = time.perf_counter()
    whole = report.requests / (end - start)
    t0, done0 = first[0] if first else (start, 0)
    steady = (report.requests - done0) / (end - t0) if end > t0 else whole
    return whole, steady, report


def bench_shadow(n: int = 10000, repeat: int = 15) -> tuple[float, float, float, float]:
    """µs per request: the enforcing policy's `allows` bare, `authorize` without a shadow
    (the enforced path: evaluated, timed, counted), `authorize` with v2 in shadow (queued),
    and the shadow evaluation `drain()` does later."""
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
        s = time.perf_counter()
        for r in reqs:
            v1.allows(r)
        best_plain = min(best_plain, time.perf_counter() - s)
        s = time.perf_counter()
        for r in reqs:
            alone.authorize(r)
        best_alone = min(best_alone, time.perf_counter() - s)
        alone.metrics.flush()
        s = time.perf_counter()
        for r in reqs:
            auth.authorize(r)
        best_auth = min(best_auth, time.perf_counter() - s)
        s = time.perf_counter()
        auth.drain()
        best_drain = min(best_drain, time.perf_counter() - s)
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
    try:
        bench_db, replay_db = _database(maintenance), _database(maintenance)
        init_pgbench(bench_db)
        seed_replay(replay_db)
        for _ in range(args.rounds):
            tps = bench_pgbench(bench_db, args.seconds)
            whole, steady, report = bench_replay(replay_db, args.requests // args.rounds, args.parallel)
            rounds.append((tps, whole, steady, report))
    finally:
        if srv is not None:
            srv.cleanup()
    plain, alone, authorize, drain = bench_shadow()
    print(f"pgbench -S -c 4 -j 2 -T {args.seconds}, then replay --parallel {args.parallel} "
          f"with {args.requests // args.rounds:,} requests, {args.rounds} rounds:")
    print("  pgbench tx/s   replay req/s (whole / steady)   ratio (whole / steady)   db p50/p99 ms")
    for tps, whole, steady, report in rounds:
        print(f"  {tps:12,.0f}   {whole:12,.0f} / {steady:<12,.0f}   {whole / tps:5.2f}x / "
              f"{steady / tps:5.2f}x          {report.latency_ms.db.p50} / {report.latency_ms.db.p99}"
              + ("" if report.complete else "  (incomplete)"))
    ratios = sorted(steady / tps for tps, _, steady, _ in rounds)
    print(f"  median steady-state ratio: {ratios[len(ratios) // 2]:.2f}x pgbench (target 1.5x)")
    print("shadow authorizer, µs per request:")
    print(f"  enforced path (authorize, no shadow) {alone:.2f}, with v2 in shadow {authorize:.2f}: "
          f"the shadow adds {100 * (authorize - alone) / alone:+.1f} %")
    print(f"  bare v1.allows {plain:.2f}: authorize with shadow is {100 * (authorize - plain) / plain:+.1f} % "
          "over it (timing and counting included)")
    print(f"  v2 shadow evaluation in drain(): {drain:.2f} (off the enforced path)")


if __name__ == "__main__":
    main()
