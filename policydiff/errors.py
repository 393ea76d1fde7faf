"""Diagnostics, the error hierarchy and the exit codes of the command line.

Every problem a user can act on is a `Diagnostic`: a stable snake_case `code` (OPA's
codes where OPA has one), a lowercase message, the `Span` it concerns and an optional
help line. Errors carry one or more diagnostics; `render` turns them into
`file:line:col: code: message` with the source line and a caret.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping

import msgspec

from policydiff.source import NOWHERE, Span


class ExitCode(enum.IntEnum):
    """The documented exit codes (docs/design.md, Exit codes)."""

    OK = 0
    BLOCKED = 1  # the check ran and found a blocking problem
    BAD_INPUT = 2  # syntax, unreadable file, bad flag
    INFRA = 3  # database or service unreachable


class Diagnostic(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str
    span: Span = NOWHERE
    help: str | None = None

    def __str__(self) -> str:
        return f"{self.span}: {self.code}: {self.message}"


class PolicydiffError(Exception):
    """Base of every error policydiff raises on purpose."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic]):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.span.file, d.span.line, d.span.col))
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    @property
    def diagnostic(self) -> Diagnostic:
        return self.diagnostics[0]

    @property
    def code(self) -> str:
        return self.diagnostic.code

    @property
    def span(self) -> Span:
        return self.diagnostic.span

    @classmethod
    def at(cls, code: str, message: str, span: Span = NOWHERE, help: str | None = None):
        return cls(Diagnostic(code=code, message=message, span=span, help=help))


class PolicyError(PolicydiffError):
    """A problem with a policy: parse, compile, type or evaluation error, or a construct
    outside the supported subset (`code == "unsupported"`)."""


class InputError(PolicydiffError):
    """A problem with any other input file or flag: tenancy, classifications, data, request."""


class InfraError(PolicydiffError):
    """A service policydiff depends on failed: database unreachable, Neon API errors."""

    exit_code = ExitCode.INFRA


_DSN_PASSWORD = re.compile(r"(?P<pre>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<post>@)", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(?P<pre>\bpassword\s*=\s*)(?P<pw>'[^']*'|[^\s`'\"]+)", re.IGNORECASE)


_SECRETS: set[str] = set()  # passwords taken from DSNs before anything parsed them


def dsn_secrets(dsn: str) -> set[str]:
    """Every text in `dsn` that may be a password, found without parsing it as a DSN:
    a malformed DSN is echoed by parsers, so its password must be known beforehand.
    Covers `user:PASS@host` with or without a scheme (the last `@` ends it), `password=`
    in key=value and query-string forms, quoted or not, percent-encoded or not."""
    found: set[str] = set()
    scheme, sep, rest = dsn.partition("://")
    if "@" in (rest if sep else scheme):
        userinfo = (rest if sep else scheme).rsplit("@", 1)[0]
        if not sep:  # `user:pw@host` inside a key=value string
            userinfo = userinfo.split()[-1].rsplit("=", 1)[-1] if userinfo.split() else ""
        if ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
    for m in re.finditer(r"password\s*=\s*('(?:[^'\\]|\\.)*'?|[^\s&]*)", dsn, re.IGNORECASE):
        value = m[1]
        found.add(value)
        if value.startswith("'"):
            found.add(value.strip("'").replace("\\'", "'").replace("\\\\", "\\"))
    for value in list(found):
        # libpq quotes a bad percent-encoded token from its `%` on: hide that tail too
        found.update(value[i:] for i, c in enumerate(value) if c == "%")
        try:
            from urllib.parse import unquote

            found.add(unquote(value, errors="strict"))
        except UnicodeDecodeError:
            pass
    return {f for f in found if len(f) >= 3}  # shorter texts would hide too much


def register_secrets(*texts: str | None) -> None:
    """Remember the passwords in these DSNs, so that `redact` hides them in any text."""
    for text in texts:
        if text:
            _SECRETS.update(dsn_secrets(text))


def redact(text: str) -> str:
    """Hide passwords in DSNs (URL and key=value forms) wherever they appear in `text`,
    and every password `register_secrets` was given, however it is quoted."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _DSN_PASSWORD.sub(lambda m: f"{m['pre']}***{m['post']}", text)
    return _KV_PASSWORD.sub(lambda m: f"{m['pre']}***", text)


_WIDE = 120  # longest source line shown under a diagnostic


def render(diag: Diagnostic, sources: Mapping[str, str] | None = None) -> str:
    """`file:line:col: code: message`, then the source line with a caret under the span."""
    out = [redact(str(diag))]
    text = (sources or {}).get(diag.span.file)
    if text is None and diag.span.line:
        try:
            with open(diag.span.file, encoding="utf-8-sig", errors="replace") as f:
                text = f.read()
        except OSError:
            text = None
    if text is not None and diag.span.line:
        lines = text.splitlines()
        if 0 < diag.span.line <= len(lines):
            src = lines[diag.span.line - 1]
            col = max(diag.span.col, 1)
            width = 1
            if diag.span.end_line == diag.span.line and diag.span.end_col > col:
                width = diag.span.end_col - col
            if len(src) > _WIDE:  # a window around the caret, not a megabyte line
                start = max(col - 1 - _WIDE // 2, 0)
                src, col = src[start:start + _WIDE], col - start
                width = min(width, _WIDE - col + 1)
            out.append(f"  {src}")
            out.append("  " + " " * (col - 1) + "^" * width)
    if diag.help:
        out.append(f"  help: {diag.help}")
    return "\n".join(out)
