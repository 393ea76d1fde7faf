"""The empirical report: the runbook's stop conditions over merged replay runs.

`analyze(merged, ...)` takes runs merged by `policydiff.runs`, the two policies they ran
(whose sha256 must be the run's: a policy edited since is refused, never silently
analysed) and the tenancy they ran over (whose digest must be the one each run recorded,
for the same reason), and returns an `AnalysisReport`
(`policydiff.analysis/1`). Not to be confused with `policydiff.analysis`, which reads
policies; this module reads what replay observed.

Every discrepant (cell, direction) replay saw goes through the same classifier as
compare's, with the witness and rules of the symbolic diff where it predicted the cell.
The symbolic diff is recomputed over the same tenancy, and the two must agree cell for
cell (docs/design.md, The matrix): a discrepancy replay saw that the diff did not predict is
`unexpected`, a predicted one no request showed is `unexercised`. Latency percentiles of
several runs merge conservatively (the worst of each); the histograms add up.
"""

from __future__ import annotations

from typing import Any

import msgspec

from policydiff.classify import RuleFile, classify
from policydiff.diff import diff, policy_info
from policydiff.errors import Code, Diagnostic, InputError
from policydiff.policy import Policy
from policydiff.results import (
    OUTCOMES,
    CompareReport,
    Discrepancy,
    Latency,
    Percentiles,
    PolicyInfo,
    ReplayCell,
)
from policydiff.runs import Merged
from policydiff.source import Span
from policydiff.tenancy import Tenancy

SCHEMA = "policydiff.analysis/1"
RUNBOOK_MAX_RATE = 0.01  # the runbook's limit, over replayed requests
STOP_CONDITIONS = ("v2_more_permissive", "script_errors", "missing_metrics", "discrepancy_rate",
                   "unclassified", "engine_errors", "disagreement")
HISTOGRAMS = {"v1": "rbac_v1_latency_seconds", "v2": "rbac_v2_latency_seconds",
              "db": "rbac_db_lookup_seconds"}


