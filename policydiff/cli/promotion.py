"""CLI: the promotion gate and the audited enforcement switch — `gate REPORT…`,
`promote`, `rollback [--drill]`, `status`.

Each records in the database's audit log (`--dsn`, default `DATABASE_URL`, else the
embedded server) and prints the flag exports to apply. Refusals are exit 1 and write
nothing; bad input is exit 2; an unreachable database is exit 3.
"""

from __future__ import annotations

import argparse
import sys

from policydiff.cli.analyze import terminal_width
from policydiff.cli.common import write_output
from policydiff.errors import ExitCode

DEFAULT_V1 = "policies/rbac_v1.rego"
DEFAULT_V2 = "policies/rbac_v2.rego"


def register(sub) -> None:
    def command(name: str, handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--dsn", help="database URL (default: DATABASE_URL, else the embedded server)")
        p.set_defaults(handler=_guarded(handler))
        return p

    p = command("gate", _gate, "the promotion-readiness table (runbook Step 5)")
    p.add_argument("reports", metavar="REPORT", nargs="*", help="analysis reports (JSON)")
    p.add_argument("--signoff", metavar="NAME", help="the person who signs the promotion off")
    p.add_argument("--latency-budget-ms", type=float, default=None, metavar="X",
                   help="v2's p95 must stay within X ms (default 5)")
    p.add_argument("--latency-factor", type=float, default=None, metavar="F",
                   help="and within F times v1's p95 (default 2)")
    p.add_argument("--format", default="text", choices=("text", "json", "html"))
    p.add_argument("--output", metavar="FILE", help="write the table here instead of stdout")
    p = command("promote", _promote, "switch to v2 enforcing, if the latest gate passed")
    add_policy_flags(p)
    p.add_argument("--ticket", metavar="ID", help="the change ticket (e.g. PIN-274)")
    p.add_argument("--reason", default="promotion after a passing gate", help="why")
    p = command("rollback", _rollback, "switch back to v1 enforcing (always allowed)")
    p.add_argument("--reason", default="rollback", help="why")
    p.add_argument("--drill", action="store_true",
                   help="promote, check, roll back, check, restore the pre-track snapshot into "
                        "a scratch database and verify it; record the drill")
    add_policy_flags(p)
    p.add_argument("--snapshot", default="pre-track", help="the snapshot the drill restores")
    p = command("status", _status, "the current mode and the history of the switch")
    p.add_argument("--format", default="text", choices=("text", "json"))


def add_policy_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--v1", metavar="P", default=DEFAULT_V1, help=f"v1 (default {DEFAULT_V1})")
    p.add_argument("--v2", metavar="P", default=DEFAULT_V2, help=f"v2 (default {DEFAULT_V2})")


def _guarded(handler):
    def run(args) -> ExitCode:
        from policydiff.db import database_errors, origin

        where = origin(getattr(args, "dsn", None), data_dir=getattr(args, "data_dir", None))
        with database_errors(where):
            return handler(args)

    return run


def _connect(args):
    from policydiff import db

    return db.connect(args.dsn)


def _tty(args) -> bool:
    return getattr(args, "output", None) is None and sys.stdout.isatty()


def _gate(args) -> ExitCode:
    from policydiff import promotion_gate as pg
    from policydiff.switch import actor, last_drill, record_gate

    reports = [pg.load_analysis(p) for p in args.reports]
    if not reports:  # refused before the database is touched
        pg.promotion_gate([], drill=None, signoff=args.signoff)
    with _connect(args) as conn:
        gate = pg.promotion_gate(
            reports, drill=last_drill(conn), signoff=args.signoff,
            latency_budget_ms=pg.DEFAULT_BUDGET_MS if args.latency_budget_ms is None
            else args.latency_budget_ms,
            latency_factor=pg.DEFAULT_FACTOR if args.latency_factor is None else args.latency_factor)
        record_gate(conn, gate, actor())
    write_output(render_gate(gate, [r.report for r in reports], args.format, _tty(args)),
                 args.output, "gate report")
    return ExitCode.OK if gate.passed else ExitCode.BLOCKED


def render_gate(gate, analyses, fmt: str, tty: bool = False) -> str:
    from policydiff.report.promotion import gate_text, to_json

    if fmt == "html":
        from policydiff.report.html import render_html

        return render_html(gate=gate, analyses=analyses)
    if fmt == "json":
        return to_json(gate)
    return gate_text(gate, width=terminal_width(tty), color=tty)


def policy_infos(v1_path: str, v2_path: str):
    from policydiff.diff import policy_info
    from policydiff.policy import load_policy

    return (policy_info(load_policy(v1_path), v1_path), policy_info(load_policy(v2_path), v2_path))


def _promote(args) -> ExitCode:
    from policydiff.db.snapshots import replay_workers
    from policydiff.switch import actor, promote

    v1, v2 = policy_infos(args.v1, args.v2)
    with _connect(args) as conn:
        done = promote(conn, v1=v1, v2=v2, who=actor(), reason=args.reason, ticket=args.ticket,
                       replaying=replay_workers(conn, conn.info.dbname))
    ticket = f" in {args.ticket}" if args.ticket else ""
    print(f"# promotion recorded{ticket} (audit #{done.event.id}, {done.event.at}, by "
          f"{done.event.actor}, gate #{done.event.detail.get('gate')})")
    print(done.mode.exports())
    return ExitCode.OK


def _rollback(args) -> ExitCode:
    from policydiff.switch import actor, rollback

    if args.drill:
        return _drill(args)
    with _connect(args) as conn:
        done = rollback(conn, who=actor(), reason=args.reason)
    print(f"# rollback recorded (audit #{done.event.id}, {done.event.at}, by {done.event.actor})")
    print(done.mode.exports())
    return ExitCode.OK


def _drill(args) -> ExitCode:
    from policydiff.drill import drill
    from policydiff.switch import actor

    policy_infos(args.v1, args.v2)  # bad policies are bad input, refused before connecting
    with _connect(args) as conn:
        result = drill(conn, args.v1, args.v2, who=actor(), snapshot=args.snapshot,
                       dsn=args.dsn)
    for check in result.checks:
        print(f"{'ok  ' if check.passed else 'FAIL'} {check.name}: {check.detail}")
    print(f"# drill {'passed' if result.passed else 'FAILED'} (audit #{result.event.id})")
    return ExitCode.OK if result.passed else ExitCode.BLOCKED


def _status(args) -> ExitCode:
    from policydiff.report.promotion import status_text, to_json
    from policydiff.switch import status

    with _connect(args) as conn:
        st = status(conn)
    tty = sys.stdout.isatty()
    sys.stdout.write(to_json(st) if args.format == "json"
                     else status_text(st, width=terminal_width(tty), color=tty))
    return ExitCode.OK
