"""Tenancy facts in the database: read them as a `Tenancy`, replace them by one.

The tables are docs/design.md's (schema `policydiff`). Reading returns the same `Tenancy`
value a tenancy file gives, every list ordered by id (byte order, whatever the
database's collation), so two reads of the same facts are equal. Writing replaces all
facts with COPY inside the caller's transaction: it either lands whole or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import psycopg

from policydiff.db.connection import database_errors
from policydiff.tenancy import Enterprise, Resource, Tenancy, User, canonical_teams

FACT_TABLES = ("team_members", "resources", "users", "teams", "enterprises", "actions")

Progress = Callable[[str, int], None]  # (table, rows written)


@database_errors()
def load_tenancy(conn: psycopg.Connection) -> Tenancy:
    """The facts of `conn`'s database as a `Tenancy`; a database failure is an
    `InfraError`."""
    c = 'COLLATE "C"'
    with conn.transaction():
        teams: dict[str, list[str]] = defaultdict(list)
        for team, ent in conn.execute(f"SELECT id, enterprise_id FROM policydiff.teams ORDER BY id {c}"):
            teams[ent].append(team)
        enterprises = tuple(
            Enterprise(id=e, teams=tuple(teams[e]))
            for (e,) in conn.execute(f"SELECT id FROM policydiff.enterprises ORDER BY id {c}")
        )
        members: dict[str, list[str]] = defaultdict(list)
        for user, team in conn.execute(
            f"SELECT user_id, team_id FROM policydiff.team_members ORDER BY team_id {c}"
        ):
            members[user].append(team)
        users = tuple(
            User(id=u, enterprise=e, role=r, teams=tuple(members[u]))
            for u, e, r in conn.execute(f"SELECT id, enterprise_id, role FROM policydiff.users ORDER BY id {c}")
        )
        resources = tuple(
            Resource(id=i, kind=k, enterprise=e, team=t)
            for i, k, e, t in conn.execute(
                f"SELECT id, kind, enterprise_id, team_id FROM policydiff.resources ORDER BY id {c}"
            )
        )
        actions = tuple(a for (a,) in conn.execute(f"SELECT name FROM policydiff.actions ORDER BY name {c}"))
    return Tenancy(enterprises=enterprises, users=users, resources=resources, actions=actions)


def _key(text: str) -> bytes:
    return text.encode()  # byte order, as COLLATE "C"


_REQUEST = """
SELECT u.enterprise_id, u.role,
       coalesce((SELECT array_agg(m.team_id ORDER BY m.team_id COLLATE "C")
                 FROM policydiff.team_members m WHERE m.user_id = u.id), '{}'),
       r.kind, r.enterprise_id, r.team_id
FROM policydiff.users u, policydiff.resources r
WHERE u.id = %s AND r.id = %s
"""


@database_errors()
def request_input(conn: psycopg.Connection, user_id: str, action: str, resource_id: str) -> dict | None:
    """The `input` document of one request with its facts read from the database, in one
    round trip (what a shadow authorizer does per request); None when the user or the
    resource does not exist. Equal to `policydiff.tenancy.request_input` on the same
    facts, the subject's teams in id order."""
    row = conn.execute(_REQUEST, (user_id, resource_id)).fetchone()
    if row is None:
        return None
    enterprise, role, teams, kind, res_enterprise, res_team = row
    return {
        "subject": {"id": user_id, "enterprise": enterprise, "role": role, "teams": list(teams)},
        "action": action,
        "resource": {"id": resource_id, "kind": kind, "enterprise": res_enterprise, "team": res_team},
    }


def normalized(tenancy: Tenancy) -> Tenancy:
    """`tenancy` with every list in the order `load_tenancy` returns, for comparisons."""
    key = _key
    return Tenancy(
        enterprises=tuple(
            Enterprise(id=e.id, teams=tuple(sorted(e.teams, key=key)))
            for e in sorted(tenancy.enterprises, key=lambda e: key(e.id))
        ),
        users=tuple(
            User(id=u.id, enterprise=u.enterprise, role=u.role, teams=tuple(canonical_teams(u.teams)))
            for u in sorted(tenancy.users, key=lambda u: key(u.id))
        ),
        resources=tuple(sorted(tenancy.resources, key=lambda r: key(r.id))),
        actions=tuple(sorted(set(tenancy.actions), key=key)),
    )


def replace_facts(conn: psycopg.Connection, tenancy: Tenancy, progress: Progress | None = None) -> None:
    """Replace every fact by `tenancy`'s, with COPY; the caller owns the transaction."""
    conn.execute("TRUNCATE " + ", ".join(f"policydiff.{t}" for t in FACT_TABLES))
    report = progress or (lambda table, rows: None)
    report("enterprises", _copy(conn, "enterprises (id)", ((e.id,) for e in tenancy.enterprises)))
    report("teams", _copy(conn, "teams (id, enterprise_id)",
                          ((t, e.id) for e in tenancy.enterprises for t in e.teams)))
    report("users", _copy(conn, "users (id, enterprise_id, role)",
                          ((u.id, u.enterprise, u.role) for u in tenancy.users)))
    report("team_members", _copy(conn, "team_members (user_id, team_id)",
                                 ((u.id, t) for u in tenancy.users for t in dict.fromkeys(u.teams))))
    report("resources", _copy(conn, "resources (id, kind, enterprise_id, team_id)",
                              ((r.id, r.kind, r.enterprise, r.team) for r in tenancy.resources)))
    report("actions", _copy(conn, "actions (name)", ((a,) for a in dict.fromkeys(tenancy.actions))))


def _copy(conn: psycopg.Connection, target: str, rows: Iterable[tuple]) -> int:
    n = 0
    with conn.cursor().copy(f"COPY policydiff.{target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n
