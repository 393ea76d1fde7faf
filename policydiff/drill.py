"""The rollback drill: prove that promotion and rollback work before they are needed.

`drill` promotes (recorded as a drill), checks through the shadow authorizer an
application embeds that v2 now decides and v1 still runs in shadow, rolls back
(recorded), checks that v1 decides again with v2 in shadow, then restores the pre-track
snapshot into a scratch database (a scratch branch on Neon, deleted afterwards) and
checks that its facts are exactly the snapshot's.
Each check is judged on a probe request the two policies decide differently (a witness
of the symbolic diff), so "v2 enforces" is observed, not assumed. The drill is recorded
in the audit log with every check, whether it passed or not; the gate's "rollback
tested" row reads that record.
"""

from __future__ import annotations

import hashlib

import msgspec

from policydiff import db
from policydiff.db import audit
from policydiff.db.audit import AuditEvent
from policydiff.errors import PolicydiffError
from policydiff.flags import Mode
from policydiff.switch import record_drill


class Check(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    passed: bool
    detail: str


class DrillResult(msgspec.Struct, frozen=True, kw_only=True):
    passed: bool
    checks: tuple[Check, ...]
    event: AuditEvent


def _probe(v1, v2, tenancy) -> dict | None:
    """A request v1 and v2 decide differently, from the tenancy if it has one."""
    from policydiff.diff import diff

    for t in (tenancy, None):
        report = diff(v1, v2, tenancy=t) if t is None or t.users else None
        if report is not None and report.discrepancies:
            return report.discrepancies[0].witness
    return None


def _env(mode: Mode) -> dict[str, str]:
    return {k: "true" if v else "false" for k, v in mode.flags().items()}


def _enforces(v1, v2, mode: Mode, probe: dict | None) -> Check:
    """The shadow authorizer under `mode`'s flags decides `probe` as the enforcing
    policy does, and compares it with the other policy in shadow (the comparison is
    observed through the authorizer's decision log, as an application would see it)."""
    from policydiff.replay import Metrics, ShadowAuthorizer

    who = mode.enforcing
    name = f"{who} enforces, {mode.shadow or 'nothing'} in shadow ({mode.value})"
    logged: list[dict] = []
    try:
        authorizer = ShadowAuthorizer.from_flags(
            v1, v2, env=_env(mode), metrics=Metrics(prometheus=False),
            decision_log=logged.append, flush_every=None)
        if probe is None:
            return Check(name=name, passed=True,
                         detail="v1 and v2 decide every request alike: nothing to tell apart")
        got = authorizer.authorize(probe)
        authorizer.drain()
    except PolicydiffError as e:
        return Check(name=name, passed=False, detail=str(e))
    want = (v2 if who == "v2" else v1).allows(probe)

    def word(b: bool) -> str:
        return "allow" if b else "deny"

    compared = [e for e in logged if e.get("labels", {}).get("enforcing") == who]
    detail = (f"probe {probe['subject']['role']} {probe['action']}: the authorizer answered "
              f"{word(got)}, {who} says {word(want)}; "
              + (f"the shadow comparison was logged as {compared[0]['outcome']}" if compared
                 else "no shadow comparison was logged"))
    return Check(name=name, passed=got == want and bool(compared), detail=detail)


def _facts_digest(dsn: str) -> tuple[str, str]:
    conn = db.open_connection(dsn)
    try:
        t = db.load_tenancy(conn)
    finally:
        conn.close()
    digest = hashlib.sha256(msgspec.json.encode(t, order="sorted")).hexdigest()
    return digest, f"{len(t.enterprises)} enterprises, {len(t.users)} users, {len(t.resources)} resources"


def _restore_check(dsn: str, snapshot: str) -> Check:
    from policydiff.db.snapshots import TemplateSnapshots, backend, snapshot_dsn

    snaps = backend(dsn)
    neon = not isinstance(snaps, TemplateSnapshots)
    name = f"snapshot `{snapshot}` restores into a scratch {'Neon branch' if neon else 'database'} with its facts"
    try:
        known = {s.name: s for s in snaps.list()}
        if snapshot not in known:
            return Check(name=name, passed=False,
                         detail=f"no snapshot `{snapshot}`: take one with "
                                f"`policydiff db snapshot {snapshot}` before the track")
        if neon:
            with snaps.reading(snapshot) as snapshot_reader:
                want, _ = _facts_digest(snapshot_reader)
        else:
            want, _ = _facts_digest(snapshot_dsn(dsn, known[snapshot]))
        with snaps.scratch(snapshot) as (scratch, _snap):
            got, counts = _facts_digest(scratch)
    except PolicydiffError as e:
        return Check(name=name, passed=False, detail=str(e))
    return Check(name=name, passed=got == want,
                 detail=f"scratch copy holds {counts}, facts sha256 {got[:12]}… "
                        + ("= the snapshot's" if got == want else f"≠ the snapshot's {want[:12]}…"))


def drill(conn, v1_path: str, v2_path: str, *, who: str, snapshot: str,
          dsn: str | None = None) -> DrillResult:
    """Run the drill on `conn`'s database and record it; see the module docstring."""
    from policydiff.policy import load_policy

    v1, v2 = load_policy(v1_path), load_policy(v2_path)
    probe = _probe(v1, v2, db.load_tenancy(conn))
    checks: list[Check] = []
    promoted = Mode.V2_ENFORCE_V1_SHADOW
    audit.record_switch(conn, action="promote", flags=promoted.flags(), actor=who,
                        reason="rollback drill", gate_report=None, gate_sha256=None,
                        detail={"drill": True})
    checks.append(_enforces(v1, v2, promoted, probe))
    rolled_back = Mode.V1_ENFORCE_V2_SHADOW
    audit.record_switch(conn, action="rollback", flags=rolled_back.flags(), actor=who,
                        reason="rollback drill", gate_report=None, gate_sha256=None,
                        detail={"drill": True})
    checks.append(_enforces(v1, v2, rolled_back, probe))
    checks.append(_restore_check(db.resolve_dsn(dsn), snapshot))
    passed = all(c.passed for c in checks)
    event = record_drill(conn, who, passed=passed, checks=[msgspec.to_builtins(c) for c in checks])
    return DrillResult(passed=passed, checks=tuple(checks), event=event)
