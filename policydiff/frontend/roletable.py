"""Role tables: the static RBAC shape of many v1 systems, read from YAML or TOML and
lowered into the common IR.

A role table names roles, the roles each inherits from, and the actions each is granted
within a scope (`team`, `enterprise` or `global`) of docs/design.md's request model. `decode`
reads one strictly (msgspec, unknown keys refused) while remembering the line of every
key and value; `lower` turns it into an `ir.Module` of `allow` rules, one per role,
inherited-or-own grant and action pattern, each node's span at the line of its grant so
that compare's provenance points into the table. The format is docs/roletables.md.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from policydiff import ir
from policydiff.documents import Document, Loc, did_you_mean, load_yaml, read_text
from policydiff.errors import Code, Diagnostic, PolicyError
from policydiff.source import Source, Span

SCOPES = ("team", "enterprise", "global")
DECISION = "allow"


class Grant(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Actions (exact names or globs with `*` and `?`) allowed on resources in `scope`."""

    actions: tuple[str, ...]
    scope: str
    description: str = ""


class Role(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A role: the roles whose grants it also holds, and its own grants."""

    inherits: tuple[str, ...] = ()
    grants: tuple[Grant, ...] = ()
    description: str = ""


class RoleTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole table; `roles` keeps the order of the file."""

    version: int
    package: str
    roles: dict[str, Role]
    description: str = ""


class _Head(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Roles are converted one by one, so an error's path names the role: msgspec writes
    # every dict key as `[...]`.
    version: int
    package: str
    roles: dict[str, Any]
    description: str = ""


# --------------------------------------------------------------------------------- YAML

_Where = Document  # the span of every value and mapping key of a decoded table, by path


def _dotted(path: Loc) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the table"


def _invalid(message: str, span: Span, help: str | None = None) -> Diagnostic:
    return Diagnostic(code=Code.INVALID_ROLETABLE, message=message, span=span, help=help)


def _read_yaml(source: Source) -> tuple[Any, _Where, list[Diagnostic]]:
    """The data, its positions, and the duplicate keys (reported with every other problem)."""
    doc = load_yaml(source.text, source.name, PolicyError)
    dups = [_invalid(f"duplicate {'role' if path[:-1] == ('roles',) else 'key'} `{path[-1]}`", span,
                     f"first defined on line {first.line}") for path, span, first in doc.duplicates]
    return doc.data, doc, dups


# --------------------------------------------------------------------------------- TOML

_TOML_ERROR_AT = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_TOML_HEADER = re.compile(r"^\s*(?P<open>\[\[?)\s*(?P<keys>[^\]]+?)\s*\]\]?\s*(#.*)?$")
_TOML_KEY = re.compile(r"^\s*(?P<keys>[A-Za-z0-9_\-\"'. ]+?)\s*=")
_TOML_PART = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'|[A-Za-z0-9_\-]+")


def _toml_keys(text: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _TOML_PART.findall(text))


def _read_toml(source: Source) -> tuple[Any, _Where, list[Diagnostic]]:
    try:
        value = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as e:
        m = _TOML_ERROR_AT.match(str(e))
        span = Span(file=source.name)
        msg = str(e)
        if m:
            span = Span(file=source.name, line=int(m["line"]), col=int(m["col"]))
            msg = m["msg"]
        raise PolicyError.at(Code.SYNTAX_ERROR, msg[:1].lower() + msg[1:], span) from None
    return value, _toml_where(source), []


def _toml_where(source: Source) -> _Where:
    """Best-effort line index: table headers, array-of-table headers, `key =` lines and
    the inline tables that open a line inside a multi-line array."""
    where = _Where(source.name)
    table: Loc = ()
    counts: dict[Loc, int] = {}
    array: Loc | None = None  # the path of a multi-line array being read
    for number, line in enumerate(source.text.splitlines(), start=1):
        span = Span(file=source.name, line=number, col=len(line) - len(line.lstrip()) + 1)
        if array is not None:
            stripped = line.strip()
            if stripped.startswith("{"):
                index = counts.get(array, 0)
                counts[array] = index + 1
                where.values.setdefault(array + (index,), span)
            if stripped.startswith("]"):
                array = None
            continue
        header = _TOML_HEADER.match(line)
        if header and not line.lstrip().startswith("#"):
            table = _toml_keys(header["keys"])
            if header["open"] == "[[":
                index = counts.get(table, 0)
                counts[table] = index + 1
                table = table + (index,)
            where.values.setdefault(table, span)
            where.keys.setdefault(table, span)
            continue
        key = _TOML_KEY.match(line)
        if key and not line.lstrip().startswith("#"):
            path = table + _toml_keys(key["keys"])
            where.values.setdefault(path, span)
            where.keys.setdefault(path, span)
            rest = line[key.end():].split("#", 1)[0].strip()
            if rest == "[" or (rest.startswith("[") and rest.count("[") > rest.count("]")):
                array = path
                if rest.startswith(("[{", "[ {")):
                    counts[path] = 1
                    where.values.setdefault(path + (0,), span)
    return where


# ------------------------------------------------------------------------------- decode

_AT = re.compile(r"^(?P<msg>.*?) - at `(?P<path>[^`]*)`(?: in `(?P<inpath>[^`]*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")


def _fields_at(relative: Loc, top: type) -> tuple[str, ...]:
    """The keys allowed where a struct decoded from `top` sits at `relative`."""
    if top is _Head and not relative:
        return RoleTable.__struct_fields__
    if top is Role and not relative:
        return Role.__struct_fields__
    if top is Role and len(relative) == 2 and relative[0] == "grants":
        return Grant.__struct_fields__
    return ()


def _validation(e: msgspec.ValidationError, base: Loc, top: type, where: _Where) -> Diagnostic:
    """A msgspec error as a diagnostic at the key or value it concerns."""
    m = _AT.match(str(e))
    text, relative = str(e), ()
    if m:
        text = m["msg"]
        steps = m["inpath"] or m["path"]
        relative = tuple(s if s else int(i) for s, i in _STEP.findall(steps[1:]))
    path = base + relative
    if unknown := _UNKNOWN.match(text):
        field = unknown["field"]
        allowed = _fields_at(relative, top)
        hint = did_you_mean(field, allowed) or (
            "allowed keys: " + ", ".join(f"`{f}`" for f in allowed) if allowed else None)
        return _invalid(f"unknown key `{field}` in {_dotted(path)}", where.key(path + (field,)), hint)
    if missing := _MISSING.match(text):
        return _invalid(f"missing key `{missing['field']}` in {_dotted(path)}", where.key(path))
    if m and m["inpath"]:
        return _invalid(f"{text[:1].lower()}{text[1:]} as a key of {_dotted(path)}", where.at(path))
    return _invalid(f"{text[:1].lower()}{text[1:]} at {_dotted(path)}", where.at(path))


# Other YAML files of a policydiff project, recognised so that a mix-up is named.
_OTHER_FILES = ((frozenset({"enterprises", "users", "resources"}), "a tenancy file (`--tenancy`)"),
                (frozenset({"rules", "blocking", "allow_loosening"}),
                 "a classification file (`--classifications`)"))


def _decode(source: Source) -> tuple[RoleTable, _Where]:
    raw, where, problems = (_read_toml if source.name.endswith(".toml") else _read_yaml)(source)
    if not isinstance(raw, dict):
        raise PolicyError([*problems, _invalid("a role table is a mapping with `version`, "
                                               "`package` and `roles`", where.at(()))])
    try:
        head = msgspec.convert(raw, _Head)
    except msgspec.ValidationError as e:
        diag = _validation(e, (), _Head, where)
        for keys, what in _OTHER_FILES:
            if "roles" not in raw and keys & raw.keys():
                diag = msgspec.structs.replace(diag, help=f"this looks like {what}, not a role table")
        raise PolicyError([*problems, diag]) from None
    roles: dict[str, Role] = {}
    for name, body in head.roles.items():
        try:
            roles[name] = msgspec.convert({} if body is None else body, Role)
        except msgspec.ValidationError as e:
            problems.append(_validation(e, ("roles", name), Role, where))
            roles[name] = Role()  # still a role others may inherit; its own problem is reported
    table = RoleTable(version=head.version, package=head.package, roles=roles,
                      description=head.description)
    _check(table, where, problems)
    return table, where


# -------------------------------------------------------------------------------- check

_PACKAGE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_GLOB_REFUSED = {"[": "character classes", "]": "character classes", "{": "alternatives",
                 "}": "alternatives", "\\": "escapes"}


def _pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is not an action pattern of this format, or None when it is one."""
    if not pattern:
        return "is empty"
    if any(c.isspace() for c in pattern):
        return "contains whitespace"
    for c, what in _GLOB_REFUSED.items():
        if c in pattern:
            return f"uses `{c}`: glob {what} are not supported"
    if "**" in pattern:
        return "uses `**`: `*` already matches any characters, `:` included"
    return None


def _check(table: RoleTable, where: _Where, problems: list[Diagnostic]) -> None:
    """Every semantic rule of the format; all problems (with those found while reading,
    `problems`) are reported together. A role that failed to decode is left out here."""
    if table.version != 1:
        problems.append(_invalid(f"unsupported role table version `{table.version}`",
                                 where.at(("version",)), "this policydiff reads version 1"))
    if not _PACKAGE.match(table.package) or table.package.startswith("data."):
        hint = "drop the leading `data.`" if table.package.startswith("data.") else (
            "a dotted name such as `rbac.v1`")
        problems.append(_invalid(f"bad package name `{table.package}`", where.at(("package",)), hint))
    if not table.roles:
        problems.append(_invalid("the table has no roles", where.at(("roles",))))
    for name, role in table.roles.items():
        base: Loc = ("roles", name)
        if not name.strip():
            problems.append(_invalid("a role name is empty", where.key(base)))
        for i, parent in enumerate(role.inherits):
            if parent not in table.roles:
                problems.append(_invalid(
                    f"role `{name}` inherits unknown role `{parent}`",
                    where.at(base + ("inherits", i)), did_you_mean(parent, table.roles)))
        for g, grant in enumerate(role.grants):
            at = base + ("grants", g)
            if grant.scope not in SCOPES:
                problems.append(_invalid(
                    f"unknown scope `{grant.scope}` in a grant of role `{name}`",
                    where.at(at + ("scope",)),
                    did_you_mean(grant.scope, SCOPES) or "one of `team`, `enterprise`, `global`"))
            if not grant.actions:
                problems.append(_invalid(f"a grant of role `{name}` has no actions",
                                         where.at(at + ("actions",))))
            for a, pattern in enumerate(grant.actions):
                if why := _pattern_problem(pattern):
                    problems.append(_invalid(
                        f"bad action pattern `{pattern}` in role `{name}`: it {why}",
                        where.at(at + ("actions", a)),
                        "an action name, or a glob where `*` is any characters and `?` one"))
    problems.extend(_cycles(table, where))
    if problems:
        raise PolicyError(problems)


def _cycles(table: RoleTable, where: _Where) -> list[Diagnostic]:
    """One diagnostic per inheritance cycle, at the `inherits` entry that closes it."""
    problems: list[Diagnostic] = []
    state: dict[str, str] = {}  # "open" while on the stack, "done" after
    stack: list[str] = []
    reported: set[frozenset[str]] = set()

    def visit(name: str) -> None:
        state[name] = "open"
        stack.append(name)
        for i, parent in enumerate(table.roles[name].inherits):
            if parent not in table.roles:
                continue
            if state.get(parent) == "open":
                cycle = stack[stack.index(parent):] + [parent]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    chain = " -> ".join(f"`{r}`" for r in cycle)
                    problems.append(_invalid(f"role `{parent}` inherits itself: {chain}",
                                             where.at(("roles", name, "inherits", i))))
            elif parent not in state:
                visit(parent)
        stack.pop()
        state[name] = "done"

    for name in table.roles:
        if name not in state:
            visit(name)
    return problems


def closure(table: RoleTable) -> dict[str, tuple[str, ...]]:
    """Each role with the roles whose grants it holds: itself first, then what it
    inherits, depth first in `inherits` order. The table must have passed `decode`
    (no unknown roles, no cycles)."""
    out: dict[str, tuple[str, ...]] = {}
    for name in table.roles:
        seen: list[str] = []
        todo = [name]
        while todo:
            role = todo.pop()
            if role not in seen:
                seen.append(role)
                todo.extend(reversed(table.roles[role].inherits))
        out[name] = tuple(seen)
    return out


# --------------------------------------------------------------------------------- lower


def _input(*keys: str, span: Span) -> ir.Ref:
    return ir.Ref(head=ir.Var(name="input", span=span),
                  path=tuple(ir.Scalar(value=k, span=span) for k in keys), span=span)


def _test(func: str, *args: ir.Term, span: Span) -> ir.Expr:
    return ir.Expr(term=ir.Call(func=func, args=args, span=span), span=span)


def _action_tests(pattern: str, span: Span) -> tuple[ir.Expr, ...]:
    """`*` alone: no test, every action; a glob: `glob.match` without delimiters, so
    `*` spans `:` too; any other pattern: equality."""
    if pattern == "*":
        return ()
    if "*" in pattern or "?" in pattern:
        return (_test("glob.match", ir.Scalar(value=pattern, span=span), ir.Scalar(value=None, span=span),
                      _input("action", span=span), span=span),)
    return (_test("equal", _input("action", span=span), ir.Scalar(value=pattern, span=span), span=span),)


def _scope_tests(scope: str, span: Span) -> tuple[ir.Expr, ...]:
    """`global`: nothing; `enterprise`: same enterprise; `team`: also a resource team,
    not null, that is one of the subject's teams."""
    if scope == "global":
        return ()
    same = _test("equal", _input("subject", "enterprise", span=span),
                 _input("resource", "enterprise", span=span), span=span)
    if scope == "enterprise":
        return (same,)
    team = _input("resource", "team", span=span)
    not_null = _test("neq", team, ir.Scalar(value=None, span=span), span=span)
    member = _test("internal.member_2", team, _input("subject", "teams", span=span), span=span)
    return (same, not_null, member)


def _lowered(table: RoleTable, where: _Where) -> ir.Module:
    roles = closure(table)
    rules: dict[ir.Rule, None] = {}  # insertion-ordered set; spans do not count in equality
    for name, holders in roles.items():
        for holder in holders:
            for g, grant in enumerate(table.roles[holder].grants):
                at: Loc = ("roles", holder, "grants", g)
                span = where.at(at)
                role_test = _test("equal", _input("subject", "role", span=span),
                                  ir.Scalar(value=name, span=span), span=span)
                for a, pattern in enumerate(grant.actions):
                    action_span = where.at(at + ("actions", a))
                    rule = ir.Rule(kind="complete", name=DECISION, span=span,
                                   value=ir.Scalar(value=True, span=span),
                                   body=(role_test, *_action_tests(pattern, action_span),
                                         *_scope_tests(grant.scope, span)))
                    rules.setdefault(rule)
    package_span = where.at(("package",))
    default = ir.Rule(kind="complete", name=DECISION, default=True, span=package_span,
                      value=ir.Scalar(value=False, span=package_span))
    return ir.Module(package=tuple(table.package.split(".")), rules=(default, *rules),
                     origin="roletable", span=Span(file=where.file, line=1, col=1))


def decode(source: Source) -> RoleTable:
    """The validated role table in `source` (YAML, or TOML when its name ends `.toml`);
    `PolicyError` (`syntax_error`, `invalid_roletable`) naming line and role."""
    return _decode(source)[0]


def lower(source: Source) -> ir.Module:
    """The role table in `source` as an IR module: `default allow := false`, then one
    `allow` rule per role, grant it holds and action pattern (see docs/roletables.md)."""
    return _lowered(*_decode(source))


def load_table(path: str | Path) -> RoleTable:
    """`decode` of the file at `path`: the table itself, for the permission graph."""
    return decode(_read(path))


def load_module(path: str | Path) -> ir.Module:
    """`lower` of the file at `path`; the dispatch target of `load_policy` for
    `.yaml`, `.yml` and `.toml`."""
    return lower(_read(path))


def _read(path: str | Path) -> Source:
    return Source(name=str(path), text=read_text(path, "role table", PolicyError))
