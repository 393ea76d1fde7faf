"""The `policydiff.compare/1` JSON report (docs/design.md, Reports), encoded with msgspec.

The report lists discrepancies only: the per-cell verdicts stay out (`cells`), as do the
optional fields the contract does not show when they are empty.
"""

from __future__ import annotations

from typing import Any

import msgspec

from policydiff.classify import RuleFile
from policydiff.results import CompareReport

# The contract's key order for a discrepancy; msgspec keeps a dict's insertion order.
DISCREPANCY_KEYS = ("tenant", "role", "action", "relation", "direction", "v1", "v2",
                    "classification", "rule", "witness", "v1_rules", "v2_rules", "attributes")


def document(report: CompareReport) -> dict[str, Any]:
    """The report as plain data, shaped as the contract shows it."""
    doc = msgspec.to_builtins(report)
    doc.pop("cells", None)
    for optional in ("incomplete_reasons", "outside_model", "unproved_cells", "accepted_incomplete"):
        if not doc["summary"].get(optional):
            doc["summary"].pop(optional, None)
    discrepancies = []
    for d in doc["discrepancies"]:
        if not d.get("attributes"):
            d.pop("attributes", None)
        discrepancies.append({k: d[k] for k in DISCREPANCY_KEYS if k in d})
    doc["discrepancies"] = discrepancies
    return doc


def render(report: CompareReport, *, rules: RuleFile | None = None) -> str:
    return msgspec.json.format(msgspec.json.encode(document(report)), indent=2).decode() + "\n"
