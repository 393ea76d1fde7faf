"""CLI: `policydiff analyze --input FILE… --output FILE` — the runbook's stop conditions
over replay files.

The files merge (`policydiff.runs`); the policies are those the runs recorded, at their
recorded paths unless `--v1`/`--v2` name the files elsewhere, and their sha256 must
match; the symbolic diff is recomputed over `--tenancy FILE` or the database (`--dsn`,
default `DATABASE_URL`, else the embedded server). Exit 0 passed, 1 a stop condition
hit, 2 bad input, 3 database unreachable.
"""

from __future__ import annotations

import argparse
import sys

from policydiff.cli.common import add_tenancy_flags, write_output
from policydiff.errors import ExitCode


def register(sub) -> None:
    p = sub.add_parser("analyze", help="runbook stop conditions on replay results",
                       description="Merge replay files and check the runbook's stop conditions.")
    p.add_argument("--input", metavar="FILE", nargs="+", required=True, help="replay files")
    p.add_argument("--output", metavar="FILE", required=True, help="where the report goes")
    p.add_argument("--classifications", metavar="FILE", help="classification rule file")
    p.add_argument("--format", default="json", choices=("text", "json", "html"),
                   help="format of --output (json: policydiff.analysis/1)")
    p.add_argument("--v1", metavar="P", help="v1 as run, if not at the path the run recorded")
    p.add_argument("--v2", metavar="P", help="v2 as run, if not at the path the run recorded")
    add_tenancy_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> ExitCode:
    from policydiff.analyze import analyze
    from policydiff.classify import load_rules
    from policydiff.report.promotion import analysis_text
    from policydiff.runs import load_run, merge

    merged = merge([load_run(path) for path in args.input])
    rules = load_rules(args.classifications) if args.classifications else None
    v1, v2 = load_sides(args.v1 or merged.v1.path, args.v2 or merged.v2.path,
                        merged.v1.decision, merged.v2.decision)
    report = analyze(merged, v1, v2, tenancy_or_database(args), rules)
    write_output(render_analysis(report, args.format), args.output, "analysis report")
    tty = sys.stdout.isatty()
    sys.stdout.write(analysis_text(report, width=terminal_width(tty), color=tty))
    return ExitCode.OK if report.passed else ExitCode.BLOCKED


def load_sides(v1_path: str, v2_path: str, v1_decision: str, v2_decision: str):
    from policydiff.policy import load_policy

    return load_policy(v1_path, decision=v1_decision), load_policy(v2_path, decision=v2_decision)


def tenancy_or_database(args: argparse.Namespace):
    """`--tenancy` or `--dsn`; with neither, the database replay uses by default."""
    from policydiff.cli.common import tenancy_of

    if args.tenancy is None and args.dsn is None:
        args.dsn = ""
    return tenancy_of(args)


def render_analysis(report, fmt: str) -> str:
    from policydiff.report.promotion import analysis_text, to_json

    if fmt == "html":
        from policydiff.report.html import render_html

        return render_html(analyses=[report])
    return to_json(report) if fmt == "json" else analysis_text(report)


def terminal_width(tty: bool) -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns if tty else 120
