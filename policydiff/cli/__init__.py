"""The command line: parse flags, call the library, render, return an exit code.

`main(argv=None) -> int` is the whole entry point. Each command group lives in its own
module of this package with a `register(subparsers)` function that adds its parsers and
sets `handler`; a handler takes the parsed arguments and returns an `ExitCode`. Errors
raised on purpose (`PolicydiffError`) are rendered as diagnostics, never as tracebacks.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable, Sequence

from policydiff.errors import (
    Code,
    ExitCode,
    InputError,
    PolicydiffError,
    redact,
    register_secrets,
    render,
)
from policydiff.interrupts import trapped
from policydiff.source import Span

COMMAND_MODULES = ("policy", "compare", "graph", "db", "replay", "analyze", "promotion", "runbook")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """Bad flags are bad input: a `bad_flag` diagnostic naming the flag (exit 2), in
        the house format rather than argparse's usage text."""
        raise InputError.at(Code.BAD_FLAG, *_flag_problem(self, message),
                            help=f"see `{self.prog} --help`")


def _flag_problem(parser: argparse.ArgumentParser, message: str) -> tuple[str, Span]:
    """argparse's `message` as a diagnostic's text and the flag it is about."""
    import re

    from policydiff.documents import did_you_mean

    if m := re.fullmatch(r"argument (\S+?)(?:/\S+)?: (.*)", message, re.DOTALL):
        return m[2], Span(file=m[1])
    if m := re.fullmatch(r"unrecognized arguments: (\S+).*", message, re.DOTALL):
        flags = [o for a in parser._actions for o in a.option_strings]
        hint = did_you_mean(m[1], flags) if m[1].startswith("-") else None
        return f"unknown argument `{m[1]}`" + (f"; {hint}" if hint else ""), Span(file=m[1])
    if m := re.fullmatch(r"the following arguments are required: ([^,\s]+).*", message, re.DOTALL):
        return message, Span(file=m[1])
    return message, Span(file=parser.prog)


class _Redacting:
    """A text stream that hides DSN passwords in everything written through it, so no
    path through the command line (a parser's message, a report, a library warning)
    can print one."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _dsns(argv: Sequence[str]) -> list[str]:
    """The DSNs in the arguments and the environment, before any parser sees them."""
    import os

    found = [os.environ.get("DATABASE_URL", "")]
    for i, arg in enumerate(argv):
        if arg == "--dsn" and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith("--dsn="):
            found.append(arg.split("=", 1)[1])
        elif "@" in arg or "password" in arg.lower():
            found.append(arg)
    return found


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(prog="policydiff", description="Prove an authorization policy change safe.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"policydiff.cli.{name}").register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"policydiff {version('policydiff')}"
    except PackageNotFoundError:
        return "policydiff (not installed)"


# Deep but legal policies (long chains of rules, long sums, deeply nested literals and
# comprehensions) are compiled and evaluated recursively; commands run on a thread with
# a stack and a recursion limit large enough for the depths README.md documents, and
# anything deeper is the `too_deep` diagnostic rather than a crash.
RECURSION_LIMIT = 60_000
STACK_BYTES = 1 << 30  # reserved address space; pages are only touched as deep as needed


def _deep(fn: Callable[[], int]) -> int:
    """`fn()` on a thread with a deep stack; its exception, if any, is raised here."""
    out: list = []

    def run() -> None:
        try:
            out.append((True, fn()))
        except BaseException as e:  # noqa: BLE001 - handed to the calling thread, which handles it
            out.append((False, e))

    previous = threading.stack_size()
    try:
        threading.stack_size(STACK_BYTES)
    except (ValueError, RuntimeError):  # a platform without thread stack sizes: run here
        return fn()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, RECURSION_LIMIT))
    try:
        worker = threading.Thread(target=run, name="policydiff", daemon=True)
        worker.start()
    finally:
        threading.stack_size(previous)
    try:
        with trapped():  # signals reach the main thread only: it hands them on
            while worker.is_alive():
                worker.join(0.25)
    finally:
        sys.setrecursionlimit(limit)
    ok, value = out[0]
    if ok:
        return value
    raise value


# What a command built and only the process's exit would free: `check` of a 5 MB policy
# leaves half a GB of objects whose deallocation, one by one, costs ~0.7 s. A command
# run from the command line (`main()` without `argv`) that handed its objects here
# ends with `os._exit` once its output is flushed; called with `argv` (in process),
# they are let go as usual. Only commands with no exit-time work (no database, no
# temporary checkout: `check`) use it.
_KEPT_UNTIL_EXIT: list = []


def keep_until_exit(obj) -> None:
    _KEPT_UNTIL_EXIT.append(obj)


def main(argv: Sequence[str] | None = None) -> int:
    whole_process = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    register_secrets(*_dsns(argv))
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Redacting(out), _Redacting(err)
    try:
        code = _main(argv)
    finally:
        sys.stdout, sys.stderr = out, err
    if _KEPT_UNTIL_EXIT:
        if whole_process and _flushed(out, err):
            os._exit(code)
        _KEPT_UNTIL_EXIT.clear()
    return code


def _flushed(*streams) -> bool:
    try:
        for s in streams:
            s.flush()
    except (OSError, ValueError):  # a closed pipe or stream: leave the usual way
        return False
    return True


def _main(argv: list[str]) -> int:
    from policydiff.cli.common import check_argv, check_values

    try:
        check_argv(argv)
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        command = _command_parser(parser, args)
        if extra:  # named by the command's parser, which knows the flags it could be
            command.error(f"unrecognized arguments: {' '.join(extra)}")
        check_values(args, command)
        return _deep(lambda: int(args.handler(args)))
    except RecursionError:
        print("policydiff: too_deep: the input is nested more deeply than policydiff "
              "supports (see README.md, Limits)", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    except PolicydiffError as e:
        for diag in e.diagnostics:
            print(render(diag), file=sys.stderr)
        return int(e.exit_code)
    except KeyboardInterrupt:
        print("policydiff: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return int(ExitCode.OK)
    except OSError as e:
        print(redact(f"policydiff: error: {e}"), file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    except Exception as e:  # noqa: BLE001 - a defect: named and kept, never a traceback on screen
        return _internal_error(e)


def _internal_error(error: Exception) -> int:
    """A defect of policydiff: one line on stderr naming where the traceback was kept
    (redacted, in the temporary directory), exit `ExitCode.INTERNAL`. With
    `POLICYDIFF_TRACEBACK=1` the traceback is printed instead."""
    import tempfile
    import traceback

    text = redact("".join(traceback.format_exception(error)))
    summary = type(error).__name__
    if str(error):
        summary += ": " + redact(str(error)).splitlines()[0][:300]
    if os.environ.get("POLICYDIFF_TRACEBACK") == "1":
        print(text, end="", file=sys.stderr)
        kept = ""
    else:
        try:
            fd, path = tempfile.mkstemp(prefix="policydiff-crash-", suffix=".txt")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            kept = f"; the traceback is in {path}"
        except OSError:
            kept = "; set POLICYDIFF_TRACEBACK=1 to see the traceback"
    print(f"policydiff: internal error ({summary}): this is a bug in policydiff, please "
          f"report it with the command line{kept}", file=sys.stderr)
    return int(ExitCode.INTERNAL)


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command `args` were parsed for (`db seed`'s, not the root's)."""
    names = [getattr(args, "command", None), getattr(args, "db_command", None)]
    for name in names:
        group = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if group is None or name not in group.choices:
            break
        parser = group.choices[name]
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
