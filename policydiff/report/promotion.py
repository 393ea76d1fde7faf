"""Terminal and JSON renderings of the runbook's results: an analysis, the promotion
gate's table, the switch's status and history.

Drawn with rich and exported as text, as `report.text` draws a compare report; the HTML
page is `report.html`'s.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import msgspec
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from policydiff.analyze import AnalysisReport
from policydiff.promotion_gate import PromotionGate
from policydiff.switch import Status

CHECKED, UNCHECKED = "☑", "☐"


def to_json(result: msgspec.Struct) -> str:
    return msgspec.json.format(msgspec.json.encode(result), indent=2).decode() + "\n"


def _text(draw: Callable[[Console], None], width: int, color: bool) -> str:
    console = Console(record=True, width=width, file=io.StringIO(),
                      color_system="standard" if color else None, force_terminal=color,
                      highlight=False)
    draw(console)
    return console.export_text(styles=color)


def analysis_text(report: AnalysisReport, *, width: int = 100, color: bool = False) -> str:
    def draw(c: Console) -> None:
        c.print(Text("policydiff analyze", style="bold"))
        c.print(f"  v1 {report.v1.path} · v2 {report.v2.path}")
        runs = ", ".join(f"{r.path}" + (f" [{r.shard}]" if r.shard else "") for r in report.runs)
        c.print(f"  {len(report.runs)} run(s): {runs}")
        c.print(f"requests {report.requests:,} · v2 more permissive {report.v2_more_permissive:,}"
                f" · v2 more restrictive {report.v2_more_restrictive:,} · rate "
                f"{report.discrepancy_rate * 100:.3f} % · classified "
                f"{report.classified_fraction * 100:.1f} %")
        lat = report.latency_ms
        c.print(f"latency p95 (ms): v1 {lat.v1.p95:.3f} · v2 {lat.v2.p95:.3f} · db {lat.db.p95:.3f}")
        table = Table(title="stop conditions", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("")
        table.add_column("condition", no_wrap=True)
        table.add_column("detail", overflow="fold")
        for s in report.stop_conditions:
            table.add_row(Text("STOP", style="bold red") if s.hit else Text("ok", style="green"),
                          s.name, s.detail)
        c.print(table)
        c.print(Text("analysis: PASSED" if report.passed else "analysis: STOP",
                     style="bold green" if report.passed else "bold red"))

    return _text(draw, width, color)


def gate_text(gate: PromotionGate, *, width: int = 100, color: bool = False) -> str:
    def draw(c: Console) -> None:
        c.print(Text("promotion gate (runbook Step 5)", style="bold"))
        c.print(f"  v1 {gate.v1.path} sha256 {gate.v1.sha256[:12]}… · v2 {gate.v2.path} "
                f"sha256 {gate.v2.sha256[:12]}…")
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("")
        table.add_column("criterion", no_wrap=True)
        table.add_column("figure", overflow="fold")
        for r in gate.rows:
            table.add_row(Text(CHECKED, style="green") if r.holds else Text(UNCHECKED, style="red"),
                          r.name, r.figure)
        c.print(table)
        c.print(Text("gate: PASSED — promotion may proceed" if gate.passed
                     else "gate: BLOCKED — do not promote",
                     style="bold green" if gate.passed else "bold red"))

    return _text(draw, width, color)


def status_text(status: Status, *, width: int = 100, color: bool = False) -> str:
    def draw(c: Console) -> None:
        m = status.mode
        shadow = f", {m.shadow} in shadow" if m.shadow else ""
        since = (f" since audit #{status.since.id} ({status.since.event} by {status.since.actor}"
                 f" at {status.since.at})" if status.since else " (no switch recorded)")
        c.print(Text(f"mode: {m.value} — {m.enforcing} enforces{shadow}{since}", style="bold"))
        c.print(m.exports())
        table = Table(title="history", title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("#", "at", "event", "actor", "detail"):
            table.add_column(col, overflow="fold")
        for e in status.history:
            table.add_row(str(e.id), e.at, e.event, e.actor, _brief(e.event, e.detail))
        c.print(table)

    return _text(draw, width, color)


def _brief(event: str, d: dict) -> str:
    if event == "gate":
        return ("passed" if d.get("passed") else "blocked") + (
            f", signed off by {d['signoff']}" if d.get("signoff") else "")
    if event == "promote":
        if d.get("drill"):
            return f"drill: {d.get('reason', '')}"
        return (f"gate #{d.get('gate')}" + (f", ticket {d['ticket']}" if d.get("ticket") else "")
                + f": {d.get('reason', '')}")
    if event == "rollback":
        return ("drill: " if d.get("drill") else "") + str(d.get("reason", ""))
    if event == "drill":
        return "passed" if d.get("passed") else "FAILED"
    if event == "replay":
        return f"run {str(d.get('run_id'))[:12]} · {d.get('requests')} requests"
    return ""
