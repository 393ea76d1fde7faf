"""Results as data: the compare report and its parts (docs/design.md, Reports).

These Structs are what the library returns and what `policydiff.report` renders; the
JSON form of `CompareReport` is the `policydiff.compare/1` contract, field for field.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Direction = Literal["v2_more_permissive", "v2_more_restrictive"]
DIRECTIONS: tuple[str, ...] = ("v2_more_permissive", "v2_more_restrictive")
Decision = Literal["allow", "deny", "mixed"]
CLASSES: tuple[str, ...] = ("expected_tightening", "expected_loosening", "bug", "spec_gap")


class PolicyInfo(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    sha256: str
    decision: str


class Cell(msgspec.Struct, frozen=True, kw_only=True):
    """One cell of the matrix and how each policy decides its requests
    (`mixed`: some requests of the cell are allowed, others denied)."""

    tenant: str
    role: str
    action: str
    relation: str
    v1: Decision
    v2: Decision

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.tenant, self.role, self.action, self.relation)


class Discrepancy(msgspec.Struct, frozen=True, kw_only=True):
    """A (cell, direction) pair where v2 decides differently from v1, with a witness
    request that shows it and the rules that decided the witness in each policy."""

    tenant: str
    role: str
    action: str
    relation: str
    direction: Direction
    v1: str
    v2: str
    witness: dict[str, Any]
    v1_rules: tuple[str, ...] = ()
    v2_rules: tuple[str, ...] = ()
    classification: str | None = None
    rule: str | None = None
    attributes: dict[str, str] = {}  # other input classes, for `--dimension` comparisons

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.tenant, self.role, self.action, self.relation)


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    cells: int
    discrepancies: int
    v2_more_permissive: int
    v2_more_restrictive: int
    unclassified: int
    discrepancy_rate: float
    complete: bool
    by_class: dict[str, int] = {}
    incomplete_reasons: tuple[str, ...] = ()  # names the rule when `complete` is false
    # input paths the policies read that the request model does not have: split into
    # classes like any other path, absent among them (`--dimension` compares other shapes)
    outside_model: tuple[str, ...] = ()
    # cells whose verdict is not proved for every request: every cell while a reason
    # stands that the classification file does not accept (a construct in one rule can
    # change the verdict of any cell)
    unproved_cells: int = 0
    # incomplete reasons a reviewed `accept_incomplete` entry accepts: reason -> "id: why"
    accepted_incomplete: dict[str, str] = {}

    @property
    def unproved_reasons(self) -> tuple[str, ...]:
        """The incomplete reasons no `accept_incomplete` entry accepts: they block."""
        return tuple(r for r in self.incomplete_reasons if r not in self.accepted_incomplete)


class Gate(msgspec.Struct, frozen=True, kw_only=True):
    passed: bool
    reasons: tuple[str, ...] = ()


class CompareReport(msgspec.Struct, frozen=True, kw_only=True):
    schema: str = "policydiff.compare/1"
    v1: PolicyInfo
    v2: PolicyInfo
    summary: Summary
    discrepancies: tuple[Discrepancy, ...] = ()
    stale_rules: tuple[str, ...] = ()
    gate: Gate
    # Every cell with its verdicts; used by the JUnit and text renderers, left out of
    # the JSON report (see `report.json`), which lists discrepancies only.
    cells: tuple[Cell, ...] = ()


# --- replay (`policydiff.replay/1`) -------------------------------------------------
# The empirical half's report, field for field as docs/design.md fixes it. `replay` writes
# it and `analyze` reads it: both go through these Structs, so the two cannot drift.

OUTCOMES: tuple[str, ...] = ("match", "v2_more_permissive", "v2_more_restrictive", "error")


class Percentiles(msgspec.Struct, frozen=True, kw_only=True):
    """Latency in milliseconds, from histograms fine enough for p95/p99."""

    p50: float
    p95: float
    p99: float
    max: float


class Latency(msgspec.Struct, frozen=True, kw_only=True):
    v1: Percentiles
    v2: Percentiles
    db: Percentiles


class ReplayRun(msgspec.Struct, frozen=True, kw_only=True):
    """How a replay was run. `run_id` is unique per run; `shard` is "I/N" when the
    workload was one of N deterministic slices (shards of one workload share `seed`
    and `requests`, and each request belongs to exactly one shard); `tenancy_sha256`
    identifies the facts it ran over."""

    v1: PolicyInfo
    v2: PolicyInfo
    dsn: str  # password redacted
    requests: int  # requests of the whole workload (all shards)
    parallel: int
    seed: int
    started: str  # ISO 8601, UTC
    finished: str
    run_id: str
    shard: str | None = None
    churn: float = 0.0
    # sha256 of the tenancy the workload was planned over (`replay.workload.tenancy_digest`):
    # `analyze` refuses a run whose tenancy is not the one it analyses. None in files
    # written before it was recorded.
    tenancy_sha256: str | None = None


class ReplayCell(msgspec.Struct, frozen=True, kw_only=True):
    """One matrix cell, keyed exactly as compare keys it, and what replay saw there."""

    tenant: str
    role: str
    action: str
    relation: str
    requests: int
    v2_more_permissive: int = 0
    v2_more_restrictive: int = 0
    errors: int = 0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.tenant, self.role, self.action, self.relation)


class ReplayReport(msgspec.Struct, frozen=True, kw_only=True):
    schema: str = "policydiff.replay/1"
    run: ReplayRun
    complete: bool
    requests: int  # requests executed by this run (this shard)
    errors: int
    outcomes: dict[str, int]  # every name of OUTCOMES
    cells: tuple[ReplayCell, ...] = ()
    latency_ms: Latency
    metrics: str = ""  # final Prometheus scrape, text exposition format
    # decisions taken on facts that a concurrent writer changed during the run (--churn)
    stale_facts: int = 0
    # why the run is incomplete, or what went wrong on the way (a dead worker, ...)
    problems: tuple[str, ...] = ()
