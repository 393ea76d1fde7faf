"""Flags and steps that several command groups share: where the tenancy comes from, and
writing a rendered result to `--output` or standard output."""

from __future__ import annotations

import argparse
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
