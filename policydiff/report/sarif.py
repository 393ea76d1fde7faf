"""SARIF 2.1.0 for code scanning: one result per discrepancy that blocks the gate.

Each result sits at the rule of v2 that decided the witness (`v2_rules`, as `file:line`),
else at v1's, else at the `package` line of the v2 policy, so the annotation appears on
the line a reviewer has to look at. Fingerprints are the cell and direction, which stay
put when unrelated lines move.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from policydiff.classify import RuleFile
from policydiff.errors import source_text
from policydiff.gate import (
    BLOCKING_CLASS,
    KINDS,
    LOOSENING,
    UNCLASSIFIED,
    UNPROVED,
    blocking,
    blocking_reason,
    cell_label,
)
from policydiff.report.markdown import relative
from policydiff.results import CompareReport, Discrepancy

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

# (id, short description, full description) of each kind of finding, in `KINDS` order.
RULES = (
    (LOOSENING, "v2 allows what v1 denies",
     ("RBACv2 allows a request RBACv1 denies; the runbook forbids any loosening unless the "
     "classification file allows it and classifies the cell expected_loosening.")),
    (UNCLASSIFIED, "discrepancy no classification rule explains",
     ("v1 and v2 decide this cell differently and no rule of the classification file "
     "says why; add a reviewed rule or fix the policy.")),
    (BLOCKING_CLASS, "discrepancy classified in a blocking class",
     ("The classification file puts this discrepancy in a class that blocks promotion "
     "(by default `bug`).")),
    (UNPROVED, "construct the symbolic diff cannot prove",
     ("The policy uses input in a way the equivalence classes do not capture, so no cell's "
     "verdict is proved for every request; fix the construct or accept it after review "
     "with `accept_incomplete`.")),
)
_PACKAGE = re.compile(r"^[ \t]*package\s", re.MULTILINE)


def _package_line(path: str) -> int:
    text = source_text(path)  # kept for a FIFO: opening it again would wait forever
    if text is None:
        return 1
    m = _PACKAGE.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else 1


def _location(d: Discrepancy, report: CompareReport) -> dict[str, Any]:
    where = (d.v2_rules or d.v1_rules or (None,))[0]
    if where is None:
        file, line = report.v2.path, _package_line(report.v2.path)
    else:
        file, _, num = where.rpartition(":")
        if not file or not num.isdigit():
            file, num = where, "1"
        line = max(int(num), 1)
    uri = relative(file)
    if Path(uri).is_absolute():
        uri = Path(uri).as_uri()
    return {"physicalLocation": {"artifactLocation": {"uri": uri},
                                 "region": {"startLine": line}}}


def _message(d: Discrepancy, rules: RuleFile | None) -> str:
    text = (f"{cell_label(d)}: v1 decides {d.v1}, v2 decides {d.v2} "
            f"({d.direction.replace('_', ' ')}); it blocks because {blocking_reason(d, rules)}")
    return text + (f" (rule {d.rule})" if d.rule else "")


def document(report: CompareReport, rules: RuleFile | None = None) -> dict[str, Any]:
    results = []
    for d in report.discrepancies:
        kind = blocking(d, rules)
        if kind is None:
            continue
        results.append({
            "ruleId": kind,
            "ruleIndex": KINDS.index(kind),
            "level": "error",
            "message": {"text": _message(d, rules)},
            "locations": [_location(d, report)],
            "partialFingerprints": {
                "policydiffCell/v1": f"{d.tenant}|{d.role}|{d.action}|{d.relation}|{d.direction}"},
            "properties": {"tenant": d.tenant, "role": d.role, "action": d.action,
                           "relation": d.relation, "direction": d.direction,
                           "classification": d.classification, "rule": d.rule,
                           "witness": d.witness},
        })
    for reason in report.summary.unproved_reasons:
        where, _, why = reason.partition(": ")
        file, _, num = where.rpartition(":")
        if not file or not num.isdigit():
            file, num, why = report.v2.path, str(_package_line(report.v2.path)), reason
        uri = relative(file)
        if Path(uri).is_absolute():
            uri = Path(uri).as_uri()
        results.append({
            "ruleId": UNPROVED,
            "ruleIndex": len(KINDS),
            "level": "error",
            "message": {"text": f"{why}: all {report.summary.cells} cells are unproved"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri},
                                                "region": {"startLine": max(int(num), 1)}}}],
            "partialFingerprints": {"policydiffUnproved/v1": why},
        })
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "policydiff",
                "version": _version(),
                "rules": [{"id": rid, "name": rid.replace("-", " "),
                           "shortDescription": {"text": short},
                           "fullDescription": {"text": full},
                           "defaultConfiguration": {"level": "error"}}
                          for rid, short, full in RULES],
            }},
            "results": results,
            "properties": {"v1": report.v1.path, "v2": report.v2.path,
                           "gatePassed": report.gate.passed,
                           "gateReasons": list(report.gate.reasons)},
        }],
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("policydiff")
    except PackageNotFoundError:
        return "0"


def render(report: CompareReport, *, rules: RuleFile | None = None) -> str:
    doc = document(report, rules)
    return msgspec.json.format(msgspec.json.encode(doc), indent=2).decode() + "\n"
