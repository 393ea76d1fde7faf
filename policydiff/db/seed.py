"""Seeding: a test tenancy written into the database as one transaction.

`generate` builds the tenancy: the runbook's minimum by default (3 enterprises, 2 teams
each, every role, project resources in teams and one enterprise-level resource per
enterprise), or a scale given by counts. `seed` replaces the database's facts by a
tenancy, generated or read from a file, in one transaction: re-seeding replaces, and a
failure midway leaves the old facts in place. Progress goes to an observer; nothing
here prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import msgspec
import psycopg

from policydiff.db.connection import connection_target, database_errors
from policydiff.db.facts import replace_facts
from policydiff.errors import Code, InputError
from policydiff.source import Span
from policydiff.tenancy import Enterprise, Resource, Tenancy, User

DEFAULT_ACTIONS = (
    "project:read", "project:write", "project:delete", "project:export", "billing:read",
    "billing:write", "team:manage", "member:invite", "audit:read",
)
# In-team roles cycle through these; every enterprise also has one admin and one system
# user, who belong to no team.
TEAM_ROLES = ("team_admin", "developer", "viewer")
_ACTION_LITERAL = re.compile(r'"([a-z][a-z_-]*:[a-z][a-z_-]*)"')


class Scale(msgspec.Struct, frozen=True, kw_only=True):
    enterprises: int = 3
    teams_per_enterprise: int = 2
    users_per_team: int = 3
    resources_per_team: int = 1


class SeedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One step of a seed, for the observer: `table` got `rows` rows."""

    table: str
    rows: int


class SeedResult(msgspec.Struct, frozen=True, kw_only=True):
    counts: dict[str, int]


Observer = Callable[[SeedEvent], None]


def policy_actions(policy_dir: str | Path = "policies") -> tuple[str, ...]:
    """The default actions plus every `domain:verb` literal of the example policies."""
    found = dict.fromkeys(DEFAULT_ACTIONS)
    for name in ("rbac_v1.rego", "rbac_v2.rego"):
        path = Path(policy_dir) / name
        if path.is_file():
            found.update(dict.fromkeys(_ACTION_LITERAL.findall(path.read_text(encoding="utf-8"))))
    return tuple(found)


MAX_SEED_ROWS = 10_000_000  # users, resources, teams and memberships a generated tenancy may have


def rows_of(scale: Scale) -> int:
    """The rows a generated tenancy of `scale` writes (an upper bound: enterprises, teams,
    users with their memberships, resources, and each enterprise's admin and system user)."""
    teams = scale.enterprises * scale.teams_per_enterprise
    return scale.enterprises * 3 + teams * (1 + 2 * scale.users_per_team + scale.resources_per_team)


def generate(scale: Scale | None = None, actions: tuple[str, ...] = DEFAULT_ACTIONS) -> Tenancy:
    """A tenancy of the given scale (default: the runbook's minimum); ids are zero-padded
    so they sort in creation order."""
    scale = scale or Scale()
    for field in Scale.__struct_fields__:
        if getattr(scale, field) < 1:
            flag = "--" + field.replace("_", "-")
            raise InputError.at(Code.INVALID_SCALE, f"`{flag}` must be at least 1", Span(file=flag))
    rows = rows_of(scale)
    if rows > MAX_SEED_ROWS:  # named by its largest factor, the likeliest typo
        largest = max(Scale.__struct_fields__, key=lambda f: getattr(scale, f))
        raise InputError.at(Code.INVALID_SCALE, f"this scale seeds {rows:,} rows, more than the "
                            f"{MAX_SEED_ROWS:,} `db seed` writes",
                            Span(file="--" + largest.replace("_", "-")),
                            help="lower --enterprises, --teams-per-enterprise, --users-per-team "
                            "or --resources-per-team")
    width = len(str(scale.enterprises))
    enterprises: list[Enterprise] = []
    users: list[User] = []
    resources: list[Resource] = []
    for i in range(1, scale.enterprises + 1):
        ent = f"ent-{i:0{width}d}"
        teams = tuple(f"{ent}-team-{j}" for j in range(1, scale.teams_per_enterprise + 1))
        enterprises.append(Enterprise(id=ent, teams=teams))
        users.append(User(id=f"{ent}-admin", enterprise=ent, role="admin"))
        users.append(User(id=f"{ent}-system", enterprise=ent, role="system"))
        n = 0
        for team in teams:
            for _ in range(scale.users_per_team):
                n += 1
                role = TEAM_ROLES[(n - 1) % len(TEAM_ROLES)]
                users.append(User(id=f"{ent}-user-{n}", enterprise=ent, role=role, teams=(team,)))
            for r in range(1, scale.resources_per_team + 1):
                resources.append(Resource(id=f"{team}-project-{r}", kind="project", enterprise=ent, team=team))
        resources.append(Resource(id=f"{ent}-billing", kind="billing", enterprise=ent, team=None))
    return Tenancy(enterprises=tuple(enterprises), users=tuple(users), resources=tuple(resources), actions=actions)


def seed(conn: psycopg.Connection, tenancy: Tenancy, observer: Observer | None = None) -> SeedResult:
    """Replace the facts of `conn`'s database by `tenancy`, in one transaction.

    A fact the database rejects (a reference to a missing team, a duplicate id) is an
    `InputError`; the transaction is rolled back and the previous facts remain."""
    counts: dict[str, int] = {}

    def progress(table: str, rows: int) -> None:
        counts[table] = rows
        if observer is not None:
            observer(SeedEvent(table=table, rows=rows))

    at = connection_target(conn) or "the database"
    with database_errors(conn):
        try:
            with conn.transaction():
                replace_facts(conn, tenancy, progress)
        except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as e:
            diag = e.diag
            where = f"table `{diag.table_name}`" if diag.table_name else "the facts"
            detail = (diag.message_detail or str(e)).strip()
            raise InputError.at(
                Code.SEED_REJECTED,
                f"the database rejected {where}: {diag.message_primary or e} ({detail}); nothing was changed",
                Span(file=at),
            ) from None
    return SeedResult(counts=counts)
