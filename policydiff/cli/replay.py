"""CLI: `policydiff replay` — the shadow authorizer under load against the database.

Parses docs/design.md's flags, calls `policydiff.replay.run_replay` with a progress view
(`policydiff.report.replay`) on standard error, writes the `policydiff.replay/1` report
to `--output` — also when the run stops early, then with `"complete": false` — and
prints a summary. Exit 0 when the run completed, 3 when it did not (database gone, a
worker lost, interrupted), 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys

from policydiff.cli.common import write_output
from policydiff.errors import ExitCode


def register(sub) -> None:
    p = sub.add_parser("replay", help="shadow load against the database: v1 enforces, v2 in shadow",
                       description="Replay requests over the database's tenancy with v1 enforcing "
                       "and v2 in shadow, every request's facts read from the database.")
    p.add_argument("--v1", required=True, metavar="P", help="the enforced policy")
    p.add_argument("--v2", required=True, metavar="P", help="the shadow policy")
    p.add_argument("--requests", required=True, type=int, metavar="N", help="requests of the workload")
    p.add_argument("--parallel", type=int, default=1, metavar="K", help="worker processes (default 1)")
    p.add_argument("--output", required=True, metavar="FILE", help="the replay report (JSON)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the workload (default 0)")
    p.add_argument("--dsn", metavar="DSN", help="database (default DATABASE_URL, else the embedded one)")
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics here")
    p.add_argument("--profile", metavar="FILE",
                   help="traffic profile (YAML), or OPA decision-log lines (.jsonl) to build one")
    p.add_argument("--shard", metavar="I/N", help="run the I-th of N slices of the workload")
    p.add_argument("--churn", type=float, default=0.0, metavar="RATE",
                   help="also change memberships and roles, RATE transactions a second")
    p.add_argument("--decision-log", metavar="FILE", help="write discrepancies as OPA decision-log lines")
    p.add_argument("--decision", metavar="REF", help="decision rule of both policies")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> ExitCode:
    import msgspec

    from policydiff.replay import run_replay
    from policydiff.report.replay import ProgressView, summary

    # `--output` and `--decision-log` were checked writable before the run (cli/common.py)
    with ProgressView(sys.stderr, tty=sys.stderr.isatty()) as view:
        report = run_replay(v1=args.v1, v2=args.v2, requests=args.requests, parallel=args.parallel,
                            seed=args.seed, dsn=args.dsn, metrics_port=args.metrics_port,
                            profile=args.profile, shard=args.shard, churn=args.churn,
                            decision_log=args.decision_log, v1_decision=args.decision,
                            v2_decision=args.decision, observer=view)
    write_output(msgspec.json.format(msgspec.json.encode(report).decode()) + "\n", args.output,
                 "replay report")
    sys.stderr.write(summary(report, args.output))
    _record(args, report)
    return exit_code(report)


def exit_code(report) -> ExitCode:
    """0 for a run that completed without trouble; 3 when it stopped early or had
    trouble on the way (a worker crashed, the churn writer failed), even if every
    request was counted in the end: such a run is not passed as clean."""
    return ExitCode.OK if report.complete and not report.problems else ExitCode.INFRA


def _record(args: argparse.Namespace, report) -> None:
    """The run goes into the audit log: a gate recorded before it no longer speaks for
    the evidence, so `promote` refuses until the new run is analysed and gated."""
    from policydiff import db
    from policydiff.errors import InfraError
    from policydiff.switch import actor, record_replay

    try:
        with db.connect(args.dsn) as conn:
            record_replay(conn, report, actor(), args.output)
    except InfraError as e:
        sys.stderr.write(f"policydiff: the run is not in the audit log: {e}\n")
