"""The classification rule file, and the classification of a compare report's discrepancies.

A rule file is reviewed in code review next to the policy change: it says which class each
expected discrepancy belongs to and why (docs/design.md, Files). `load_rules`
reads it strictly — every mistake is an `InputError` naming the file, the line, the rule id
and the field, with a "did you mean" for misspelt names — and `classify` applies its rules
to a report, first match wins. Rules remember the line they stand on, so diagnostics and
rendered reports can point a reviewer at them.
"""

from __future__ import annotations

import datetime
import fnmatch
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from policydiff.documents import Document, did_you_mean, load_yaml, read_text
from policydiff.errors import Code, Diagnostic, InputError
from policydiff.results import CLASSES, DIRECTIONS, CompareReport, Discrepancy
from policydiff.source import NOWHERE, Span
from policydiff.tenancy import RELATIONS

MATCH_KEYS = ("tenant", "role", "action", "relation", "direction")
FILE_KEYS = ("version", "allow_loosening", "blocking", "max_discrepancy_rate", "rules",
             "accept_incomplete")
ACCEPT_KEYS = ("id", "rule", "reason", "ticket", "owner", "expires")
REQUIRED_ACCEPT_KEYS = ("id", "rule", "reason")
RULE_KEYS = ("id", "class", "match", "reason", "ticket", "owner", "expires")
REQUIRED_RULE_KEYS = ("id", "class", "match", "reason")
VERSIONS = (1,)

Globs = tuple[str, ...] | None


