"""CLI: `policydiff compare V1 V2` — the symbolic diff, its classification and gate.

Flags are DESIGN.md's: the tenancy (`--tenancy FILE` or `--dsn DSN`) or the symbolic
matrix, `--dimension NAME=PATH` for other input shapes, decisions and data documents,
the classification file and `--strict`, the report format and file, and `--git-base
REF` to compare a policy as it was at REF with the working tree. Exit 0 when the gate
passes, 1 when it blocks, 2 for bad input, 3 when the database cannot be reached.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from policydiff.cli.common import add_tenancy_flags, tenancy_of, write_output
from policydiff.errors import ExitCode, InputError


def register(sub) -> None:
    p = sub.add_parser("compare", help="symbolic diff of two policies, classified and gated",
                       description="Compare V1 with V2 over the tenant x role x action x relation "
                       "matrix and gate the change.")
    p.add_argument("v1", metavar="V1", help="the enforced policy (.rego, .yaml, .toml)")
    p.add_argument("v2", metavar="V2", nargs="?",
                   help="the new policy; with --git-base and one path, that path at both sides")
    add_tenancy_flags(p)
    p.add_argument("--dimension", metavar="NAME=PATH", action="append", default=[],
                   help="where a dimension lives in the input, e.g. role=input.user.role")
    p.add_argument("--decision", metavar="REF", help="decision rule of both policies")
    p.add_argument("--v1-decision", metavar="REF", help="decision rule of V1")
    p.add_argument("--v2-decision", metavar="REF", help="decision rule of V2")
    p.add_argument("--data", metavar="[REF=]FILE", action="append", default=[],
                   help="data document (JSON) for both policies, at the root of `data` or at "
                   "REF (e.g. roles=roles.json for data.roles); repeatable")
    p.add_argument("--classifications", metavar="FILE", help="classification rule file")
    p.add_argument("--strict", action="store_true", help="stale rules fail the gate")
    p.add_argument("--format", default="text",
                   choices=("text", "json", "markdown", "sarif", "junit"))
    p.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--git-base", metavar="REF",
                   help="compare the policies as they were at REF (V1) with the working tree (V2)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> ExitCode:
    from policydiff import load_policy
    from policydiff.classify import classify, load_rules
    from policydiff.diff import diff, policy_info
    from policydiff.gate import gate
    from policydiff.matrix import dimensions
    from policydiff.report import render

    v1_path, v2_path, base_dir = _sides(args)
    dims = dimensions(args.dimension)
    rules = load_rules(args.classifications) if args.classifications else None
    tenancy = tenancy_of(args)
    v1_decision = args.v1_decision or args.decision
    v2_decision = args.v2_decision or args.decision
    data = [_data(spec) for spec in args.data]
    v1 = load_policy([v1_path, *data], decision=v1_decision)
    v2 = load_policy([v2_path, *data], decision=v2_decision)
    shown_v1 = _shown(v1_path, base_dir)
    report = diff(v1, v2, tenancy=tenancy, dims=dims,
                  v1_info=policy_info(v1, shown_v1), v2_info=policy_info(v2, v2_path))
    if base_dir is not None:
        report = _relabel(report, base_dir)
    report = gate(classify(report, rules), rules, strict=args.strict)
    tty = args.output is None and sys.stdout.isatty()
    # a terminal's own width; 120 columns in files and CI logs (the tenancy table has 7)
    width = shutil.get_terminal_size((120, 24)).columns if tty else 120
    text = render(report, args.format, rules=rules, color=tty, width=width)
    write_output(text, args.output, "report")
    return ExitCode.OK if report.gate.passed else ExitCode.BLOCKED


def _sides(args) -> tuple[str, str, str | None]:
    """The two policy files; with --git-base, V1 is materialised from git."""
    if args.git_base is None:
        if args.v2 is None:
            raise InputError.at("missing_policy", "compare needs V1 and V2 (or --git-base REF and one path)")
        return args.v1, args.v2, None
    from policydiff.gitbase import materialize

    base = materialize(args.git_base, args.v1)
    v2 = args.v2 or args.v1
    return str(base), v2, str(base.parent)


def _shown(path: str, base_dir: str | None) -> str:
    if base_dir is None:
        return path
    return str(Path(path).relative_to(_root(base_dir)))


def _root(base_dir: str) -> Path:
    # materialize keeps the repository-relative directories under its temporary root.
    p = Path(base_dir)
    while p.parent != p and not p.name.startswith("policydiff-git-"):
        p = p.parent
    return p


def _relabel(report, base_dir: str):
    """Provenance of the base side names `path@REF`, not the temporary copy."""
    import msgspec

    prefix = str(_root(base_dir)) + "/"
    ds = tuple(msgspec.structs.replace(d, v1_rules=tuple(r.replace(prefix, "") for r in d.v1_rules),
                                       v2_rules=tuple(r.replace(prefix, "") for r in d.v2_rules))
               for d in report.discrepancies)
    return msgspec.structs.replace(report, discrepancies=ds)


def _data(spec: str):
    """`FILE`, or `REF=FILE` to mount the document at `data.REF`."""
    ref, sep, path = spec.partition("=")
    if not sep:
        return spec
    import json

    from policydiff.source import Span

    from policydiff.documents import read_text

    try:
        doc = json.loads(read_text(path, "data"))
    except json.JSONDecodeError as e:
        raise InputError.at("bad_json", e.msg, Span(file=path, line=e.lineno, col=e.colno)) from None
    keys = [k for k in ref.split(".") if k]
    if keys[:1] == ["data"]:
        keys = keys[1:]
    if not keys:
        raise InputError.at("bad_data", f"`{ref}` is not a data reference like `roles`")
    for k in reversed(keys):
        doc = {k: doc}
    return doc

