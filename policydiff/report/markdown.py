"""The pull-request comment: verdict first, then one table per class.

Unclassified discrepancies come first (they block), then the classes in the order of
docs/design.md; each classified row links its rule id to the rule's line in the classification
file (`path#Lline`), so a reviewer lands on the reason that was given for it.
"""

from __future__ import annotations

import os

from policydiff.classify import RuleFile
from policydiff.gate import DEFAULTS, blocking_reason
from policydiff.results import CLASSES, CompareReport, Discrepancy


def _cell(text: object) -> str:
    """Text safe inside a table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: object) -> str:
    return f"`{_cell(text)}`" if str(text) else ""


def relative(path: str) -> str:
    """`path` relative to the working directory when it lies under it, with `/`."""
    if os.path.isabs(path):
        rel = os.path.relpath(path)
        if not rel.startswith(".."):
            path = rel
    return path.replace(os.sep, "/")


def _rule_link(d: Discrepancy, rules: RuleFile | None) -> str:
    if not d.rule:
        return ""
    rule = rules.rule(d.rule) if rules else None
    if rule is None or not rules or not rules.path:
        return _code(d.rule)
    anchor = f"#L{rule.span.line}" if rule.span.line else ""
    return f"[`{_cell(d.rule)}`]({relative(rules.path)}{anchor})"


def _table(ds: list[Discrepancy], rules: RuleFile | None, *, classified: bool) -> list[str]:
    with_tenant = any(d.tenant not in ("*", "") for d in ds)
    head = ["role", "action", "relation", *(["tenant"] if with_tenant else []), "direction",
            "v1 → v2", *(["rule", "reason"] if classified else ["v2 rules"])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d in sorted(ds, key=lambda d: (d.role, d.action, d.relation, d.tenant, d.direction)):
        direction = d.direction.replace("_", " ")
        if d.direction == "v2_more_permissive":
            direction = f"**{direction}**"
        row = [_code(d.role), _code(d.action), _code(d.relation),
               *([_code(d.tenant)] if with_tenant else []), direction, f"{d.v1} → {d.v2}"]
        if classified:
            rule = rules.rule(d.rule) if rules and d.rule else None
            row += [_rule_link(d, rules), _cell(rule.reason) if rule else ""]
        else:
            row += [", ".join(_code(r) for r in d.v2_rules or d.v1_rules)]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def render(report: CompareReport, *, rules: RuleFile | None = None) -> str:
    s = report.summary
    verdict = "✅ policydiff: the gate passed" if report.gate.passed else \
        "❌ policydiff: the gate blocked this change"
    out = [f"## {verdict}", ""]
    out += [f"- {r}" for r in report.gate.reasons]
    if report.gate.reasons:
        out.append("")
    out += [
        (f"`{report.v1.path}` (`{report.v1.decision}`) → `{report.v2.path}` "
        f"(`{report.v2.decision}`)"),
        "",
        ("| cells | discrepancies | v2 more permissive | v2 more restrictive | unclassified "
        "| rate | complete |"),
        "|---|---|---|---|---|---|---|",
        (f"| {s.cells} | {s.discrepancies} | {s.v2_more_permissive} | {s.v2_more_restrictive} "
        f"| {s.unclassified} | {s.discrepancy_rate * 100:.2f} % | {'yes' if s.complete else 'no'} |"),
        "",
    ]
    if s.unproved_reasons:
        out.append(f"> **unproved: all {s.cells} cells** — their verdicts are not proved for "
                   "every request, and the gate blocks until each construct below is fixed or "
                   "accepted (`accept_incomplete`)")
    for reason in s.incomplete_reasons:
        accepted = s.accepted_incomplete.get(reason)
        label = f"incomplete, accepted ({_cell(accepted)})" if accepted else "incomplete"
        out.append(f"> {label}: {_cell(reason)}")
    if s.outside_model:
        out.append(f"> note: the request model has no {_cell(', '.join(f'`{p}`' for p in s.outside_model))}: "
                   "split into classes like the model's paths, absent among them")
    blocking = (rules or DEFAULTS).blocking
    unclassified = [d for d in report.discrepancies if d.classification is None]
    if unclassified:
        out += [f"### Unclassified ({len(unclassified)}) — blocking", ""]
        out += _table(unclassified, rules, classified=False) + [""]
    known = list(CLASSES) + sorted(
        {d.classification for d in report.discrepancies if d.classification} - set(CLASSES))
    for cls in known:
        ds = [d for d in report.discrepancies if d.classification == cls]
        if not ds:
            continue
        blocks = any(blocking_reason(d, rules) for d in ds)
        note = " — blocking" if cls in blocking else (" — blocking (loosening)" if blocks else "")
        out += [f"### `{cls}` ({len(ds)}){note}", ""]
        table = _table(ds, rules, classified=True)
        if blocks:
            out += table + [""]
        else:  # explained and harmless: folded, so the comment leads with what blocks
            out += [f"<details><summary>{len(ds)} classified by rule</summary>", "", *table, "",
                    "</details>", ""]
    if report.stale_rules:
        links = []
        for rid in report.stale_rules:
            rule = rules.rule(rid) if rules else None
            links.append(f"[`{rid}`]({relative(rules.path)}#L{rule.span.line})"
                         if rule and rules and rules.path else f"`{rid}`")
        out += ["### Stale rules", "", "These rules match no discrepancy: " + ", ".join(links),
                ""]
    return "\n".join(out).rstrip("\n") + "\n"
