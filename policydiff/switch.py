"""The enforcement switch, audited: gate verdicts, promote, rollback, status.

Every switch is a row in the database's append-only record (`policydiff.db.audit`): who,
when, why, which gate and which ticket. `promote` refuses unless the latest recorded
gate passed for exactly these policies (by sha256) and nothing was replayed since (no
`replay` event after the gate, no replay worker connected now); `rollback` is always
allowed. A refused command writes nothing. The flags to apply are the mode's exports
(`policydiff.flags`); the mode now is the last switch recorded, v1 alone before any.
"""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any

import msgspec

from policydiff.db import audit
from policydiff.db.audit import AuditEvent
from policydiff.db.connection import connection_target
from policydiff.errors import Code, ExitCode, PolicydiffError
from policydiff.flags import Mode, mode_from_flags
from policydiff.promotion_gate import Drill, PromotionGate
from policydiff.results import PolicyInfo, ReplayReport
from policydiff.source import Span

EVENTS = ("gate", "promote", "rollback", "drill", "replay")


class Refused(PolicydiffError):
    """The switch was asked for something the record does not allow; nothing was written."""

    exit_code = ExitCode.BLOCKED


class Switched(msgspec.Struct, frozen=True, kw_only=True):
    event: AuditEvent
    mode: Mode


class Status(msgspec.Struct, frozen=True, kw_only=True):
    mode: Mode
    since: AuditEvent | None
    history: tuple[AuditEvent, ...]


def actor() -> str:
    """Who runs the command: `POLICYDIFF_ACTOR`, else user@host."""
    return os.environ.get("POLICYDIFF_ACTOR") or f"{getpass.getuser()}@{socket.gethostname()}"


def record_gate(conn, gate: PromotionGate, who: str) -> AuditEvent:
    return audit.record(conn, actor=who, event="gate", detail={
        "passed": gate.passed, "v1": msgspec.to_builtins(gate.v1),
        "v2": msgspec.to_builtins(gate.v2), "signoff": gate.signoff,
        "reports": msgspec.to_builtins(gate.reports),
        "rows": [{"name": r.name, "holds": r.holds, "figure": r.figure} for r in gate.rows]})


def record_replay(conn, report: ReplayReport, who: str, path: str | None = None) -> AuditEvent:
    """A replay ran: a gate recorded before it no longer speaks for the current evidence."""
    run = report.run
    return audit.record(conn, actor=who, event="replay", detail={
        "run_id": run.run_id, "shard": run.shard, "requests": report.requests,
        "v1": run.v1.sha256, "v2": run.v2.sha256, "finished": run.finished, "output": path})


def record_drill(conn, who: str, *, passed: bool, checks: list[dict[str, Any]]) -> AuditEvent:
    return audit.record(conn, actor=who, event="drill", detail={"passed": passed, "checks": checks})


def last_drill(conn) -> Drill | None:
    e = audit.latest(conn, "drill")
    return Drill(id=e.id, at=e.at, passed=bool(e.detail.get("passed"))) if e else None


def current_mode(conn) -> Mode:
    last = audit.last_switch(conn)
    if last is None:
        return Mode.V1_ENFORCE
    return mode_from_flags({k: "true" if v else "false" for k, v in last.flags.items()})


def promote(conn, *, v1: PolicyInfo, v2: PolicyInfo, who: str, reason: str,
            ticket: str | None, replaying: list[str] | None = None) -> Switched:
    """Switch to v2 enforcing (v1 in shadow), if the record allows it."""
    gate = audit.latest(conn, "gate")
    at = Span(file=connection_target(conn) or "the database")  # the record that refuses
    if gate is None:
        raise Refused.at(Code.NO_GATE, "no promotion gate is recorded", at,
                         help="run `policydiff gate REPORT… --signoff NAME` first")
    d = gate.detail
    if not d.get("passed"):
        failed = [r["name"] for r in d.get("rows", []) if not r.get("holds")]
        raise Refused.at(Code.GATE_FAILED, f"the latest gate (audit #{gate.id}, {gate.at}) did not "
                         f"pass: {', '.join(failed) or 'see its rows'}", at,
                         help="fix what it names, replay, analyze and gate again")
    for side, info in (("v1", v1), ("v2", v2)):
        gated = (d.get(side) or {}).get("sha256")
        if gated != info.sha256:
            raise Refused.at(Code.POLICY_NOT_GATED,
                             f"{side} `{info.path}` has sha256 {info.sha256[:12]}…, but the latest "
                             f"gate (audit #{gate.id}) passed sha256 {str(gated)[:12]}…",
                             Span(file=info.path), help="gate these exact policies first")
    since = audit.events(conn, ("replay",), after=gate.id)
    if since:
        raise Refused.at(Code.REPLAYED_SINCE_GATE,
                         f"{len(since)} replay(s) ran after the latest gate (audit #{gate.id}), "
                         f"the first at {since[0].at}", at,
                         help="analyze the new runs and gate again")
    if replaying:
        raise Refused.at(Code.REPLAY_RUNNING, f"replay workers are connected: {', '.join(replaying)}", at,
                         help="wait for the replay to finish, then gate again")
    mode = Mode.V2_ENFORCE_V1_SHADOW
    event = audit.record_switch(
        conn, action="promote", flags=mode.flags(), actor=who, reason=reason,
        gate_report=",".join(r["path"] for r in d.get("reports", [])),
        gate_sha256=",".join(r["sha256"] for r in d.get("reports", [])),
        detail={"gate": gate.id, "ticket": ticket, "v1": v1.sha256, "v2": v2.sha256})
    return Switched(event=event, mode=mode)


def rollback(conn, *, who: str, reason: str, drill: bool = False) -> Switched:
    """Back to v1 enforcing, v2 in shadow. Always allowed."""
    mode = Mode.V1_ENFORCE_V2_SHADOW
    event = audit.record_switch(conn, action="rollback", flags=mode.flags(), actor=who,
                                reason=reason, gate_report=None, gate_sha256=None,
                                detail={"drill": drill})
    return Switched(event=event, mode=mode)


def status(conn, limit: int = 20) -> Status:
    history = audit.events(conn, EVENTS)
    switches = [e for e in history if e.event in ("promote", "rollback")]
    return Status(mode=current_mode(conn), since=switches[-1] if switches else None,
                  history=history[-limit:])
