"""Verification: does the database hold what the runbook and the matrix need?

Two kinds of finding. The runbook's minimums: at least 3 enterprises, at least 2 teams
in each, a user of every role, resources at team and enterprise level, some actions.
And the integrity the matrix relies on, which foreign keys alone cannot give (or which a
hand-made database may lack): every user and resource in an existing enterprise, team
members only in teams of their own enterprise, resources' teams in their enterprise.
The result is data — counts per enterprise and role, and the findings — rendered by the
command line.
"""

from __future__ import annotations

import msgspec
import psycopg

from policydiff.db.connection import database_errors
from policydiff.errors import Code, Diagnostic
from policydiff.source import Span
from policydiff.tenancy import ROLES

MIN_ENTERPRISES = 3
MIN_TEAMS = 2
MAX_EXAMPLES = 10  # rows named per integrity finding; the count says how many in all


class EnterpriseCounts(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    teams: int
    users: int
    roles: dict[str, int]
    team_resources: int
    enterprise_resources: int


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    schema: str = "policydiff.verify/1"
    passed: bool
    totals: dict[str, int]
    roles: dict[str, int]
    enterprises: tuple[EnterpriseCounts, ...]
    problems: tuple[Diagnostic, ...] = ()


class _Check(msgspec.Struct, frozen=True):
    code: str
    table: str
    query: str  # returns (id, detail) rows, one per violation
    message: str  # formatted with the row


_INTEGRITY = (
    _Check("orphan_team", "teams", (
        "SELECT t.id, t.enterprise_id FROM policydiff.teams t"
        " LEFT JOIN policydiff.enterprises e ON e.id = t.enterprise_id WHERE e.id IS NULL"),
        "team `{0}` names missing enterprise `{1}`"),
    _Check("orphan_user", "users", (
        "SELECT u.id, u.enterprise_id FROM policydiff.users u"
        " LEFT JOIN policydiff.enterprises e ON e.id = u.enterprise_id WHERE e.id IS NULL"),
        "user `{0}` names missing enterprise `{1}`"),
    _Check("orphan_member", "team_members", (
        "SELECT m.user_id, m.team_id FROM policydiff.team_members m"
        " LEFT JOIN policydiff.users u ON u.id = m.user_id"
        " LEFT JOIN policydiff.teams t ON t.id = m.team_id WHERE u.id IS NULL OR t.id IS NULL"),
        "membership of `{0}` in `{1}` names a missing user or team"),
    _Check("member_outside_enterprise", "team_members", (
        "SELECT m.user_id, m.team_id FROM policydiff.team_members m"
        " JOIN policydiff.users u ON u.id = m.user_id JOIN policydiff.teams t ON t.id = m.team_id"
        " WHERE t.enterprise_id <> u.enterprise_id"),
        "user `{0}` is a member of team `{1}` of another enterprise"),
    _Check("orphan_resource", "resources", (
        "SELECT r.id, r.enterprise_id FROM policydiff.resources r"
        " LEFT JOIN policydiff.enterprises e ON e.id = r.enterprise_id WHERE e.id IS NULL"),
        "resource `{0}` names missing enterprise `{1}`"),
    _Check("resource_team_outside_enterprise", "resources", (
        "SELECT r.id, r.team_id FROM policydiff.resources r"
        " LEFT JOIN policydiff.teams t ON t.id = r.team_id"
        " WHERE r.team_id IS NOT NULL AND (t.id IS NULL OR t.enterprise_id <> r.enterprise_id)"),
        "resource `{0}` names team `{1}`, which is not a team of its enterprise"),
)


@database_errors()
def verify(conn: psycopg.Connection) -> VerifyReport:
    """Check the runbook's minimums and the facts' integrity; count what is there."""
    with conn.transaction():
        totals = {
            table: conn.execute(f"SELECT count(*) FROM policydiff.{table}").fetchone()[0]
            for table in ("enterprises", "teams", "users", "team_members", "resources", "actions")
        }
        roles = dict.fromkeys(ROLES, 0)
        roles.update(dict(conn.execute("SELECT role, count(*) FROM policydiff.users GROUP BY role").fetchall()))
        enterprises = _per_enterprise(conn)
        problems = _integrity(conn)
    problems = _minimums(totals, roles, enterprises) + problems
    return VerifyReport(passed=not problems, totals=totals, roles=roles,
                        enterprises=enterprises, problems=tuple(problems))


def _per_enterprise(conn: psycopg.Connection) -> tuple[EnterpriseCounts, ...]:
    rows = conn.execute(
        """
        SELECT e.id,
               (SELECT count(*) FROM policydiff.teams t WHERE t.enterprise_id = e.id),
               (SELECT coalesce(jsonb_object_agg(role, n), '{}'::jsonb) FROM
                    (SELECT role, count(*) AS n FROM policydiff.users u
                     WHERE u.enterprise_id = e.id GROUP BY role) r),
               (SELECT count(*) FROM policydiff.resources r WHERE r.enterprise_id = e.id AND r.team_id IS NOT NULL),
               (SELECT count(*) FROM policydiff.resources r WHERE r.enterprise_id = e.id AND r.team_id IS NULL)
        FROM policydiff.enterprises e ORDER BY e.id COLLATE "C"
        """
    ).fetchall()
    return tuple(
        EnterpriseCounts(id=ent, teams=teams, users=sum(by_role.values()), roles=dict(by_role),
                         team_resources=team_res, enterprise_resources=ent_res)
        for ent, teams, by_role, team_res, ent_res in rows
    )


def _minimums(totals: dict[str, int], roles: dict[str, int],
              enterprises: tuple[EnterpriseCounts, ...]) -> list[Diagnostic]:
    out: list[Diagnostic] = []

    def unmet(table: str, message: str) -> None:
        out.append(Diagnostic(code=Code.MINIMUM_UNMET, message=message, span=Span(file=f"policydiff.{table}")))

    if totals["enterprises"] < MIN_ENTERPRISES:
        unmet("enterprises", f"{totals['enterprises']} enterprises, the runbook needs at least {MIN_ENTERPRISES}")
    for ent in enterprises:
        if ent.teams < MIN_TEAMS:
            unmet("teams", f"enterprise `{ent.id}` has {ent.teams} teams, the runbook needs at least {MIN_TEAMS}")
    for role in ROLES:
        if roles.get(role, 0) == 0:
            unmet("users", f"no user has role `{role}`")
    if not any(e.team_resources for e in enterprises):
        unmet("resources", "no resource belongs to a team")
    if not any(e.enterprise_resources for e in enterprises):
        unmet("resources", "no enterprise-level resource (with no team)")
    if totals["actions"] == 0:
        unmet("actions", "no actions")
    return out


def _integrity(conn: psycopg.Connection) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for check in _INTEGRITY:
        rows = sorted(conn.execute(check.query).fetchall(), key=lambda r: (r[0].encode(), str(r[1]).encode()))
        span = Span(file=f"policydiff.{check.table}")
        for row in rows[:MAX_EXAMPLES]:
            out.append(Diagnostic(code=check.code, message=check.message.format(*row), span=span))
        if len(rows) > MAX_EXAMPLES:
            out.append(Diagnostic(code=check.code, message=f"and {len(rows) - MAX_EXAMPLES} more", span=span))
    return out
