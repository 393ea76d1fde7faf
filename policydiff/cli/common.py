"""Flags and steps that several command groups share: where the tenancy comes from, and
writing a rendered result to `--output` or standard output."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from policydiff.errors import Code, InputError
from policydiff.source import Span


def add_tenancy_flags(p: argparse.ArgumentParser) -> None:
    """`--tenancy FILE` or `--dsn [DSN]`; `--dsn` alone means DATABASE_URL, else the
    embedded PostgreSQL, as every command that needs a database resolves it."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--tenancy", metavar="FILE", help="tenancy file (JSON or YAML)")
    where.add_argument("--dsn", metavar="DSN", nargs="?", const="",
                       help="read the tenancy from this database; `--dsn` alone uses "
                       "DATABASE_URL, else the embedded PostgreSQL")


def tenancy_of(args: argparse.Namespace):
    """The tenancy the flags of `add_tenancy_flags` name, or None for the symbolic matrix."""
    if args.tenancy:
        from policydiff.tenancy import load_tenancy

        return load_tenancy(args.tenancy)
    if args.dsn is not None:
        from policydiff import db

        conn = db.connect(args.dsn or None)
        try:
            return db.load_tenancy(conn)
        finally:
            conn.close()
    return None


def write_output(text: str, output: str | None, what: str) -> None:
    """Write `text` to the `--output` file, or to standard output without one."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as e:
        raise InputError.at(Code.UNWRITABLE_FILE, f"cannot write {what}: {e.strerror}", Span(file=output)) from None


# ------------------------------------------------------------------ flag values, checked once

# The numeric flags of every command and the values they take (inclusive): one table, so
# a new numeric flag gets a bound here or `tests/test_hostile_commands.py` finds it open.
BOUNDS: dict[str, tuple[float, float]] = {
    "requests": (1, 1_000_000_000),
    "parallel": (1, 256),
    "seed": (0, 2**63 - 1),
    "metrics_port": (0, 65535),
    "churn": (0, 1_000_000),
    "latency_budget_ms": (0, 3_600_000),
    "latency_factor": (0, 1_000_000),
    "enterprises": (1, 10_000_000),
    "teams_per_enterprise": (1, 10_000_000),
    "users_per_team": (1, 10_000_000),
    "resources_per_team": (1, 10_000_000),
}
DECISIONS = ("decision", "v1_decision", "v2_decision")
SNAPSHOT_NAMES = ("name", "snapshot")  # `db snapshot NAME`, `db restore NAME`, `rollback --snapshot`
OUTPUTS = ("output", "decision_log")  # files a command writes (`-`: standard output)


def flag_of(parser: argparse.ArgumentParser, dest: str) -> str:
    """The name a diagnostic gives the argument stored at `dest`: its first long flag."""
    for action in parser._actions:
        if action.dest == dest:
            return next((o for o in action.option_strings if o.startswith("--")), action.metavar or dest)
    return "--" + dest.replace("_", "-")


def check_values(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Refuse out-of-range numbers and malformed decisions and dimensions before a command
    starts, each naming its flag."""
    import math

    for dest, (low, high) in BOUNDS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if not (math.isfinite(value) and low <= value <= high):
            raise InputError.at(Code.BAD_FLAG, f"`{value}` is out of range: expected "
                                f"{low:,} to {high:,}", Span(file=flag_of(parser, dest)))
    for dest in DECISIONS:
        ref = getattr(args, dest, None)
        if ref is not None:
            from policydiff.policy import decision_path

            _at(flag_of(parser, dest), decision_path, ref)
    if getattr(args, "dimension", None):
        from policydiff.matrix import dimensions

        _at("--dimension", dimensions, args.dimension)
    if getattr(args, "git_base", None) is not None:
        from policydiff.gitbase import check_ref

        _at("--git-base", check_ref, args.git_base)
    for dest in SNAPSHOT_NAMES:
        name = getattr(args, dest, None)
        if name is not None:
            from policydiff.db.snapshots.contract import check_name

            _at(flag_of(parser, dest), check_name, name)
    for dest in OUTPUTS:
        if getattr(args, dest, None) not in (None, "-"):
            check_writable(getattr(args, dest), flag_of(parser, dest))
            _not_an_input(args, dest, flag_of(parser, dest))
    if getattr(args, "output_dir", None) is not None:
        check_directory(args.output_dir, "--output-dir")


def check_writable(name: str, flag: str) -> None:
    """`name` can be written as a file: not a directory, in a directory that exists and
    may be written to (nothing is created here, so bad input leaves no file behind).
    Checked before the work starts: an hour's run is not lost to a mistyped `--output`."""
    path = Path(name)
    parent = path.parent
    problem = None
    if path.is_dir():  # `""` too: it names the working directory
        problem = "it is a directory"
    elif not parent.is_dir():
        problem = f"no directory `{parent}`"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = "the file is not writable"
    elif not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        problem = f"the directory `{parent}` is not writable"
    if problem:
        raise InputError.at(Code.UNWRITABLE_FILE, f"cannot write `{name}`: {problem}", Span(file=flag))


def _not_an_input(args: argparse.Namespace, dest: str, flag: str) -> None:
    """An output that is also one of the command's input files would overwrite it (a
    policy under review, the replay file being analysed): refused."""
    out = getattr(args, dest)
    if not os.path.isfile(out):
        return
    for name, value in vars(args).items():
        for v in value if isinstance(value, list) else [value]:
            if name != dest and isinstance(v, str | Path) and os.path.isfile(v) and os.path.samefile(out, v):
                raise InputError.at(Code.UNWRITABLE_FILE, f"`{out}` is also an input of this command: "
                                    "writing it would overwrite it", Span(file=flag))


def check_directory(name: str, flag: str) -> None:
    """`name` is a directory, or can be made one (nothing is created here)."""
    path = Path(name)
    if path.exists() and not path.is_dir():
        raise InputError.at(Code.UNWRITABLE_FILE, f"cannot write into `{name}`: it is not a directory",
                            Span(file=flag))


def _at(flag: str, check, *values) -> None:
    """`check(*values)`, its `InputError` located at `flag`."""
    import msgspec

    try:
        check(*values)
    except InputError as e:
        raise InputError([msgspec.structs.replace(d, span=Span(file=flag)) for d in e.diagnostics]) from None


def check_argv(argv: list[str]) -> None:
    """Refuse arguments that are not UTF-8 (Python hands them over with surrogates) or
    that hold a NUL character, naming the flag they belong to (or their position). The
    value is not echoed: it may be a DSN whose password the redaction could not match."""
    for i, arg in enumerate(argv):
        at = next((j for j, c in enumerate(arg) if "\udc80" <= c <= "\udcff" or c == "\x00"), None)
        if at is None:
            continue
        offset = at  # in the value, not in `--flag=value`
        if arg.startswith("--") and "=" in arg[:at]:
            where = arg.split("=", 1)[0]
            offset -= len(where) + 1
        elif i > 0 and argv[i - 1].startswith("-") and not arg.startswith("-"):
            where = argv[i - 1]
        else:
            where = f"argument {i + 1}"
        if any("\udc80" <= c <= "\udcff" for c in where):
            where = f"argument {i + 1}"
        if arg[at] == "\x00":
            raise InputError.at(Code.BAD_FLAG, f"the value holds a NUL character at offset {offset}",
                                Span(file=where))
        byte = ord(arg[at]) - 0xDC00
        raise InputError.at(Code.NOT_UTF8, f"the value is not UTF-8: byte 0x{byte:02x} at offset {offset}",
                            Span(file=where), help="give file names and values as UTF-8 text")
