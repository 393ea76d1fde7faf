"""Replay files read and merged: the first stage of `analyze`.

A `policydiff.replay/1` file (`policydiff.results.ReplayReport`) is read strictly: JSON
that does not parse (a file cut short by a dead machine, say) is an `InputError` at its
line and column, another schema is named, a field of the wrong type is named by its path.

Several files merge when they are runs of the same two policies (by sha256): shards of
one workload from several machines, or runs with different seeds. What must never happen
is a request counted twice, so the merge refuses the same run given twice (`run_id`),
the same shard of one workload in two runs, and two overlapping slices of one workload
(a whole run and one of its shards, or shards cut into different numbers of slices).
A workload is its seed and size: the same seed and size draw the same requests.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TypeVar

import msgspec

from policydiff.documents import decode_text, load_json, read_bytes
from policydiff.errors import Code, Diagnostic, InputError
from policydiff.results import OUTCOMES, PolicyInfo, ReplayCell, ReplayReport
from policydiff.source import Span

T = TypeVar("T")

SCHEMA = "policydiff.replay/1"


class RunFile(msgspec.Struct, frozen=True, kw_only=True):
    """One replay file as read: where from, and what it holds."""

    path: str
    report: ReplayReport


class Merged(msgspec.Struct, frozen=True, kw_only=True):
    """The runs of one pair of policies, added up cell by cell."""

    v1: PolicyInfo
    v2: PolicyInfo
    files: tuple[RunFile, ...]
    requests: int
    errors: int
    outcomes: dict[str, int]
    cells: tuple[ReplayCell, ...]


def read_report(path: str | Path, type_: type[T], *, schema: str, what: str, writer: str,
                code: str) -> tuple[bytes, T]:
    """A JSON report of `schema` decoded as `type_`, with its bytes (for hashing); an
    unreadable file, bad JSON (located), another schema or a bad field is an
    `InputError` naming the file. `writer` is the command whose output is expected."""
    name = str(path)
    data = read_bytes(path, what)
    try:
        doc = msgspec.json.decode(data)
    except RecursionError:
        raise InputError.at(Code.TOO_DEEP, "JSON nested too deeply", Span(file=name)) from None
    except msgspec.DecodeError:
        text = decode_text(data, name)  # not UTF-8: located at the first bad byte; a BOM dropped
        try:
            doc = msgspec.json.decode(text)
        except msgspec.DecodeError:
            raise _json_error(text, name) from None
    found = doc.get("schema") if isinstance(doc, dict) else None
    if found != schema:
        found = f"schema `{found}`" if found else "no `schema` field"
        raise InputError.at(Code.WRONG_SCHEMA, f"not a {what}: {found}, expected `{schema}`",
                            Span(file=name), help=f"this reads what `{writer}` writes")
    try:
        return data, msgspec.convert(doc, type_)
    except msgspec.ValidationError as e:
        raise InputError.at(code, str(e).replace("$", "", 1).lower(), Span(file=name)) from None


def load_run(path: str | Path) -> RunFile:
    """Read one replay file; every problem is an `InputError` naming the file."""
    name = str(path)
    _, report = read_report(path, ReplayReport, schema=SCHEMA, what="replay file",
                            writer="policydiff replay --output", code=Code.BAD_REPLAY_FILE)
    missing = [o for o in OUTCOMES if o not in report.outcomes]
    if missing:
        raise InputError.at(Code.BAD_REPLAY_FILE, f"`outcomes` lacks {', '.join(missing)}",
                            Span(file=name))
    return RunFile(path=name, report=report)


def _json_error(text: str, name: str) -> InputError:
    if not text.strip():
        return InputError.at(Code.SYNTAX_ERROR, "the file is empty", Span(file=name, line=1, col=1))
    try:
        load_json(text, name)
    except InputError as e:
        if e.code == Code.SYNTAX_ERROR and e.span.line and _offset(text, e.span) >= len(text.rstrip()):
            return InputError.at(Code.SYNTAX_ERROR, "the file ends before the JSON does (truncated?)", e.span)
        if e.code == Code.SYNTAX_ERROR:
            return InputError.at(Code.SYNTAX_ERROR, f"invalid JSON: {e.diagnostic.message}", e.span)
        return e
    return InputError.at(Code.SYNTAX_ERROR, "invalid JSON", Span(file=name))


def _offset(text: str, span: Span) -> int:
    lines = text.split("\n")
    return sum(len(line) + 1 for line in lines[: span.line - 1]) + span.col - 1


def _slices(shard: str | None, name: str) -> tuple[int, int]:
    """`"I/N"` as (I, N); a whole run is (1, 1)."""
    if shard is None:
        return (1, 1)
    i, sep, n = shard.partition("/")
    if sep and i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n):
        return int(i), int(n)
    raise InputError.at(Code.BAD_REPLAY_FILE, f"`run.shard` is `{shard}`, not `I/N`", Span(file=name))


def merge(files: list[RunFile]) -> Merged:
    """Add runs up; refuse mixed policies and any request counted twice."""
    if not files:
        raise InputError.at(Code.MISSING_INPUT, "no replay file given", Span(file="--input"))
    problems: list[Diagnostic] = []
    first = files[0].report.run
    for f in files[1:]:
        run = f.report.run
        for side in ("v1", "v2"):
            mine, theirs = getattr(run, side), getattr(first, side)
            if mine.sha256 != theirs.sha256:
                problems.append(Diagnostic(
                    code=Code.MIXED_POLICIES, span=Span(file=f.path),
                    message=f"{side} is `{mine.path}` sha256 {mine.sha256[:12]}…, but "
                            f"{files[0].path} ran `{theirs.path}` sha256 {theirs.sha256[:12]}…",
                    help="analyze the runs of each pair of policies separately"))
    seen_ids: dict[str, str] = {}
    workloads: dict[tuple[int, int], list[tuple[int, int, str]]] = defaultdict(list)
    for f in files:
        run = f.report.run
        if run.run_id in seen_ids:
            problems.append(Diagnostic(
                code=Code.COUNTED_TWICE, span=Span(file=f.path),
                message=f"run `{run.run_id}` is also in {seen_ids[run.run_id]}: "
                        "its requests would be counted twice"))
            continue
        seen_ids[run.run_id] = f.path
        i, n = _slices(run.shard, f.path)
        for j, m, other in workloads[(run.seed, run.requests)]:
            if (j, m) == (i, n) or m != n:
                what = f"shard {i}/{n}" if n > 1 else "the whole workload"
                theirs = f"shard {j}/{m}" if m > 1 else "the whole workload"
                problems.append(Diagnostic(
                    code=Code.COUNTED_TWICE, span=Span(file=f.path),
                    message=f"{what} of seed {run.seed} ({run.requests} requests) overlaps "
                            f"{theirs} in {other}: the same requests would be counted twice",
                    help="give each shard of a workload once, or runs with different seeds"))
        workloads[(run.seed, run.requests)].append((i, n, f.path))
    if problems:
        raise InputError(problems)
    cells: dict[tuple[str, str, str, str], list[int]] = {}
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for f in files:
        for c in f.report.cells:
            acc = cells.setdefault(c.key, [0, 0, 0, 0])
            acc[0] += c.requests
            acc[1] += c.v2_more_permissive
            acc[2] += c.v2_more_restrictive
            acc[3] += c.errors
        for o in OUTCOMES:
            outcomes[o] += f.report.outcomes.get(o, 0)
    merged_cells = tuple(
        ReplayCell(tenant=k[0], role=k[1], action=k[2], relation=k[3], requests=a[0],
                   v2_more_permissive=a[1], v2_more_restrictive=a[2], errors=a[3])
        for k, a in sorted(cells.items()))
    return Merged(v1=first.v1, v2=first.v2, files=tuple(files),
                  requests=sum(f.report.requests for f in files),
                  errors=sum(f.report.errors for f in files), outcomes=outcomes,
                  cells=merged_cells)