class Match(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a rule applies to: each key a tuple of globs, any of which may match;
    `None` places no constraint on that key."""

    tenant: Globs = None
    role: Globs = None
    action: Globs = None
    relation: Globs = None
    direction: Globs = None

    def matches(self, d: Discrepancy) -> bool:
        for key in MATCH_KEYS:
            globs = getattr(self, key)
            if globs is not None and not any(fnmatch.fnmatchcase(getattr(d, key), g) for g in globs):
                return False
        return True


class Rule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
           rename={"class_": "class"}):
    """One classification: discrepancies its `match` covers belong to `class_` for `reason`."""

    id: str
    class_: str
    match: Match
    reason: str
    ticket: str | None = None
    owner: str | None = None
    expires: datetime.date | None = None
    span: Span = NOWHERE  # where the rule stands in its file; not part of the format


class AcceptIncomplete(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A reviewed acceptance of unproved cells: the incomplete reasons whose rule
    (`file:line`, a glob) is `rule` do not block the gate, for `reason`."""

    id: str
    rule: str
    reason: str
    ticket: str | None = None
    owner: str | None = None
    expires: datetime.date | None = None

    def accepts(self, incomplete_reason: str) -> bool:
        where = incomplete_reason.split(": ", 1)[0]
        return fnmatch.fnmatchcase(where, self.rule)


class RuleFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A decoded classification file; `path` is the name it was read under."""

    version: int
    allow_loosening: bool = False
    blocking: tuple[str, ...] = ("bug",)
    max_discrepancy_rate: float = 0.01
    rules: tuple[Rule, ...] = ()
    accept_incomplete: tuple[AcceptIncomplete, ...] = ()
    path: str = ""

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def load_rules(path: str | Path, *, today: datetime.date | None = None) -> RuleFile:
    """Read and validate a classification file; every problem found is reported together."""
    name = str(path)
    return parse_rules(read_text(path, "classification file"), name, today=today)


def parse_rules(text: str, name: str = "<classifications>", *,
                today: datetime.date | None = None) -> RuleFile:
    """`load_rules` for a text already in hand, reported under `name`."""
    doc = load_yaml(text, name)
    data = doc.data
    checker = _Checker(name, _positions(doc), today or datetime.date.today())
    rule_file = checker.check(data)
    if checker.diagnostics:
        raise InputError(checker.diagnostics)
    assert rule_file is not None
    return rule_file


def classify(report: CompareReport, rules: RuleFile | None) -> CompareReport:
    """Give every discrepancy the class of the first rule matching it; count the classes,
    the unclassified, and name the stale rules (those that match no discrepancy)."""
    matched: set[str] = set()
    out = []
    for d in report.discrepancies:
        winner = None
        for rule in rules.rules if rules else ():
            if rule.match.matches(d):
                matched.add(rule.id)
                winner = winner or rule
        out.append(msgspec.structs.replace(
            d, classification=winner.class_ if winner else None, rule=winner.id if winner else None))
    counts = {c: sum(1 for d in out if d.classification == c) for c in CLASSES}
    summary = msgspec.structs.replace(
        report.summary,
        by_class={c: n for c, n in counts.items() if n},
        unclassified=sum(1 for d in out if d.classification is None),
    )
    accepted = {}
    for reason in report.summary.incomplete_reasons:
        entry = next((a for a in rules.accept_incomplete if a.accepts(reason)), None) if rules else None
        if entry is not None:
            accepted[reason] = f"{entry.id}: {entry.reason}"
    summary = msgspec.structs.replace(summary, accepted_incomplete=accepted)
    stale = tuple(r.id for r in rules.rules if r.id not in matched) if rules else ()
    return msgspec.structs.replace(report, discrepancies=tuple(out), summary=summary,
                                   stale_rules=stale)


# -- validation ----------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


class _Pos(msgspec.Struct, frozen=True):
    key: Span  # the key of a mapping entry (or the item itself, in a sequence)
    value: Span


def _positions(doc: Document) -> dict[Path_, _Pos]:
    """Where each key and item of the document stands, by path from the root; duplicate
    keys are recorded under `("!dup",) + path` so the checker can name them."""
    out = {path: _Pos(doc.key(path), span) for path, span in doc.values.items()}
    for path, span, _first in doc.duplicates:
        out[("!dup",) + path] = _Pos(span, span)
    return out


def glob_problem(glob: str) -> str | None:
    """Why `glob` is not a usable fnmatch pattern, or None when it is."""
    if not glob:
        return "empty glob"
    i = 0
    while i < len(glob):
        if glob[i] == "[":
            j = i + 1
            if j < len(glob) and glob[j] == "!":
                j += 1
            if j < len(glob) and glob[j] == "]":
                j += 1
            close = glob.find("]", j)
            if close < 0:
                return f"unbalanced `[` at position {i + 1}"
            i = close
        i += 1
    return None


_TYPE_ERROR = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _date(value: object) -> datetime.date | None:
    """A date written `2027-03-31` (or a timestamp, of which the day counts); dates reach
    here as text, so `2026-13-01` is this diagnostic rather than a loader's crash."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(value).date()
    except ValueError:
        return None


class _Checker:
    """Collects every problem of one rule file, each located by its path in the document."""

    def __init__(self, name: str, positions: dict[Path_, _Pos], today: datetime.date):
        self.name = name
        self.positions = positions
        self.today = today
        self.diagnostics: list[Diagnostic] = []


    def expiry(self, raw: dict, path: Path_, label: str, review: str) -> datetime.date | None:
        """The `expires` date of a rule or an accept_incomplete entry, checked: not a
        date, or a date already past, is an error at the field."""
        expires = raw.get("expires")
        if expires is None:
            return None
        day = _date(expires)
        if day is None:
            self.error(Code.INVALID_VALUE, f"{label}: `expires` must be a date like "
                       f"2027-03-31, got `{expires}`", path + ("expires",), value=True)
        elif day < self.today:
            self.error(Code.EXPIRED_RULE, f"{label} expired on {day.isoformat()}",
                       path + ("expires",), value=True, help=review)
        return day
    def span(self, path: Path_, *, value: bool = False) -> Span:
        while path not in self.positions and path:
            path = path[:-1]
        pos = self.positions.get(path)
        if pos is None:
            return Span(file=self.name)
        return pos.value if value else pos.key

    def error(self, code: str, message: str, path: Path_, *, value: bool = False,
              help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code=code, message=message,
                                           span=self.span(path, value=value), help=help))

    def check(self, data: Any) -> RuleFile | None:
        for dup in (p for p in self.positions if p and p[0] == "!dup"):
            self.diagnostics.append(Diagnostic(
                code=Code.DUPLICATE_KEY, message=f"key `{dup[-1]}` appears twice",
                span=self.positions[dup].key))
        if not isinstance(data, dict):
            self.error(Code.INVALID_TYPE, "a classification file is a mapping with `version` and "
                       "`rules`", (), value=True)
            return None
        for key in data:
            if key not in FILE_KEYS:
                self.error(Code.UNKNOWN_KEY, f"unknown key `{key}`", (key,),
                           help=did_you_mean(key, FILE_KEYS))
        header = {k: v for k, v in data.items() if k in FILE_KEYS and k not in ("rules", "accept_incomplete")}
        if "version" not in data:
            self.error(Code.MISSING_FIELD, "missing field `version`", ())
            header["version"] = VERSIONS[-1]
        elif data["version"] not in VERSIONS or isinstance(data["version"], bool):
            self.error(Code.UNSUPPORTED_VERSION, f"unsupported version `{data['version']}`; "
                       f"this policydiff reads version 1", ("version",), value=True)
            header["version"] = VERSIONS[-1]
        blocking = data.get("blocking")
        for cls in blocking if isinstance(blocking, list) else ():
            if cls not in CLASSES:
                self.error(Code.UNKNOWN_CLASS, f"unknown class `{cls}` in `blocking`", ("blocking",),
                           value=True, help=did_you_mean(cls, CLASSES))
        rate = data.get("max_discrepancy_rate", 0.01)
        if isinstance(rate, (int, float)) and not isinstance(rate, bool) and not 0 < rate <= 1:
            self.error(Code.INVALID_VALUE, f"`max_discrepancy_rate` must be in (0, 1], got {rate}",
                       ("max_discrepancy_rate",), value=True)
        header_struct = self.convert(header, RuleFile, (), "")
        rules_data = data.get("rules", [])
        if rules_data is None:
            rules_data = []
        if not isinstance(rules_data, list):
            self.error(Code.INVALID_TYPE, "`rules` must be a list of rules", ("rules",), value=True)
            rules_data = []
        rules = tuple(r for r in self.check_rules(rules_data) if r is not None)
        accepts = self.check_accepts(data.get("accept_incomplete") or [])
        if header_struct is None or self.diagnostics:
            return None
        return msgspec.structs.replace(header_struct, rules=rules, accept_incomplete=accepts,
                                       path=self.name)

    def check_accepts(self, entries: Any) -> tuple[AcceptIncomplete, ...]:
        """`accept_incomplete`: each entry names the rule it accepts and why."""
        if not isinstance(entries, list):
            self.error(Code.INVALID_TYPE, "`accept_incomplete` must be a list of entries",
                       ("accept_incomplete",), value=True)
            return ()
        out = []
        seen: set[str] = set()
        for i, raw in enumerate(entries):
            path: Path_ = ("accept_incomplete", i)
            if not isinstance(raw, dict):
                self.error(Code.INVALID_TYPE, f"accept_incomplete entry {i + 1} must be a mapping", path)
                continue
            rid = raw.get("id")
            label = f"accept_incomplete `{rid}`" if isinstance(rid, str) and rid else \
                f"accept_incomplete entry {i + 1}"
            if isinstance(rid, str) and rid in seen:
                self.error(Code.DUPLICATE_RULE_ID, f"{label}: id already used", path + ("id",), value=True)
            seen.add(rid if isinstance(rid, str) else "")
            for key in raw:
                if key not in ACCEPT_KEYS:
                    self.error(Code.UNKNOWN_KEY, f"{label}: unknown key `{key}`", path + (key,),
                               help=did_you_mean(key, ACCEPT_KEYS))
            missing = [k for k in REQUIRED_ACCEPT_KEYS if k not in raw]
            for key in missing:
                self.error(Code.MISSING_FIELD, f"{label}: missing field `{key}`", path)
            for key in ("rule", "reason"):
                if isinstance(raw.get(key), str) and not raw[key].strip():
                    self.error(Code.INVALID_VALUE, f"{label}: `{key}` is empty", path + (key,))
            expires = self.expiry(raw, path, label,
                                  "review the unproved construct again, then extend or remove the entry")
            fields = {k: v for k, v in raw.items() if k in ACCEPT_KEYS}
            if "expires" in fields:
                fields["expires"] = expires
            entry = None if missing else self.convert(fields, AcceptIncomplete, path, label + ": ")
            if entry is not None:
                out.append(entry)
        return tuple(out)

    def check_rules(self, rules: list[Any]) -> Iterator[Rule | None]:
        seen: dict[str, int] = {}
        for i, raw in enumerate(rules):
            path: Path_ = ("rules", i)
            if not isinstance(raw, dict):
                self.error(Code.INVALID_TYPE, f"rule {i + 1} must be a mapping", path)
                continue
            rid = raw.get("id")
            label = f"rule `{rid}`" if isinstance(rid, str) and rid else f"rule {i + 1}"
            if isinstance(rid, str) and rid:
                if rid in seen:
                    self.error(Code.DUPLICATE_RULE_ID, f"{label}: id already used by rule "
                               f"{seen[rid] + 1}", path + ("id",), value=True)
                seen.setdefault(rid, i)
            for key in raw:
                if key not in RULE_KEYS:
                    self.error(Code.UNKNOWN_KEY, f"{label}: unknown key `{key}`", path + (key,),
                               help=did_you_mean(key, RULE_KEYS))
            missing = [key for key in REQUIRED_RULE_KEYS if key not in raw]
            for key in missing:
                self.error(Code.MISSING_FIELD, f"{label}: missing field `{key}`", path)
            if "class" in raw and raw["class"] not in CLASSES:
                self.error(Code.UNKNOWN_CLASS, f"{label}: unknown class `{raw['class']}`",
                           path + ("class",), value=True,
                           help=did_you_mean(raw["class"], CLASSES) or "classes are "
                           + ", ".join(CLASSES))
            if "reason" in raw and isinstance(raw["reason"], str) and not raw["reason"].strip():
                self.error(Code.INVALID_VALUE, f"{label}: `reason` is empty", path + ("reason",))
            expires = self.expiry(raw, path, label,
                                  "review the discrepancy again, then extend or remove the rule")
            match = self.check_match(raw.get("match"), path + ("match",), label)
            fields = {k: v for k, v in raw.items() if k in RULE_KEYS}
            fields["match"] = match if match is not None else {}
            if "expires" in fields:
                fields["expires"] = expires
            rule = None if missing else self.convert(fields, Rule, path, label + ": ")
            yield msgspec.structs.replace(rule, span=self.span(path)) if rule else None

    def check_match(self, match: Any, path: Path_, label: str) -> dict[str, list[str]] | None:
        if match is None:
            return None
        if not isinstance(match, dict):
            self.error(Code.INVALID_TYPE, f"{label}: `match` must be a mapping of "
                       + ", ".join(MATCH_KEYS), path, value=True)
            return None
        if not match:
            self.error(Code.EMPTY_MATCH, f"{label}: `match` is empty and would match every "
                       "discrepancy", path, help="name at least one of " + ", ".join(MATCH_KEYS))
        out: dict[str, list[str]] = {}
        for key, value in match.items():
            if key not in MATCH_KEYS:
                self.error(Code.UNKNOWN_KEY, f"{label}: unknown match key `{key}`", path + (key,),
                           help=did_you_mean(key, MATCH_KEYS))
                continue
            globs = [value] if isinstance(value, str) else value
            if not isinstance(globs, list) or not globs or not all(isinstance(g, str) for g in globs):
                self.error(Code.INVALID_TYPE, f"{label}: `match.{key}` must be a glob or a "
                           "non-empty list of globs", path + (key,), value=True)
                continue
            for g in globs:
                problem = glob_problem(g)
                if problem:
                    self.error(Code.INVALID_GLOB, f"{label}: `match.{key}` glob `{g}`: {problem}",
                               path + (key,), value=True)
                    continue
                known = {"direction": DIRECTIONS, "relation": RELATIONS}.get(key)
                if known and not any(fnmatch.fnmatchcase(k, g) for k in known):
                    self.error(f"unknown_{key}", f"{label}: `{g}` matches no {key} "
                               f"({', '.join(known)})", path + (key,), value=True,
                               help=did_you_mean(g, known))
            out[key] = globs
        return out

    def convert(self, fields: dict[str, Any], type_: type, path: Path_, label: str) -> Any:
        """Decode with msgspec for the types; its first complaint becomes a diagnostic at
        the field it names."""
        try:
            return msgspec.convert(fields, type_, strict=True)
        except msgspec.ValidationError as e:
            m = _TYPE_ERROR.match(str(e))
            sub: Path_ = tuple(key or int(index)
                               for key, index in _PATH_PART.findall(m["path"] or "")) if m else ()
            field = ".".join(str(p) for p in sub)
            where = f" in `{field}`" if field else ""
            msg = m["msg"] if m else str(e)
            self.error(Code.INVALID_TYPE, f"{label}{msg[:1].lower()}{msg[1:]}{where}", path + sub,
                       value=True)
            return None
