"""CLI: the `db` command group — migrate, url, stop, seed, verify, dump, snapshots.

Every subcommand takes `--dsn` (default `DATABASE_URL`, else the embedded server) and
`--data-dir` (where the embedded server keeps its data). Handlers call
`policydiff.db`, render through `policydiff.report.db`, and return an exit code; a failed verification is
exit 1, bad input 2, an unreachable database 3.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from policydiff.errors import Code, Diagnostic, ExitCode, InputError, render
from policydiff.source import Span


def register(sub) -> None:
    db = sub.add_parser("db", help="the live database: schema, seed, verify, snapshots")
    dbsub = db.add_subparsers(dest="db_command", metavar="COMMAND", parser_class=type(db))
    dbsub.required = True

    def command(name: str, handler, help: str) -> argparse.ArgumentParser:
        p = dbsub.add_parser(name, help=help)
        p.add_argument("--dsn", help="database URL (default: DATABASE_URL, else the embedded server)")
        p.add_argument("--data-dir", type=Path, help="the embedded server's data directory (default: .policydiff/pgdata)")
        p.set_defaults(handler=_guarded(handler))
        return p

    command("migrate", _migrate, "apply the schema migrations")
    command("url", _url, "start the database if it is embedded and print its URI (for psql)")
    command("stop", _stop, "stop the embedded server (refuses --dsn: a server given by DSN is not ours)")
    p = command("seed", _seed, "write a test tenancy (default: the runbook's minimum)")
    p.add_argument("--tenancy", type=Path, help="seed exactly this tenancy file (JSON or YAML)")
    p.add_argument("--enterprises", type=int, help="number of enterprises")
    p.add_argument("--teams-per-enterprise", type=int, help="teams in each enterprise")
    p.add_argument("--users-per-team", type=int, help="users in each team (plus one admin and one system user per enterprise)")
    p.add_argument("--resources-per-team", type=int, help="project resources in each team")
    p = command("verify", _verify, "check the runbook's minimums and the facts' integrity")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p = command("dump", _dump, "write the facts as a tenancy file")
    p.add_argument("--output", "-o", "--tenancy", dest="output", required=True, metavar="FILE",
                   help="output file (.json, or .yaml/.yml for YAML), `-` for standard output "
                   "(`--tenancy` is the old name of this flag)")
    p.add_argument("--format", choices=("json", "yaml"),
                   help="default: by the file's suffix, JSON on standard output")
    p = command("snapshot", _snapshot, "take a rollback point")
    p.add_argument("name")
    p = command("restore", _restore, "restore a rollback point")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="restore even while replay workers are connected")
    p = command("snapshots", _snapshots, "list the rollback points")
    p.add_argument("--format", choices=("text", "json"), default="text")


def _guarded(handler):
    """Database errors the library did not anticipate still end as exit 3, not a traceback."""

    def run(args) -> ExitCode:
        from policydiff.db import database_errors, origin

        where = origin(getattr(args, "dsn", None), data_dir=getattr(args, "data_dir", None))
        with database_errors(where):
            return handler(args)

    return run


def _show():
    """The renderer of the `db` commands (imported when one runs: rich and psycopg are
    not paid for by `--help`)."""
    from policydiff.report import db as show

    return show


def _connect(args):
    from policydiff import db

    return db.connect(args.dsn, data_dir=args.data_dir)


def _migrate(args) -> ExitCode:
    from policydiff.db.migrate import applied

    with _connect(args) as conn:  # connect migrates
        names = applied(conn)
    _show().message(f"schema at {names[-1] if names else 'nothing'} ({len(names)} migrations)")
    return ExitCode.OK


def _url(args) -> ExitCode:
    from policydiff.db import embedded
    from policydiff.db.connection import display, resolve_dsn

    if args.dsn or _env_dsn():
        print(display(resolve_dsn(args.dsn)))
    else:
        print(embedded.embedded_dsn(args.data_dir, keep_running=True))
    return ExitCode.OK


def _stop(args) -> ExitCode:
    from policydiff.db import embedded

    if args.dsn:  # it would read as "stop that server", which is not ours to stop
        raise InputError.at(Code.BAD_FLAG, "`db stop` stops only the embedded server; `--dsn` names "
                            "a server policydiff does not manage", Span(file="--dsn"),
                            help="drop `--dsn` (give `--data-dir` for another embedded server)")
    stopped = embedded.stop(args.data_dir)
    _show().message("stopped" if stopped else "not running", stderr=True)
    return ExitCode.OK


def _env_dsn() -> str | None:
    import os

    return os.environ.get("DATABASE_URL") or None


def _seed(args) -> ExitCode:
    from policydiff import db
    from policydiff.tenancy import load_tenancy

    scale_flags = {
        "enterprises": args.enterprises,
        "teams_per_enterprise": args.teams_per_enterprise,
        "users_per_team": args.users_per_team,
        "resources_per_team": args.resources_per_team,
    }
    given = {k: v for k, v in scale_flags.items() if v is not None}
    if args.tenancy and given:
        raise InputError.at(Code.CONFLICTING_FLAGS, "`--tenancy` cannot be combined with scale flags",
                            Span(file="--tenancy"))
    if args.tenancy:
        tenancy = load_tenancy(args.tenancy)
    else:
        tenancy = db.generate(db.Scale(**given), db.policy_actions())
    show = _show()
    err = show.console(stderr=True)
    with _connect(args) as conn:
        result = db.seed(conn, tenancy, lambda e: err.print(f"  {e.table}: {e.rows} rows"))
    counts = ", ".join(f"{n} {t}" for t, n in result.counts.items())
    show.message(f"seeded {counts}")
    return ExitCode.OK


def _verify(args) -> ExitCode:
    from policydiff import db

    with _connect(args) as conn:
        report = db.verify(conn)
    if args.format == "json":
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    else:
        _show().verify(report)
    for problem in report.problems:
        print(render(problem), file=sys.stderr)
    return ExitCode.OK if report.passed else ExitCode.BLOCKED


def _dump(args) -> ExitCode:
    from policydiff import db

    with _connect(args) as conn:
        tenancy = db.load_tenancy(conn)
    fmt = args.format or ("yaml" if Path(args.output).suffix.lower() in (".yaml", ".yml") else "json")
    data = msgspec.yaml.encode(tenancy) if fmt == "yaml" else msgspec.json.format(
        msgspec.json.encode(tenancy), indent=2) + b"\n"
    if args.output == "-":
        sys.stdout.write(data.decode())
        return ExitCode.OK
    try:
        Path(args.output).write_bytes(data)
    except OSError as e:
        raise InputError(Diagnostic(code=Code.UNWRITABLE_FILE, message=f"cannot write tenancy: {e.strerror}",
                                    span=Span(file=str(args.output)))) from None
    _show().message(
        f"wrote {len(tenancy.enterprises)} enterprises, {len(tenancy.users)} users, "
        f"{len(tenancy.resources)} resources, {len(tenancy.actions)} actions to {args.output}", stderr=True)
    return ExitCode.OK


def _backend(args):
    from policydiff.db import migrate, open_connection, resolve_dsn
    from policydiff.db.snapshots import backend

    dsn = resolve_dsn(args.dsn, data_dir=args.data_dir)
    with open_connection(dsn) as conn:  # the schema is part of what a snapshot keeps
        migrate(conn)
    return backend(dsn)


def _snapshot(args) -> ExitCode:
    snap = _backend(args).create(args.name)
    _show().message(f"snapshot `{snap.name}` taken of {snap.source} ({snap.backend}: {snap.location})")
    return ExitCode.OK


def _restore(args) -> ExitCode:
    snap = _backend(args).restore(args.name, force=args.force)
    _show().message(f"restored {snap.source} from snapshot `{snap.name}` taken {snap.created}")
    return ExitCode.OK


def _snapshots(args) -> ExitCode:
    snaps = _backend(args).list()
    if args.format == "json":
        sys.stdout.write(msgspec.json.encode(snaps).decode() + "\n")
        return ExitCode.OK
    _show().snapshots(snaps)
    return ExitCode.OK
