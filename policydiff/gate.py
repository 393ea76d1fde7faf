"""The gate: whether a classified compare report lets the policy change through.

The runbook's rules (docs/design.md): any unclassified discrepancy blocks; so does an
incomplete report (a construct the classes do not capture) unless the rule file accepts
it (`accept_incomplete`), any discrepancy in a blocking class, any cell where v2 is more permissive than v1 (unless the
rule file allows loosening and the cell is classified `expected_loosening`), and a
discrepancy rate at or above the file's limit. Under `strict`, stale rules block too.
Reasons are sentences a reviewer can act on, naming the cells concerned. Run `classify`
first: the gate reads the classifications, it does not make them.
"""

from __future__ import annotations

import msgspec

from policydiff.classify import RuleFile
from policydiff.results import CompareReport, Discrepancy, Gate

# What a missing rule file means: nothing is classified, nothing may loosen.
DEFAULTS = RuleFile(version=1)
LISTED = 5  # cells named in one reason before "and N more"


def cell_label(d: Discrepancy) -> str:
    """`viewer project:export on other_team`, with the tenant when the matrix has one."""
    label = f"{d.role} {d.action} on {d.relation}"
    return label if d.tenant in ("*", "") else f"{label} in {d.tenant}"


# The kinds of blocking finding, as SARIF rule ids.
LOOSENING = "v2-more-permissive"
UNCLASSIFIED = "unclassified-discrepancy"
BLOCKING_CLASS = "blocking-classification"
KINDS = (LOOSENING, UNCLASSIFIED, BLOCKING_CLASS)
UNPROVED = "unproved-cells"  # not a discrepancy's kind: a construct that blocks every cell


def blocking(d: Discrepancy, rules: RuleFile | None) -> str | None:
    """Which kind of blocking finding this one discrepancy is, or None when it passes."""
    rules = rules or DEFAULTS
    if d.direction == "v2_more_permissive" and not (
        rules.allow_loosening and d.classification == "expected_loosening"
    ):
        return LOOSENING
    if d.classification is None:
        return UNCLASSIFIED
    if d.classification in rules.blocking:
        return BLOCKING_CLASS
    return None


def blocking_reason(d: Discrepancy, rules: RuleFile | None) -> str | None:
    """Why this one discrepancy blocks the gate, in words, or None when it does not."""
    kind = blocking(d, rules)
    if kind == LOOSENING:
        return "v2 is more permissive than v1"
    if kind == UNCLASSIFIED:
        return "no rule classifies it"
    if kind == BLOCKING_CLASS:
        return f"classified `{d.classification}`, a blocking class"
    return None


def _cells(ds: list[Discrepancy]) -> str:
    names = [cell_label(d) for d in ds[:LISTED]]
    more = f" and {len(ds) - LISTED} more" if len(ds) > LISTED else ""
    return "; ".join(names) + more


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _percent(rate: float) -> str:
    return f"{rate * 100:.2f} %"


def unproved_reason(report: CompareReport) -> str | None:
    """Why unproved cells block: the constructs no `accept_incomplete` entry accepts,
    each naming its rule (`file:line`)."""
    open_ = report.summary.unproved_reasons
    if not open_:
        return None
    more = f"; and {len(open_) - LISTED} more" if len(open_) > LISTED else ""
    return (f"{_plural(report.summary.cells, 'cell is', 'cells are')} unproved: the policies use "
            f"{_plural(len(open_), 'construct', 'constructs')} the classes do not capture "
            f"(accept one with `accept_incomplete` after review): "
            + "; ".join(open_[:LISTED]) + more)


def gate(report: CompareReport, rules: RuleFile | None, *, strict: bool = False) -> CompareReport:
    """The report with its `gate` filled in: passed, and the reasons when it did not.
    An incomplete report blocks unless the rule file accepts every unproved construct."""
    ds = list(report.discrepancies)
    reasons: list[str] = []
    unproved = unproved_reason(report)
    if unproved:
        reasons.append(unproved)
    permissive = [d for d in ds if d.direction == "v2_more_permissive"]
    if rules is None:
        if ds:
            reasons.append(
                f"{_plural(len(ds), 'discrepancy', 'discrepancies')} and no classification "
                f"file to explain them: {_cells(ds)}")
        if permissive:
            reasons.append(f"{_plural(len(permissive), 'cell', 'cells')} where v2 is more "
                           f"permissive than v1: {_cells(permissive)}")
        return msgspec.structs.replace(report, gate=Gate(passed=not reasons, reasons=tuple(reasons)))

    loosening = [d for d in permissive
                 if not (rules.allow_loosening and d.classification == "expected_loosening")]
    if loosening:
        qualifier = " and not classified `expected_loosening`" if rules.allow_loosening else ""
        reasons.append(f"{_plural(len(loosening), 'cell', 'cells')} where v2 is more permissive "
                       f"than v1{qualifier}: {_cells(loosening)}")
    unclassified = [d for d in ds if d.classification is None]
    if unclassified:
        where = rules.path or "the classification file"
        n = len(unclassified)
        reasons.append(f"{_plural(n, 'unclassified discrepancy', 'unclassified discrepancies')} "
                       f"(no rule in {where} matches): {_cells(unclassified)}")
    for cls in rules.blocking:
        hit = [d for d in ds if d.classification == cls]
        if hit:
            by = sorted({d.rule for d in hit if d.rule})
            reasons.append(f"{_plural(len(hit), 'discrepancy', 'discrepancies')} classified "
                           f"`{cls}`, a blocking class (rule {', '.join(by)}): {_cells(hit)}")
    rate = report.summary.discrepancy_rate
    if ds and rate >= rules.max_discrepancy_rate:
        reasons.append(f"discrepancy rate {_percent(rate)} is at or above the limit of "
                       f"{_percent(rules.max_discrepancy_rate)}")
    if strict and report.stale_rules:
        n = len(report.stale_rules)
        verb = "matches" if n == 1 else "match"
        reasons.append(f"{_plural(n, 'stale rule', 'stale rules')} {verb} no discrepancy "
                       f"(--strict): {', '.join(report.stale_rules)}")
    return msgspec.structs.replace(report, gate=Gate(passed=not reasons, reasons=tuple(reasons)))