class StopCondition(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    hit: bool
    detail: str


class CellDirection(msgspec.Struct, frozen=True, kw_only=True):
    """A (cell, direction) the two halves disagree on, and the requests replay sent it."""

    tenant: str
    role: str
    action: str
    relation: str
    direction: str
    requests: int


class Agreement(msgspec.Struct, frozen=True, kw_only=True):
    unexpected_cells: tuple[CellDirection, ...] = ()
    unexercised_cells: tuple[CellDirection, ...] = ()


class DiscrepantCell(msgspec.Struct, frozen=True, kw_only=True):
    """A (cell, direction) where replay saw v2 decide differently, classified."""

    tenant: str
    role: str
    action: str
    relation: str
    direction: str
    requests: int  # requests of the cell that differed this way
    cell_requests: int
    classification: str | None = None
    rule: str | None = None
    witness: dict[str, Any] = {}
    v1_rules: tuple[str, ...] = ()
    v2_rules: tuple[str, ...] = ()


class RunRef(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    run_id: str
    shard: str | None
    seed: int
    requests: int
    parallel: int
    churn: float
    started: str
    finished: str


class Bucket(msgspec.Struct, frozen=True, array_like=True):
    le: float | None  # upper bound in seconds; None is +Inf (JSON has no infinity), last
    count: int  # cumulative


class AnalysisReport(msgspec.Struct, frozen=True, kw_only=True):
    schema: str = SCHEMA
    v1: PolicyInfo
    v2: PolicyInfo
    runs: tuple[RunRef, ...]
    requests: int
    v2_more_permissive: int
    v2_more_restrictive: int
    errors: int
    discrepancy_rate: float
    classified_fraction: float
    unclassified_cells: tuple[CellDirection, ...] = ()
    agreement: Agreement
    latency_ms: Latency
    stop_conditions: tuple[StopCondition, ...]
    passed: bool
    classifications: str | None = None
    discrepant_cells: tuple[DiscrepantCell, ...] = ()
    cells: tuple[ReplayCell, ...] = ()
    latency_histograms: dict[str, tuple[Bucket, ...]] = {}


def check_policies(merged: Merged, v1: Policy, v2: Policy) -> tuple[PolicyInfo, PolicyInfo]:
    """The runs' policy records, once the loaded policies are proved to be those files."""
    problems = []
    for side, loaded, recorded in (("v1", v1, merged.v1), ("v2", v2, merged.v2)):
        digest = policy_info(loaded).sha256
        if digest != recorded.sha256:
            problems.append(Diagnostic(
                code=Code.POLICY_CHANGED, span=Span(file=recorded.path),
                message=f"{side} has sha256 {digest[:12]}… but the run recorded "
                        f"{recorded.sha256[:12]}…: the policy changed since it was replayed",
                help=f"replay again, or give the file that was run with --{side}"))
    if problems:
        raise InputError(problems)
    return merged.v1, merged.v2


def check_tenancy(merged: Merged, tenancy: Tenancy) -> None:
    """Every run that recorded its tenancy ran over `tenancy`'s facts: compared with
    other facts, its cells would show disagreements that are not the policies'."""
    from policydiff.replay.workload import tenancy_digest

    digest = tenancy_digest(tenancy)
    problems = [Diagnostic(
        code=Code.TENANCY_CHANGED, span=Span(file=f.path),
        message=f"the run replayed the tenancy sha256 {f.report.run.tenancy_sha256[:12]}…, but the "
                f"tenancy analysed now has sha256 {digest[:12]}…: its facts changed since the run",
        help="replay again against the facts as they are now, or analyse with --tenancy "
             "naming the facts the run replayed")
        for f in merged.files if f.report.run.tenancy_sha256 not in (None, digest)]
    if problems:
        raise InputError(problems)


def analyze(merged: Merged, v1: Policy, v2: Policy, tenancy: Tenancy,
            rules: RuleFile | None) -> AnalysisReport:
    """The stop conditions over `merged`, checked against the symbolic diff of `v1` and
    `v2` (loaded policies) over `tenancy`, the facts the runs replayed."""
    v1_info, v2_info = check_policies(merged, v1, v2)
    check_tenancy(merged, tenancy)
    predicted = diff(v1, v2, tenancy=tenancy, v1_info=v1_info, v2_info=v2_info)
    cells = {c.key: c for c in merged.cells}
    seen = _observed(merged.cells)
    expected = {(d.key, d.direction): d for d in predicted.discrepancies}
    unexpected = tuple(_cd(k, d, cells) for k, d in sorted(set(seen) - set(expected)))
    unexercised = tuple(_cd(k, d, cells) for k, d in sorted(set(expected) - set(seen)))
    classified = _classified(predicted, seen, expected, cells, rules)
    unclassified = tuple(_cd(c_key(c), c.direction, cells) for c in classified
                         if c.classification is None)
    n_disc = len(classified)
    fraction = (n_disc - len(unclassified)) / n_disc if n_disc else 1.0
    permissive = merged.outcomes["v2_more_permissive"]
    restrictive = merged.outcomes["v2_more_restrictive"]
    rate = (permissive + restrictive) / merged.requests if merged.requests else 0.0
    conditions = (
        _permissive(permissive, classified),
        _script_errors(merged),
        _metrics(merged),
        StopCondition(name="discrepancy_rate", hit=rate >= RUNBOOK_MAX_RATE,
                      detail=f"{rate * 100:.3f} % of {merged.requests} requests "
                             f"(limit {RUNBOOK_MAX_RATE * 100:g} %)"),
        _unclassified(classified, rules),
        _engine_errors(merged),
        _disagreement(unexpected, unexercised),
    )
    return AnalysisReport(
        v1=v1_info, v2=v2_info, runs=tuple(_ref(f) for f in merged.files),
        requests=merged.requests, v2_more_permissive=permissive,
        v2_more_restrictive=restrictive, errors=merged.errors, discrepancy_rate=rate,
        classified_fraction=fraction, unclassified_cells=unclassified,
        agreement=Agreement(unexpected_cells=unexpected, unexercised_cells=unexercised),
        latency_ms=_latency(merged), stop_conditions=conditions,
        passed=not any(c.hit for c in conditions),
        classifications=rules.path if rules else None, discrepant_cells=classified,
        cells=merged.cells, latency_histograms=_histograms(merged))


Key = tuple[str, str, str, str]


def c_key(c: DiscrepantCell | CellDirection) -> Key:
    return (c.tenant, c.role, c.action, c.relation)


def _observed(cells: tuple[ReplayCell, ...]) -> dict[tuple[Key, str], int]:
    out = {}
    for c in cells:
        for direction in ("v2_more_permissive", "v2_more_restrictive"):
            n = getattr(c, direction)
            if n:
                out[(c.key, direction)] = n
    return out


def _cd(key: Key, direction: str, cells: dict[Key, ReplayCell]) -> CellDirection:
    c = cells.get(key)
    return CellDirection(tenant=key[0], role=key[1], action=key[2], relation=key[3],
                         direction=direction, requests=c.requests if c else 0)


def _classified(predicted: CompareReport, seen: dict, expected: dict,
                cells: dict[Key, ReplayCell], rules: RuleFile | None) -> tuple[DiscrepantCell, ...]:
    """Every (cell, direction) replay saw, through compare's classifier."""
    ds = []
    for (key, direction) in sorted(seen):
        known = expected.get((key, direction))
        ds.append(known or Discrepancy(
            tenant=key[0], role=key[1], action=key[2], relation=key[3], direction=direction,
            v1="deny" if direction == "v2_more_permissive" else "allow",
            v2="allow" if direction == "v2_more_permissive" else "deny", witness={}))
    report = classify(msgspec.structs.replace(predicted, discrepancies=tuple(ds)), rules)
    return tuple(
        DiscrepantCell(tenant=d.tenant, role=d.role, action=d.action, relation=d.relation,
                       direction=d.direction, requests=seen[(d.key, d.direction)],
                       cell_requests=cells[d.key].requests, classification=d.classification,
                       rule=d.rule, witness=d.witness, v1_rules=d.v1_rules, v2_rules=d.v2_rules)
        for d in report.discrepancies)


def _label(c: DiscrepantCell | CellDirection) -> str:
    return f"{c.role} {c.action} on {c.relation} in {c.tenant}"


def _some(cs, more: int = 3) -> str:
    names = [_label(c) for c in cs[:more]]
    return "; ".join(names) + (f" and {len(cs) - more} more" if len(cs) > more else "")


def _permissive(n: int, classified: tuple[DiscrepantCell, ...]) -> StopCondition:
    cs = [c for c in classified if c.direction == "v2_more_permissive"]
    detail = f"{n} requests" + (f" in {len(cs)} cells: {_some(cs)}" if cs else "")
    return StopCondition(name="v2_more_permissive", hit=n > 0, detail=detail)


def _script_errors(merged: Merged) -> StopCondition:
    why = []
    for f in merged.files:
        r = f.report
        if not r.complete:
            why.append(f"{f.path}: incomplete run")
        if r.errors:
            why.append(f"{f.path}: {r.errors} errors")
        why.extend(f"{f.path}: {p}" for p in r.problems)
        expected = r.run.requests
        if r.run.shard is None and r.requests != expected:
            why.append(f"{f.path}: {r.requests} of {expected} requests executed")
    return StopCondition(name="script_errors", hit=bool(why),
                         detail="; ".join(why) if why else "complete, no errors")


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for family in text_string_to_metric_families(text):
        out.extend((s.name, s.labels, s.value) for s in family.samples)
    return out


def _metrics(merged: Merged) -> StopCondition:
    why = []
    for f in merged.files:
        r = f.report
        if not r.metrics.strip():
            why.append(f"{f.path}: no metrics scrape")
            continue
        try:
            samples = _samples(r.metrics)
        except ValueError as e:
            why.append(f"{f.path}: unreadable metrics ({e})")
            continue
        counted = {lab.get("outcome"): v for name, lab, v in samples
                   if name == "rbac_v1_v2_comparison_total"}
        for o in OUTCOMES:
            got = counted.get(o)
            if got is None:
                why.append(f"{f.path}: no rbac_v1_v2_comparison_total{{outcome=\"{o}\"}}")
            elif int(got) != r.outcomes[o]:
                why.append(f"{f.path}: rbac_v1_v2_comparison_total{{outcome=\"{o}\"}} is "
                           f"{int(got)} but the run counted {r.outcomes[o]}")
        total = [v for name, _, v in samples if name == "rbac_replay_requests_total"]
        if not total:
            why.append(f"{f.path}: no rbac_replay_requests_total")
        elif int(sum(total)) != r.requests:
            why.append(f"{f.path}: rbac_replay_requests_total is {int(sum(total))} but the run "
                       f"counted {r.requests}")
    return StopCondition(name="missing_metrics", hit=bool(why),
                         detail="; ".join(why) if why else "counters match the counts")


def _unclassified(classified: tuple[DiscrepantCell, ...], rules: RuleFile | None) -> StopCondition:
    none = [c for c in classified if c.classification is None]
    blocking = [c for c in classified if rules and c.classification in rules.blocking]
    why = []
    if none:
        where = f" (no rule in {rules.path} matches)" if rules else " (no classification file)"
        why.append(f"{len(none)} of {len(classified)} discrepant cells unclassified{where}: "
                   f"{_some(none)}")
    if blocking:
        why.append(f"{len(blocking)} classified in a blocking class: {_some(blocking)}")
    detail = "; ".join(why) or f"{len(classified)} discrepant cells, all classified"
    return StopCondition(name="unclassified", hit=bool(why), detail=detail)


def _engine_errors(merged: Merged) -> StopCondition:
    n = merged.outcomes["error"]
    cells = sum(1 for c in merged.cells if c.errors)
    detail = f"{n} requests" + (f" in {cells} cells" if cells else "")
    return StopCondition(name="engine_errors", hit=n > 0 or cells > 0, detail=detail)


def _disagreement(unexpected, unexercised) -> StopCondition:
    why = []
    if unexpected:
        why.append(f"{len(unexpected)} seen but not predicted: {_some(unexpected)}")
    if unexercised:
        why.append(f"{len(unexercised)} predicted but not seen: {_some(unexercised)}")
    return StopCondition(name="disagreement", hit=bool(why),
                         detail="; ".join(why) or "replay and the symbolic diff agree cell for cell")


def _ref(f) -> RunRef:
    r = f.report.run
    return RunRef(path=f.path, run_id=r.run_id, shard=r.shard, seed=r.seed, requests=r.requests,
                  parallel=r.parallel, churn=r.churn, started=r.started, finished=r.finished)


def _latency(merged: Merged) -> Latency:
    def worst(side: str) -> Percentiles:
        ps = [getattr(f.report.latency_ms, side) for f in merged.files]
        return Percentiles(**{q: max(getattr(p, q) for p in ps) for q in ("p50", "p95", "p99", "max")})

    return Latency(v1=worst("v1"), v2=worst("v2"), db=worst("db"))


def _histograms(merged: Merged) -> dict[str, tuple[Bucket, ...]]:
    out: dict[str, dict[float, float]] = {}
    for f in merged.files:
        try:
            samples = _samples(f.report.metrics) if f.report.metrics.strip() else []
        except ValueError:
            continue
        for side, metric in HISTOGRAMS.items():
            for name, labels, v in samples:
                if name == metric + "_bucket":
                    le = float(labels["le"])
                    acc = out.setdefault(side, {})
                    acc[le] = acc.get(le, 0) + v
    return {side: tuple(Bucket(None if le == float("inf") else le, int(n))
                        for le, n in sorted(b.items())) for side, b in out.items()}
