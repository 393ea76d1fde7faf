"""The terminal report, drawn with rich and exported as plain text.

A summary; the discrepancies grouped by role and action (loosening in red), with a
witness request for each one that blocks; when the report carries every cell, the
decision matrix per role and action with the rows that differ first; last the gate's
verdict with its reasons.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from policydiff.classify import RuleFile
from policydiff.gate import blocking, cell_label
from policydiff.results import Cell, CompareReport
from policydiff.tenancy import RELATIONS

LOOSENING = "bold red"
TIGHTENING = "yellow"
WITNESSES = 10  # witness requests printed for blocking discrepancies


def _summary(report: CompareReport) -> Text:
    s = report.summary
    out = Text()
    out.append("policydiff compare\n", style="bold")
    out.append(f"  v1 {report.v1.path} ({report.v1.decision})\n")
    out.append(f"  v2 {report.v2.path} ({report.v2.decision})\n")
    out.append(f"cells {s.cells} · discrepancies {s.discrepancies} (")
    out.append(f"v2 more permissive {s.v2_more_permissive}",
               style=LOOSENING if s.v2_more_permissive else "")
    out.append(f", v2 more restrictive {s.v2_more_restrictive})\nunclassified {s.unclassified}"
               f" · rate {s.discrepancy_rate * 100:.2f} % · "
               f"{'complete' if s.complete else 'INCOMPLETE'}\n")
    if s.by_class:
        out.append("by class: " + ", ".join(f"{c} {n}" for c, n in s.by_class.items()) + "\n")
    if s.unproved_reasons:
        out.append(f"unproved: all {s.cells} cells (their verdicts are not proved for every "
                   "request; the gate blocks)\n", style="bold red")
    for reason in s.incomplete_reasons:
        accepted = s.accepted_incomplete.get(reason)
        if accepted:
            out.append(f"incomplete, accepted ({accepted}): {reason}\n", style="yellow")
        else:
            out.append(f"incomplete: {reason}\n", style="red")
    if s.outside_model:
        out.append(f"note: not in the request model: {', '.join(s.outside_model)} (split into "
                   "classes like the model's paths, absent among them; see --dimension)\n",
                   style="yellow")
    return out


def _discrepancies(report: CompareReport, rules: RuleFile | None) -> Table:
    """Grouped by role, then action (each named once); `✗` marks what blocks the gate."""
    with_tenant = any(d.tenant not in ("*", "") for d in report.discrepancies)
    table = Table(title="Discrepancies (✗ blocks the gate)", title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    for name in ("role", "action", "relation", *(("tenant",) if with_tenant else ()),
                 "v1 → v2", "class"):
        table.add_column(name, no_wrap=True)
    table.add_column("rule", overflow="fold")
    ordered = sorted(report.discrepancies,
                     key=lambda d: (d.role, d.action, d.direction, d.relation, d.tenant))
    previous: tuple[str, str] | None = None
    for i, d in enumerate(ordered):
        group = (d.role, d.action)
        mark = "✗ " if blocking(d, rules) else "  "
        table.add_row(
            d.role if previous is None or previous[0] != d.role else "",
            d.action if previous != group else "",
            d.relation,
            *((d.tenant,) if with_tenant else ()),
            f"{d.v1} → {d.v2}",
            mark + (d.classification or "unclassified"),
            d.rule or "",
            style=LOOSENING if d.direction == "v2_more_permissive" else None,
            end_section=i + 1 == len(ordered) or ordered[i + 1].role != d.role,
        )
        previous = group
    return table


def _decision(cells: list[Cell]) -> Text:
    """The decisions of one role, action and relation over all tenants."""
    v1 = _one({c.v1 for c in cells})
    if all(c.v1 == c.v2 for c in cells):
        return Text(v1)
    loosening = any(c.v2 != c.v1 and c.v1 != "allow" and c.v2 != "deny" for c in cells)
    return Text(f"{v1} → {_one({c.v2 for c in cells})}",
                style=LOOSENING if loosening else TIGHTENING)


def _one(decisions: set[str]) -> str:
    return next(iter(decisions)) if len(decisions) == 1 else "mixed"


def _matrix(report: CompareReport) -> Table:
    """One row per role and action, one column per relation; differing rows first."""
    groups: dict[tuple[str, str], dict[str, list[Cell]]] = defaultdict(lambda: defaultdict(list))
    for c in report.cells:
        groups[(c.role, c.action)][c.relation].append(c)
    seen = {c.relation for c in report.cells}
    relations = [r for r in RELATIONS if r in seen] + sorted(seen - set(RELATIONS))
    differs = {k for k, by_rel in groups.items()
               if any(c.v1 != c.v2 for cs in by_rel.values() for c in cs)}
    table = Table(title="Decisions by role and action (v1 → v2 where they differ)",
                  title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    table.add_column("role")
    table.add_column("action")
    for r in relations:
        table.add_column(r)
    for key in sorted(groups, key=lambda k: (k not in differs, k)):
        by_rel = groups[key]
        table.add_row(*key, *(_decision(by_rel[r]) if r in by_rel else Text("–")
                              for r in relations))
    return table


def _verdict(report: CompareReport) -> Text:
    out = Text()
    if report.gate.passed:
        out.append("gate: PASSED\n", style="bold green")
    else:
        out.append("gate: BLOCKED\n", style="bold red")
    for reason in report.gate.reasons:
        out.append(f"  - {reason}\n")
    return out


def render(report: CompareReport, *, rules: RuleFile | None = None, width: int = 100,
           color: bool = False) -> str:
    """Plain text, or with ANSI colours when `color` (for a terminal)."""
    console = Console(record=True, width=width, file=io.StringIO(),
                      color_system="standard" if color else None, force_terminal=color,
                      highlight=False)
    console.print(_summary(report))
    if report.discrepancies:
        console.print(_discrepancies(report, rules))
    witnesses = [d for d in report.discrepancies if blocking(d, rules)]
    for d in witnesses[:WITNESSES]:
        console.print(Text(f"✗ {cell_label(d)} ({d.direction}), witness: "
                           + json.dumps(d.witness, separators=(", ", ": ")),
                           style=LOOSENING if d.direction == "v2_more_permissive" else ""))
    if len(witnesses) > WITNESSES:
        console.print(f"  … and {len(witnesses) - WITNESSES} more blocking discrepancies")
    if report.cells:
        console.print()
        console.print(_matrix(report))
    if report.stale_rules:
        console.print(Text("stale rules (match no discrepancy): " + ", ".join(report.stale_rules),
                           style="yellow"))
    console.print(_verdict(report))
    return console.export_text(styles=color)
