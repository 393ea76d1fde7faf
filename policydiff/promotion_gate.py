"""The promotion gate: the runbook's Step 5 table over analysis reports.

Not `policydiff.gate`, which gates one symbolic compare before merge; this one decides
whether RBACv2 may be promoted, from the empirical evidence of a whole track: the
`policydiff.analysis/1` reports of its replays, the last rollback drill recorded in the
audit log, and a person's signoff. Every row carries the figure behind it, so the table
a person signs shows why each box is (or is not) checked. Reports of different policies,
or two reports that count the same run, are bad input: the table would add up evidence
that is not about one change.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import msgspec

from policydiff.analyze import SCHEMA as ANALYSIS_SCHEMA
from policydiff.analyze import AnalysisReport
from policydiff.errors import Code, Diagnostic, InputError
from policydiff.results import PolicyInfo
from policydiff.runs import read_report
from policydiff.source import Span

SCHEMA = "policydiff.promotion_gate/1"
MIN_REQUESTS = 800_000
MAX_RATE = 0.01
DEFAULT_BUDGET_MS = 5.0
DEFAULT_FACTOR = 2.0
# Below this, a difference of p95s is timer noise, not a slower policy.
NOISE_MS = 0.05


class LoadedReport(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    sha256: str
    report: AnalysisReport


class ReportRef(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    sha256: str
    requests: int
    run_ids: tuple[str, ...]
    finished: str


class Row(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    holds: bool
    figure: str


class Drill(msgspec.Struct, frozen=True, kw_only=True):
    """A rollback drill as the audit log recorded it."""

    id: int
    at: str
    passed: bool


class PromotionGate(msgspec.Struct, frozen=True, kw_only=True):
    schema: str = SCHEMA
    v1: PolicyInfo
    v2: PolicyInfo
    reports: tuple[ReportRef, ...]
    rows: tuple[Row, ...]
    passed: bool
    signoff: str | None = None
    latency_budget_ms: float
    latency_factor: float


def load_analysis(path: str | Path) -> LoadedReport:
    data, report = read_report(path, AnalysisReport, schema=ANALYSIS_SCHEMA,
                               what="analysis report", writer="policydiff analyze --output",
                               code=Code.BAD_REPORT)
    return LoadedReport(path=str(path), sha256=hashlib.sha256(data).hexdigest(), report=report)


def _check(reports: list[LoadedReport]) -> None:
    if not reports:
        raise InputError.at(Code.MISSING_REPORTS, "the promotion gate needs analysis reports",
                            Span(file="REPORT"),
                            help="run `policydiff analyze` on each step's replay files first")
    problems = []
    first = reports[0]
    runs: dict[str, str] = {}
    for r in reports:
        for side in ("v1", "v2"):
            mine, theirs = getattr(r.report, side), getattr(first.report, side)
            if mine.sha256 != theirs.sha256:
                problems.append(Diagnostic(
                    code=Code.MIXED_POLICIES, span=Span(file=r.path),
                    message=f"{side} is `{mine.path}` sha256 {mine.sha256[:12]}…, but "
                            f"{first.path} analysed `{theirs.path}` sha256 {theirs.sha256[:12]}…"))
        for run in r.report.runs:
            if run.run_id in runs and runs[run.run_id] != r.path:
                problems.append(Diagnostic(
                    code=Code.COUNTED_TWICE, span=Span(file=r.path),
                    message=f"run `{run.run_id}` is also counted in {runs[run.run_id]}"))
            runs[run.run_id] = r.path
    if problems:
        raise InputError(problems)


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def promotion_gate(reports: list[LoadedReport], *, drill: Drill | None, signoff: str | None,
                   latency_budget_ms: float = DEFAULT_BUDGET_MS,
                   latency_factor: float = DEFAULT_FACTOR,
                   min_requests: int = MIN_REQUESTS) -> PromotionGate:
    """Step 5's table over `reports` (checked to be of one pair of policies, no run
    counted twice), the last recorded `drill` and the `signoff`."""
    _check(reports)
    rs = [r.report for r in reports]
    total = sum(r.requests for r in rs)
    permissive = sum(r.v2_more_permissive for r in rs)
    differing = sum(r.v2_more_permissive + r.v2_more_restrictive for r in rs)
    rate = differing / total if total else 0.0
    classified = min(r.classified_fraction for r in rs)
    cells = sum(len(r.discrepant_cells) for r in rs)
    v1_p95 = max(r.latency_ms.v1.p95 for r in rs)
    v2_p95 = max(r.latency_ms.v2.p95 for r in rs)
    latency_ok = v2_p95 <= latency_budget_ms and v2_p95 <= max(v1_p95 * latency_factor,
                                                              v1_p95 + NOISE_MS)
    ratio = f"×{v2_p95 / v1_p95:.2f}" if v1_p95 else "v1 p95 is 0"
    finished = max((run.finished for r in rs for run in r.runs), key=when, default=None)
    hit = [f"{rep.path}: {c.name}" for rep in reports for c in rep.report.stop_conditions if c.hit]
    rows = (
        Row(name=f"total requests ≥ {min_requests:,}", holds=total >= min_requests,
            figure=f"{total:,} requests in {len(rs)} reports"),
        Row(name="v2_more_permissive = 0", holds=permissive == 0,
            figure=f"{permissive:,} requests"),
        Row(name=f"discrepancy rate < {MAX_RATE * 100:g} %", holds=rate < MAX_RATE,
            figure=f"{rate * 100:.3f} % ({differing:,} of {total:,} requests)"),
        Row(name="100 % of discrepancies classified", holds=classified >= 1.0,
            figure=f"{classified * 100:.1f} % of {cells} discrepant cells"),
        Row(name="v2 p95 latency acceptable", holds=latency_ok,
            figure=f"v2 p95 {v2_p95:.3f} ms (budget {latency_budget_ms:g} ms); v1 p95 "
                   f"{v1_p95:.3f} ms, {ratio} (limit ×{latency_factor:g}, or +{NOISE_MS:g} ms "
                   f"where p95s are within timer noise)"),
        Row(name="no stop condition hit", holds=not hit,
            figure="; ".join(hit) if hit else "every analysis passed"),
        _drill_row(drill, finished),
        Row(name="human signoff", holds=bool(signoff and signoff.strip()),
            figure=f"signed off by {signoff.strip()}" if signoff and signoff.strip()
            else "no --signoff given"),
    )
    return PromotionGate(
        v1=rs[0].v1, v2=rs[0].v2,
        reports=tuple(ReportRef(path=r.path, sha256=r.sha256, requests=r.report.requests,
                                run_ids=tuple(x.run_id for x in r.report.runs),
                                finished=max((x.finished for x in r.report.runs), key=when,
                                             default=""))
                      for r in reports),
        rows=rows, passed=all(r.holds for r in rows), signoff=signoff,
        latency_budget_ms=latency_budget_ms, latency_factor=latency_factor)


def _drill_row(drill: Drill | None, finished: str | None) -> Row:
    name = "rollback tested"
    if drill is None:
        return Row(name=name, holds=False, figure="no rollback drill recorded "
                   "(`policydiff rollback --drill`)")
    if not drill.passed:
        return Row(name=name, holds=False, figure=f"last drill (audit #{drill.id}, {drill.at}) failed")
    if finished and when(drill.at) < when(finished):
        return Row(name=name, holds=False,
                   figure=f"last drill (audit #{drill.id}, {drill.at}) is older than the last "
                          f"run ({finished})")
    return Row(name=name, holds=True, figure=f"drill passed (audit #{drill.id}, {drill.at})")
