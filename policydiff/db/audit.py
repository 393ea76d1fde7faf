"""The audit log and the switch's record, as the database keeps them (migrations 002, 003).

`record` appends one event to `policydiff.audit_log`; `record_switch` appends a promotion
or rollback to `policydiff.promotions` and its event to the log in one transaction, so
the two never disagree. Both tables refuse UPDATE, DELETE and TRUNCATE in the database
itself. Events are read back as `AuditEvent`s, oldest first. What an event means is
`policydiff.switch`'s business; this module only stores and reads.
"""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
from psycopg.types.json import Jsonb

from policydiff.db.connection import database_errors


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    at: str  # ISO 8601, UTC
    actor: str
    event: str
    detail: dict[str, Any] = {}


class SwitchRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    action: str  # promote | rollback
    flags: dict[str, bool]
    actor: str
    reason: str
    gate_report: str | None
    gate_sha256: str | None
    created_at: str


_EVENT_COLUMNS = "id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor, event, detail"


def _event(row) -> AuditEvent:
    return AuditEvent(id=row[0], at=row[1], actor=row[2], event=row[3], detail=row[4] or {})


def record(conn: psycopg.Connection, *, actor: str, event: str,
           detail: dict[str, Any]) -> AuditEvent:
    """Append one event and commit it."""
    with database_errors(), conn.transaction():
        row = conn.execute(
            f"INSERT INTO policydiff.audit_log (actor, event, detail) VALUES (%s, %s, %s)"
            f" RETURNING {_EVENT_COLUMNS}", (actor, event, Jsonb(detail))).fetchone()
    return _event(row)


def record_switch(conn: psycopg.Connection, *, action: str, flags: dict[str, bool], actor: str,
                  reason: str, gate_report: str | None, gate_sha256: str | None,
                  detail: dict[str, Any]) -> AuditEvent:
    """Append a promotion or rollback and its audit event, together."""
    with database_errors(), conn.transaction():
        conn.execute(
            "INSERT INTO policydiff.promotions (action, flags, actor, reason, gate_report,"
            " gate_sha256) VALUES (%s, %s, %s, %s, %s, %s)",
            (action, Jsonb(flags), actor, reason, gate_report, gate_sha256))
        row = conn.execute(
            f"INSERT INTO policydiff.audit_log (actor, event, detail) VALUES (%s, %s, %s)"
            f" RETURNING {_EVENT_COLUMNS}",
            (actor, action, Jsonb({**detail, "flags": flags, "reason": reason}))).fetchone()
    return _event(row)


def events(conn: psycopg.Connection, kinds: tuple[str, ...] | None = None,
           after: int = 0) -> tuple[AuditEvent, ...]:
    """Events (of `kinds`, when given) with an id above `after`, oldest first."""
    with database_errors():
        rows = conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM policydiff.audit_log WHERE id > %s"
            " AND (%s::text[] IS NULL OR event = ANY(%s::text[])) ORDER BY id",
            (after, list(kinds) if kinds else None, list(kinds) if kinds else None)).fetchall()
        conn.commit()
    return tuple(_event(r) for r in rows)


def latest(conn: psycopg.Connection, kind: str) -> AuditEvent | None:
    with database_errors():
        row = conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM policydiff.audit_log WHERE event = %s"
            " ORDER BY id DESC LIMIT 1", (kind,)).fetchone()
        conn.commit()
    return _event(row) if row else None


def last_switch(conn: psycopg.Connection) -> SwitchRecord | None:
    with database_errors():
        row = conn.execute(
            "SELECT id, action, flags, actor, reason, gate_report, gate_sha256,"
            " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
            " FROM policydiff.promotions ORDER BY id DESC LIMIT 1").fetchone()
        conn.commit()
    if row is None:
        return None
    return SwitchRecord(id=row[0], action=row[1], flags=row[2], actor=row[3], reason=row[4],
                        gate_report=row[5], gate_sha256=row[6], created_at=row[7])
