"""CLI: `policydiff compare V1 V2` — the symbolic diff, its classification and gate.

Flags are docs/design.md's: the tenancy (`--tenancy FILE` or `--dsn DSN`) or the symbolic
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
from policydiff.errors import Code, ExitCode, InputError
from policydiff.source import Span


def register(sub) -> None:
    p = sub.add_parser("compare", help="symbolic diff of two policies, classified and gated",
                       description="Compare V1 with V2 over the tenant x role x action x relation "
                       "matrix and gate the change.")
    p.add_argument("paths", metavar="V1 V2", nargs="*",
                   help="the enforced and the new policy (each a file or a directory); with "
                   "--git-base, the changed files, each compared with its own base version")
    p.add_argument("--v1", nargs="+", default=[], metavar="PATH",
                   help="the enforced policy as several files or directories")
    p.add_argument("--v2", nargs="+", default=[], metavar="PATH",
                   help="the new policy as several files or directories")
    p.add_argument("--v1-data", action="append", default=[], metavar="FILE",
                   help="a data document (JSON or YAML) for V1 only; repeatable")
    p.add_argument("--v2-data", action="append", default=[], metavar="FILE",
                   help="a data document (JSON or YAML) for V2 only; repeatable")
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
    if args.git_base is not None:
        return _per_file(args)
    if args.v1 or args.v2:
        if not (args.v1 and args.v2) or args.paths:
            raise InputError.at(Code.MISSING_POLICY, "give both --v1 and --v2, and no V1 V2 with them",
                                Span(file="--v2" if not args.v2 else "--v1" if not args.v1 else "V1 V2"))
        return _compare(args, args.v1, args.v2)
    if len(args.paths) != 2:
        raise InputError.at(Code.MISSING_POLICY, "compare needs V1 and V2 (or --v1 PATH... --v2 "
                            "PATH..., or --git-base REF and the changed files)", Span(file="V1 V2"))
    return _compare(args, [args.paths[0]], [args.paths[1]])


def _compare(args, v1_paths: list[str], v2_paths: list[str], base=None) -> ExitCode:
    """One compare of V1 (files and directories) with V2; `base` is `(copy, label)` when
    V1 is a file materialised from git."""
    from policydiff.bundle import expand
    from policydiff.classify import classify, load_rules
    from policydiff.diff import diff, policy_info
    from policydiff.gate import gate
    from policydiff.matrix import dimensions
    from policydiff.policy import load_policy
    from policydiff.report import render

    dims = dimensions(args.dimension)
    rules = load_rules(args.classifications) if args.classifications else None
    tenancy = tenancy_of(args)
    v1_decision = args.v1_decision or args.decision
    v2_decision = args.v2_decision or args.decision
    data = [_data(spec) for spec in args.data]
    v1 = load_policy([*expand(v1_paths), *data, *map(_side_data, args.v1_data)], decision=v1_decision)
    v2 = load_policy([*expand(v2_paths), *data, *map(_side_data, args.v2_data)], decision=v2_decision)
    shown_v1 = base[1] if base else " ".join(v1_paths)
    report = diff(v1, v2, tenancy=tenancy, dims=dims,
                  v1_info=policy_info(v1, shown_v1), v2_info=policy_info(v2, " ".join(v2_paths)))
    if base is not None:
        report = _relabel(report, str(base[0]), base[1])
    report = gate(classify(report, rules), rules, strict=args.strict)
    tty = args.output is None and sys.stdout.isatty()
    # a terminal's own width; 120 columns in files and CI logs (the tenancy table has 7)
    width = shutil.get_terminal_size((120, 24)).columns if tty else 120
    text = render(report, args.format, rules=rules, color=tty, width=width)
    write_output(text, args.output, "report")
    return ExitCode.OK if report.gate.passed else ExitCode.BLOCKED


def _per_file(args) -> ExitCode:
    """`--git-base REF FILE...`, as pre-commit calls it: each changed policy is compared
    with its own version at REF; files that are not policies (classification files,
    other configuration) are skipped with a note, and so are policies new since REF
    among several files (one file named alone must exist at REF)."""
    from policydiff.gitbase import materialize

    paths = args.paths
    if not paths:
        raise InputError.at(Code.MISSING_POLICY, "--git-base needs the policy files to compare",
                            Span(file="--git-base"))
    if args.output and len(paths) > 1:
        raise InputError.at(Code.BAD_FLAG, "--output takes one report; with several files, "
                            "compare them one at a time", Span(file="--output"))
    worst = ExitCode.OK
    compared = 0
    for path in paths:
        if not _is_policy(path):
            print(f"policydiff: skipped `{path}`: not a policy", file=sys.stderr)
            continue
        try:
            base = materialize(args.git_base, path)
        except InputError as e:
            if e.code != Code.MISSING_AT_GIT_REF or len(paths) == 1:
                raise
            print(f"policydiff: skipped `{path}`: new since `{args.git_base}`", file=sys.stderr)
            continue
        compared += 1
        worst = max(worst, _compare(args, [str(base)], [path], (base, f"{path}@{args.git_base}")))
    return worst


def _is_policy(path: str) -> bool:
    """A `.rego` file, or a role table: YAML or TOML with top-level `roles` and `package`
    (a classification file has `rules`; other configuration neither)."""
    suffix = Path(path).suffix
    if suffix == ".rego":
        return True
    if suffix not in (".yaml", ".yml", ".toml"):
        return False
    from policydiff.documents import load_yaml, read_text

    text = read_text(path, "file")
    if suffix == ".toml":
        import tomllib

        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return True  # let the role table reader report it
    else:
        try:
            doc = load_yaml(text, path).data
        except InputError:
            return True
    return isinstance(doc, dict) and "roles" in doc and "package" in doc


def _relabel(report, copy: str, label: str):
    """Provenance of the base side names `path@REF`, not the temporary copy."""
    import msgspec

    def fix(where: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(w.replace(copy, label) for w in where)

    ds = tuple(msgspec.structs.replace(d, v1_rules=fix(d.v1_rules), v2_rules=fix(d.v2_rules))
               for d in report.discrepancies)
    return msgspec.structs.replace(report, discrepancies=ds)


def _side_data(path: str) -> dict:
    """A data document given for one side only, at the root of `data`."""
    from policydiff.policy import data_object, read_document

    return data_object(read_document(path), path)


def _data(spec: str):
    """`FILE`, or `REF=FILE` to mount the document at `data.REF`."""
    ref, sep, path = spec.partition("=")
    if not sep:
        return spec
    import re

    from policydiff.policy import read_json

    keys = ref.split(".")
    if keys[:1] == ["data"]:
        keys = keys[1:]
    if not keys or not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) for k in keys):
        raise InputError.at(Code.BAD_DATA, f"`{ref}` is not a data reference like `roles`",
                            Span(file="--data"))
    doc = read_json(path)
    for k in reversed(keys):
        doc = {k: doc}
    return doc

