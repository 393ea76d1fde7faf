"""Replay files built from real inputs, for tests of `analyze` and the promotion gate.

The example policies are evaluated by `policydiff.load_policy` on requests drawn from a
real tenancy (seeded with `policydiff.db.generate`), the cells are counted by
`policydiff.tenancy.relation`, and the Prometheus counters and histograms are those of a
real `prometheus_client` registry: nothing here copies an expected number.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from policydiff import load_policy
from policydiff.diff import policy_info
from policydiff.results import Latency, Percentiles, ReplayCell, ReplayReport, ReplayRun
from policydiff.tenancy import Tenancy, relation, request_input

BUCKETS = (0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01)


def _pct(samples: list[float]) -> Percentiles:
    s = sorted(samples) or [0.0]

    def q(f: float) -> float:
        return s[min(len(s) - 1, int(f * len(s)))] * 1000

    return Percentiles(p50=q(0.5), p95=q(0.95), p99=q(0.99), max=s[-1] * 1000)


def replay_report(v1_path: str, v2_path: str, tenancy: Tenancy, *, requests: int, seed: int = 7,
                  shard: str | None = None, run_id: str | None = None,
                  engine_error_every: int = 0,
                  weights: dict[str, float] | None = None, floor: int = 0) -> ReplayReport:
    """A replay of `requests` requests drawn with `seed` (the slice `shard` of them),
    `floor` of each cell, the rest weighted by the action's entry in `weights`."""
    v1, v2 = load_policy(v1_path), load_policy(v2_path)
    triples = list(tenancy.requests())
    rng = random.Random(seed)
    # a traffic profile: each request's weight is its action's (1 unless named)
    # after `floor` requests of every cell (coverage), as replay's workload does
    by_cell: dict[tuple, list[int]] = {}
    for k, (u, a, r) in enumerate(triples):
        by_cell.setdefault((u.enterprise, u.role, a, relation(u, r)), []).append(k)
    drawn = [rng.choice(ks) for _, ks in sorted(by_cell.items()) for _ in range(floor)]
    w = [(weights or {}).get(action, 1.0) for _, action, _ in triples]
    drawn += rng.choices(range(len(triples)), weights=w, k=requests - len(drawn))
    i, n = (int(x) for x in shard.split("/")) if shard else (1, 1)
    mine = [t for k, t in enumerate(drawn) if k % n == i - 1]
    reg = CollectorRegistry()
    outcomes_c = Counter("rbac_v1_v2_comparison_total", "", ["outcome"], registry=reg)
    total_c = Counter("rbac_replay_requests_total", "", registry=reg)
    hist = {p: Histogram(f"rbac_{p}_latency_seconds", "", buckets=BUCKETS, registry=reg)
            for p in ("v1", "v2")}
    db_h = Histogram("rbac_db_lookup_seconds", "", buckets=BUCKETS, registry=reg)
    times: dict[str, list[float]] = {"v1": [], "v2": [], "db": []}
    cells: dict[tuple, list[int]] = {}
    outcomes = dict.fromkeys(("match", "v2_more_permissive", "v2_more_restrictive", "error"), 0)
    decided: dict[int, tuple[bool, bool, float, float, float]] = {}
    for k, t in enumerate(mine):
        user, action, res = triples[t]
        if t not in decided:  # each distinct request is evaluated once, and timed then
            t0 = time.perf_counter()
            inp = request_input(user, action, res)
            t1 = time.perf_counter()
            a1 = v1.allows(inp)
            t2 = time.perf_counter()
            a2 = v2.allows(inp)
            t3 = time.perf_counter()
            decided[t] = (a1, a2, t1 - t0, t2 - t1, t3 - t2)
        a1, a2, d_db, d_v1, d_v2 = decided[t]
        times["db"].append(d_db)
        times["v1"].append(d_v1)
        times["v2"].append(d_v2)
        db_h.observe(d_db)
        hist["v1"].observe(d_v1)
        hist["v2"].observe(d_v2)
        key = (user.enterprise, user.role, action, relation(user, res))
        acc = cells.setdefault(key, [0, 0, 0, 0])
        acc[0] += 1
        if engine_error_every and k % engine_error_every == 0:
            outcome = "error"
            acc[3] += 1
        elif a2 and not a1:
            outcome = "v2_more_permissive"
            acc[1] += 1
        elif a1 and not a2:
            outcome = "v2_more_restrictive"
            acc[2] += 1
        else:
            outcome = "match"
        outcomes[outcome] += 1
    for o, n in outcomes.items():
        outcomes_c.labels(outcome=o).inc(n)
    total_c.inc(len(mine))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    run = ReplayRun(v1=policy_info(v1, v1_path), v2=policy_info(v2, v2_path),
                    dsn="postgresql://app:***@localhost/test", requests=requests, parallel=1,
                    seed=seed, started=now, finished=now, run_id=run_id or uuid.uuid4().hex,
                    shard=shard)
    return ReplayReport(
        run=run, complete=True, requests=len(mine), errors=0, outcomes=outcomes,
        cells=tuple(ReplayCell(tenant=k[0], role=k[1], action=k[2], relation=k[3], requests=a[0],
                               v2_more_permissive=a[1], v2_more_restrictive=a[2], errors=a[3])
                    for k, a in sorted(cells.items())),
        latency_ms=Latency(v1=_pct(times["v1"]), v2=_pct(times["v2"]), db=_pct(times["db"])),
        metrics=generate_latest(reg).decode())


def write(report: ReplayReport, path: Path) -> Path:
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2))
    return path
