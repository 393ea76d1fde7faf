"""The command line: parse flags, call the library, render, return an exit code.

`main(argv=None) -> int` is the whole entry point. Each command group lives in its own
module of this package with a `register(subparsers)` function that adds its parsers and
sets `handler`; a handler takes the parsed arguments and returns an `ExitCode`. Errors
raised on purpose (`PolicydiffError`) are rendered as diagnostics, never as tracebacks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from policydiff.errors import ExitCode, PolicydiffError, redact, render

COMMAND_MODULES = ("policy", "compare", "graph", "db", "replay")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # bad flags are bad input: exit 2, as documented
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(ExitCode.BAD_INPUT)


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
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


if __name__ == "__main__":
    raise SystemExit(main())
