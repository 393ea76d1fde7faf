"""CLI: `policydiff runbook` — the whole track, Step 0 to Step 5, in one command.

Defaults are the shipped example policies and classifications on the embedded database,
so the command alone runs the track. Progress goes to standard error, one line per step
(with replay's progress on a terminal); the promotion table and, at a hard stop, the
runbook's instruction go to standard output. Exit 0 when every row of the table is
checked, 1 at a hard stop, 2 bad input (including `--resume` after the policies
changed), 3 database unreachable.
"""

from __future__ import annotations

import argparse
import sys

from policydiff.errors import ExitCode


def register(sub) -> None:
    # Defaults live in `policydiff.runbook.Options`, which is imported only when the
    # track runs: registering the command must not cost every other command its imports.
    p = sub.add_parser("runbook", help="the whole track: snapshot, seed, replays, drill, gate",
                       description="Run the RBACv2 promotion runbook, Step 0 to Step 5.")
    p.add_argument("--dsn", help="database URL (default: DATABASE_URL, else the embedded server)")
    p.add_argument("--v1", metavar="P", help="the enforced policy (default policies/rbac_v1.rego)")
    p.add_argument("--v2", metavar="P", help="the new policy (default policies/rbac_v2.rego)")
    p.add_argument("--classifications", metavar="F",
                   help="classification rules (default classifications/rbac_v2.yaml; "
                        "'' for none)")
    p.add_argument("--signoff", metavar="NAME", help="the person who signs the promotion off")
    p.add_argument("--output-dir", metavar="DIR",
                   help="each step's files and the HTML report (default .policydiff/runbook)")
    p.add_argument("--resume", action="store_true",
                   help="continue after the last completed step of the track in --output-dir")
    p.add_argument("--latency-budget-ms", type=float, metavar="X",
                   help="v2's p95 budget for the gate (default 5)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> ExitCode:
    from policydiff.db import database_errors, origin
    from policydiff.report.html import render_html
    from policydiff.report.promotion import gate_text
    from policydiff.runbook import Options, run_runbook

    given = {k: getattr(args, k) for k in ("v1", "v2", "classifications", "output_dir")
             if getattr(args, k) is not None}
    if given.get("classifications") == "":
        given["classifications"] = None
    options = Options(**given, signoff=args.signoff, dsn=args.dsn, resume=args.resume,
                      latency_budget_ms=args.latency_budget_ms)
    with database_errors(origin(args.dsn)):
        outcome = run_runbook(options, _Progress(), html=render_html)
    if outcome.gate is not None:
        sys.stdout.write(gate_text(outcome.gate))
    if outcome.instruction:
        print(outcome.instruction)
    print(f"files: {outcome.output_dir}" + (f" (report: {outcome.output_dir}/report.html)"
                                            if outcome.gate is not None else ""))
    return ExitCode.OK if outcome.passed else ExitCode.BLOCKED


class _Progress:
    """One line per step on standard error; replay's progress only on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def __call__(self, kind: str, payload) -> None:
        if kind == "skip":
            print(f"  {payload.title}: done before (--resume)", file=sys.stderr)
        elif kind == "start":
            print(f"▶ {payload.title}", file=sys.stderr, flush=True)
        elif kind == "done":
            step, result = payload
            if self.tty:
                print("\r\033[K", end="", file=sys.stderr)
            mark = "✓" if result.passed else "✗"
            print(f"{mark} {step.title} ({result.seconds:.1f} s): {result.detail}",
                  file=sys.stderr, flush=True)
        elif kind == "progress" and self.tty:
            rate = payload.done / payload.elapsed if payload.elapsed else 0.0
            print(f"\r  {payload.done:,} of {payload.total:,} requests, {rate:,.0f}/s",
                  end="", file=sys.stderr, flush=True)
