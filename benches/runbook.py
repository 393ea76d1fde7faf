"""The whole runbook's speed: each step's time next to the replay's own rate.

    python benches/runbook.py [--dsn DSN] [--v2 examples/unsafe/rbac_v2.rego]

Runs `policydiff runbook` (the library's `run_runbook`, the runbook's sizes: 50k, 250k
and 500k requests on 4, 4 and 6 workers) on a fresh embedded PostgreSQL in a temporary
directory (or on `--dsn`), and prints per step: wall time, requests, the step's rate
(replay, recording and analysis together) next to the replay's own rate (requests over
the replay's own elapsed time, from its progress reports), and their ratio; then the
track's total against the issue's target of 60 s on 2 cores. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", help="database (default: a fresh embedded server)")
    ap.add_argument("--v2", default="policies/rbac_v2.rego")
    args = ap.parse_args()
    os.chdir(REPO)  # the runbook's defaults are the repository's example files
    from policydiff.report.html import render_html
    from policydiff.runbook import Options, run_runbook

    work = Path(tempfile.mkdtemp(prefix="policydiff-bench-runbook-"))
    work.chmod(0o755)
    server = None
    dsn = args.dsn
    if dsn is None:
        import pgserver

        server = pgserver.get_server(work / "pgdata", cleanup_mode="delete")
        dsn = server.get_uri()
    replay_rate: dict[str, tuple[int, float]] = {}
    current: list[str] = [""]

    def observer(kind: str, payload) -> None:
        if kind == "start":
            current[0] = payload.name
            print(f"  {payload.title} …", file=sys.stderr, flush=True)
        elif kind == "progress" and payload.elapsed:
            replay_rate[current[0]] = (payload.done, payload.elapsed)

    try:
        started = time.perf_counter()
        outcome = run_runbook(Options(dsn=dsn, v2=args.v2, signoff="bench",
                                      output_dir=str(work / "out")), observer, html=render_html)
        total = time.perf_counter() - started
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'step':<48} {'time s':>7} {'requests':>9} {'step req/s':>11} "
          f"{'replay req/s':>13} {'ratio':>6}")
    for r in outcome.state.steps:
        line = f"{r.title:<48} {r.seconds:>7.1f}"
        if r.requests and r.name in replay_rate:
            done, elapsed = replay_rate[r.name]
            own = done / elapsed
            step = r.requests / r.seconds
            line += f" {r.requests:>9,} {step:>11,.0f} {own:>13,.0f} {step / own:>6.2f}"
        print(line + ("" if r.passed else "   STOP"))
    print(f"{'whole track':<48} {total:>7.1f}   (target: under 60 s on 2 cores; "
          f"{os.cpu_count()} cores here)")
    if outcome.instruction:
        print(outcome.instruction)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
