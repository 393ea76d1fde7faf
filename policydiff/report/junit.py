"""JUnit XML for CI test-report views (GitLab's `artifacts:reports:junit`, Jenkins).

Every cell of the matrix is a test case (every discrepancy, when the report carries no
cells); a cell fails when one of its discrepancies blocks the gate, and a classified,
non-blocking discrepancy is noted in the case's output. One last case is the gate itself,
so a failure the cells cannot show (the discrepancy rate, stale rules) still fails the suite.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

import msgspec

from policydiff.classify import RuleFile
from policydiff.gate import blocking, blocking_reason, cell_label
from policydiff.results import CompareReport, Discrepancy

Key = tuple[str, str, str, str]


def _case(suite: ET.Element, key: Key, ds: list[Discrepancy], rules: RuleFile | None,
          decisions: str, suffix: str = "") -> bool:
    tenant, role, action, relation = key
    name = f"{action} on {relation}" + ("" if tenant in ("*", "") else f" in {tenant}") + suffix
    case = ET.SubElement(suite, "testcase", classname=f"policydiff.{role}", name=name, time="0")
    failing = [d for d in ds if blocking(d, rules)]
    if failing:
        message = "; ".join(f"{d.direction.replace('_', ' ')}: {blocking_reason(d, rules)}"
                            for d in failing)
        failure = ET.SubElement(case, "failure", message=f"{cell_label(failing[0])}: {message}",
                                type=blocking(failing[0], rules) or "")
        failure.text = "\n".join(_details(d) for d in failing)
    notes = [_details(d) for d in ds if not blocking(d, rules)]
    out = ET.SubElement(case, "system-out")
    out.text = "\n".join([decisions, *notes])
    return bool(failing)


def _details(d: Discrepancy) -> str:
    lines = [f"{d.direction}: v1 {d.v1}, v2 {d.v2}; classification "
             f"{d.classification or 'none'}" + (f" (rule {d.rule})" if d.rule else "")]
    if d.v2_rules or d.v1_rules:
        lines.append("decided by: " + ", ".join((*d.v2_rules, *d.v1_rules)))
    lines.append("witness: " + msgspec.json.encode(d.witness).decode())
    return "\n".join(lines)


def render(report: CompareReport, *, rules: RuleFile | None = None) -> str:
    by_key: dict[Key, list[Discrepancy]] = defaultdict(list)
    for d in report.discrepancies:
        by_key[d.key].append(d)
    root = ET.Element("testsuites", name="policydiff")
    suite = ET.SubElement(root, "testsuite",
                          name=f"policydiff compare {report.v1.path} -> {report.v2.path}")
    failures = 0
    if report.cells:
        for cell in report.cells:
            failures += _case(suite, cell.key, by_key.get(cell.key, []), rules,
                              f"v1 {cell.v1}, v2 {cell.v2}")
    else:
        for d in report.discrepancies:
            failures += _case(suite, d.key, [d], rules, f"v1 {d.v1}, v2 {d.v2}",
                              f" ({d.direction.replace('_', ' ')})")
    gate = ET.SubElement(suite, "testcase", classname="policydiff.gate", name="gate", time="0")
    if not report.gate.passed:
        failures += 1
        failure = ET.SubElement(gate, "failure", type="gate",
                                message=f"the gate blocked: {len(report.gate.reasons)} reason(s)")
        failure.text = "\n".join(report.gate.reasons)
    accepted = report.summary.accepted_incomplete
    if accepted:  # reviewed, so not a failure, but never out of sight
        out = ET.SubElement(gate, "system-out")
        out.text = "\n".join(f"unproved, accepted ({why}): {reason}" for reason, why in accepted.items())
    tests = len(suite.findall("testcase"))
    for element in (root, suite):
        element.set("tests", str(tests))
        element.set("failures", str(failures))
        element.set("errors", "0")
    suite.set("skipped", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
