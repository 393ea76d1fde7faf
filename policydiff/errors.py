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
    INTERNAL = 70  # a defect of policydiff itself (sysexits' EX_SOFTWARE); never a pass


class Code:
    """Every diagnostic code policydiff emits, as a named constant (documented in
    docs/design.md, "Diagnostic codes"; tests/test_codes.py keeps the three in step)."""

    BAD_DATA = "bad_data"
    BAD_DECISION = "bad_decision"
    BAD_DIMENSION = "bad_dimension"
    BAD_FLAG = "bad_flag"
    BAD_INPUT = "bad_input"
    BAD_REPLAY_FILE = "bad_replay_file"
    BAD_REPORT = "bad_report"
    CHANGED_SINCE = "changed_since"
    CONFLICTING_FLAGS = "conflicting_flags"
    COUNTED_TWICE = "counted_twice"
    DB_ERROR = "db_error"
    DB_UNREACHABLE = "db_unreachable"
    DUPLICATE_KEY = "duplicate_key"
    DUPLICATE_RULE_ID = "duplicate_rule_id"
    EMBEDDED_DB_FAILED = "embedded_db_failed"
    EMPTY_MATCH = "empty_match"
    EMPTY_TENANCY = "empty_tenancy"
    EVAL_BUILTIN_ERROR = "eval_builtin_error"
    EVAL_CONFLICT_ERROR = "eval_conflict_error"
    EVAL_TYPE_ERROR = "eval_type_error"
    EXPIRED_RULE = "expired_rule"
    FILE_TOO_LARGE = "file_too_large"
    GATE_FAILED = "gate_failed"
    GIT_UNAVAILABLE = "git_unavailable"
    GIVEN_TWICE = "given_twice"
    INCONSISTENT_FLAGS = "inconsistent_flags"
    INVALID_DECISION_LOG = "invalid_decision_log"
    INVALID_DSN = "invalid_dsn"
    INVALID_GIT_REF = "invalid_git_ref"
    INVALID_GLOB = "invalid_glob"
    INVALID_PROFILE = "invalid_profile"
    INVALID_ROLETABLE = "invalid_roletable"
    INVALID_SCALE = "invalid_scale"
    INVALID_SNAPSHOT_NAME = "invalid_snapshot_name"
    INVALID_TENANCY = "invalid_tenancy"
    INVALID_TYPE = "invalid_type"
    INVALID_VALUE = "invalid_value"
    MATRIX_TOO_LARGE = "matrix_too_large"
    MIGRATION_CHANGED = "migration_changed"
    MINIMUM_UNMET = "minimum_unmet"
    MISSING_AT_GIT_REF = "missing_at_git_ref"
    MISSING_FIELD = "missing_field"
    MISSING_INPUT = "missing_input"
    MISSING_MODULE = "missing_module"
    MISSING_POLICY = "missing_policy"
    MISSING_REPORTS = "missing_reports"
    MIXED_POLICIES = "mixed_policies"
    NEON_API_ERROR = "neon_api_error"
    NEON_BRANCH_UNKNOWN = "neon_branch_unknown"
    NEON_NO_ENDPOINT = "neon_no_endpoint"
    NEON_OPERATION_FAILED = "neon_operation_failed"
    NEON_TIMEOUT = "neon_timeout"
    NEON_UNREACHABLE = "neon_unreachable"
    NO_CELLS = "no_cells"
    NO_GATE = "no_gate"
    NO_POLICY = "no_policy"
    NON_BOOLEAN_DECISION = "non_boolean_decision"
    NOT_A_GIT_REPOSITORY = "not_a_git_repository"
    NOT_UTF8 = "not_utf8"
    NOTHING_TO_RESUME = "nothing_to_resume"
    OUTSIDE_REPOSITORY = "outside_repository"
    POLICY_CHANGED = "policy_changed"
    POLICY_NOT_GATED = "policy_not_gated"
    REGO_COMPILE_ERROR = "rego_compile_error"
    REGO_PARSE_ERROR = "rego_parse_error"
    REGO_RECURSION_ERROR = "rego_recursion_error"
    REGO_TYPE_ERROR = "rego_type_error"
    REGO_UNSAFE_VAR_ERROR = "rego_unsafe_var_error"
    REPLAY_RUNNING = "replay_running"
    REPLAYED_SINCE_GATE = "replayed_since_gate"
    SEED_REJECTED = "seed_rejected"
    SNAPSHOT_BUSY = "snapshot_busy"
    SNAPSHOT_EXISTS = "snapshot_exists"
    SNAPSHOT_FAILED = "snapshot_failed"
    SYNTAX_ERROR = "syntax_error"
    TENANCY_CHANGED = "tenancy_changed"
    TOO_DEEP = "too_deep"
    TOO_FEW_REQUESTS = "too_few_requests"
    UNKNOWN_CLASS = "unknown_class"
    UNKNOWN_FORMAT = "unknown_format"
    UNKNOWN_GIT_REF = "unknown_git_ref"
    UNKNOWN_KEY = "unknown_key"
    UNKNOWN_SNAPSHOT = "unknown_snapshot"
    UNREADABLE_FILE = "unreadable_file"
    UNSUPPORTED = "unsupported"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNWRITABLE_FILE = "unwritable_file"
    WRONG_SCHEMA = "wrong_schema"
    YAML_ALIAS_BOMB = "yaml_alias_bomb"
    YAML_TOO_DEEP = "yaml_too_deep"


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


_KEPT: dict[str, str] = {}  # texts of FIFOs and pipes, which can be read only once
_SHOWN_BYTES = 256 << 20  # a regular file larger than any input is not reread to show a line


def keep_source(name: str, text: str) -> None:
    """Keep the text read from `name`, a FIFO or pipe, for the diagnostics that quote it."""
    _KEPT[name] = text


def source_text(name: str) -> str | None:
    """The text of file `name` for quoting a line of it: kept if it was a FIFO or a pipe
    (opening one again would wait for a writer that is gone), else read again if it is
    a regular file; None for anything else."""
    import os
    import stat

    if name in _KEPT:
        return _KEPT[name]
    try:
        st = os.stat(name)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _SHOWN_BYTES:
            return None
        with open(name, encoding="utf-8-sig", errors="replace") as f:
            return f.read()
    except OSError:
        return None


_WIDE = 120  # longest source line shown under a diagnostic


def render(diag: Diagnostic, sources: Mapping[str, str] | None = None) -> str:
    """`file:line:col: code: message`, then the source line with a caret under the span."""
    out = [redact(str(diag))]
    text = (sources or {}).get(diag.span.file)
    if text is None and diag.span.line:
        text = source_text(diag.span.file)
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
