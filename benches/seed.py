"""Seeding speed: policydiff's COPY seed next to a plain INSERT loop and pgbench's init.

    python benches/seed.py [--enterprises 10000] [--dsn DSN] [--skip-insert]

Each contender writes into its own fresh database on the same server (the `--dsn`
server, `DATABASE_URL`'s, else an embedded one in a temporary directory), and the
figures are printed side by side: wall time, rows written, rows per second. The INSERT
loop writes the same tenancy row by row (executemany, one transaction); pgbench's own
client-side init (`pgbench -i -I dtg`) is given the scale whose row count is closest to
the tenancy's. Nothing here asserts: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import conninfo

from policydiff import db
from policydiff.db import embedded
from policydiff.db.facts import FACT_TABLES


def _database(maintenance: str) -> str:
    name = f"pdbench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop(maintenance: str, name: str) -> None:
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _dsn_for(maintenance: str, name: str) -> str:
    return conninfo.make_conninfo(maintenance, dbname=name)


def bench_copy(dsn: str, tenancy) -> tuple[float, int]:
    with db.connect(dsn) as conn:
        start = time.perf_counter()
        result = db.seed(conn, tenancy)
        return time.perf_counter() - start, sum(result.counts.values())


def bench_insert(dsn: str, tenancy) -> tuple[float, int]:
    with db.connect(dsn) as conn:
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("TRUNCATE " + ", ".join(f"policydiff.{t}" for t in FACT_TABLES))
            batches = [
                ("INSERT INTO policydiff.enterprises (id) VALUES (%s)", [(e.id,) for e in tenancy.enterprises]),
                ("INSERT INTO policydiff.teams (id, enterprise_id) VALUES (%s, %s)",
                 [(t, e.id) for e in tenancy.enterprises for t in e.teams]),
                ("INSERT INTO policydiff.users (id, enterprise_id, role) VALUES (%s, %s, %s)",
                 [(u.id, u.enterprise, u.role) for u in tenancy.users]),
                ("INSERT INTO policydiff.team_members (user_id, team_id) VALUES (%s, %s)",
                 [(u.id, t) for u in tenancy.users for t in u.teams]),
                ("INSERT INTO policydiff.resources (id, kind, enterprise_id, team_id) VALUES (%s, %s, %s, %s)",
                 [(r.id, r.kind, r.enterprise, r.team) for r in tenancy.resources]),
                ("INSERT INTO policydiff.actions (name) VALUES (%s)", [(a,) for a in tenancy.actions]),
            ]
            rows = 0
            for statement, params in batches:
                cur.executemany(statement, params)
                rows += len(params)
        return time.perf_counter() - start, rows


def bench_pgbench(dsn: str, rows: int) -> tuple[float, int] | None:
    exe = shutil.which("pgbench")
    if exe is None:
        return None
    scale = max(1, round(rows / 100_000))  # pgbench_accounts holds 100,000 rows per scale unit
    start = time.perf_counter()
    subprocess.run([exe, "-i", "-I", "dtg", "-s", str(scale), "-q", dsn], check=True, capture_output=True)
    return time.perf_counter() - start, scale * (100_000 + 10 + 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--teams-per-enterprise", type=int, default=2)
    parser.add_argument("--users-per-team", type=int, default=3)
    parser.add_argument("--dsn")
    parser.add_argument("--skip-insert", action="store_true", help="leave out the (slow) INSERT loop")
    args = parser.parse_args(argv)

    tmp = None
    if args.dsn or os.environ.get("DATABASE_URL"):
        target = db.resolve_dsn(args.dsn)
        maintenance = conninfo.make_conninfo(target, dbname="postgres")
    else:
        tmp = Path(tempfile.mkdtemp(prefix="policydiff-bench-"))
        maintenance = conninfo.make_conninfo(embedded.embedded_dsn(tmp / "pgdata"), dbname="postgres")

    scale = db.Scale(enterprises=args.enterprises, teams_per_enterprise=args.teams_per_enterprise,
                     users_per_team=args.users_per_team)
    start = time.perf_counter()
    tenancy = db.generate(scale)
    generated = time.perf_counter() - start
    print(f"tenancy: {len(tenancy.enterprises)} enterprises, {len(tenancy.users)} users, "
          f"{len(tenancy.resources)} resources (generated in {generated:.2f} s)")

    contenders = [("policydiff seed (COPY)", lambda d: bench_copy(d, tenancy))]
    if not args.skip_insert:
        contenders.append(("INSERT loop (executemany)", lambda d: bench_insert(d, tenancy)))
    results: list[tuple[str, tuple[float, int] | None]] = []
    copy_rows = 0
    for label, run in contenders:
        name = _database(maintenance)
        try:
            results.append((label, run(_dsn_for(maintenance, name))))
            copy_rows = copy_rows or results[-1][1][1]
        finally:
            _drop(maintenance, name)
    name = _database(maintenance)
    try:
        results.append(("pgbench -i (client-side)", bench_pgbench(_dsn_for(maintenance, name), copy_rows)))
    finally:
        _drop(maintenance, name)

    print(f"{'contender':<28} {'seconds':>9} {'rows':>10} {'rows/s':>12}")
    for label, figures in results:
        if figures is None:
            print(f"{label:<28} {'n/a':>9}")
            continue
        seconds, rows = figures
        print(f"{label:<28} {seconds:>9.2f} {rows:>10} {rows / seconds:>12.0f}")
    if tmp is not None:
        embedded.stop(tmp / "pgdata")
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
