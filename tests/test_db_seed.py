"""Seeding: the runbook's minimum, a scale, or exactly a tenancy file; one transaction,
so re-seeding replaces and a failed seed changes nothing; the facts read back equal."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policydiff import db
from policydiff.db.seed import DEFAULT_ACTIONS
from policydiff.errors import InputError
from policydiff.tenancy import ROLES, Enterprise, Resource, Tenancy, User, decode_tenancy


def test_default_seed_is_the_runbook_minimum(server_fresh_dsn):
    tenancy = db.generate(db.Scale(), db.policy_actions())
    events: list[db.SeedEvent] = []
    with psycopg.connect(server_fresh_dsn) as conn:
        result = db.seed(conn, tenancy, events.append)
        report = db.verify(conn)
        back = db.load_tenancy(conn)
    assert report.passed, report.problems
    assert back == db.normalized(tenancy)
    assert [e.table for e in events] == ["enterprises", "teams", "users", "team_members", "resources", "actions"]
    assert result.counts["users"] == len(tenancy.users)
    assert len(back.enterprises) >= 3 and all(len(e.teams) >= 2 for e in back.enterprises)
    assert set(ROLES) <= {u.role for u in back.users}
    assert {r.team is None for r in back.resources} == {True, False}
    # every role in every enterprise, so each tenant has the whole row of the matrix
    per_enterprise = {e.id: {u.role for u in back.users if u.enterprise == e.id} for e in back.enterprises}
    assert all(set(ROLES) <= roles for roles in per_enterprise.values())
    assert {"project:read", "billing:write", "audit:read"} <= set(back.actions)


def test_scale_counts(server_fresh_dsn):
    scale = db.Scale(enterprises=40, teams_per_enterprise=3, users_per_team=4, resources_per_team=2)
    with psycopg.connect(server_fresh_dsn) as conn:
        db.seed(conn, db.generate(scale))
        report = db.verify(conn)
    assert report.passed
    assert report.totals["enterprises"] == 40
    assert report.totals["teams"] == 40 * 3
    assert report.totals["users"] == 40 * (3 * 4 + 2)  # team members, plus admin and system
    assert report.totals["resources"] == 40 * (3 * 2 + 1)
    assert all(e.users == 3 * 4 + 2 for e in report.enterprises)


def test_reseeding_replaces_the_facts(server_fresh_dsn):
    small = db.generate(db.Scale(enterprises=3))
    other = db.generate(db.Scale(enterprises=4, users_per_team=1), ("project:read",))
    with psycopg.connect(server_fresh_dsn) as conn:
        db.seed(conn, small)
        db.seed(conn, other)
        assert db.load_tenancy(conn) == db.normalized(other)


def test_a_failed_seed_leaves_the_database_as_it_was(server_fresh_dsn):
    good = db.generate()
    # Built directly, past the file loader's checks: the database's foreign keys reject it
    # only at the resources, after enterprises, teams and users were already copied.
    broken = Tenancy(
        enterprises=(Enterprise(id="ent-x", teams=("x-team",)),),
        users=(User(id="u-x", enterprise="ent-x", role="admin"),),
        resources=(Resource(id="p-x", kind="project", enterprise="ent-x", team="no-such-team"),),
        actions=("project:read",),
    )
    with psycopg.connect(server_fresh_dsn) as conn:
        db.seed(conn, good)
        with pytest.raises(InputError) as err:
            db.seed(conn, broken)
        assert err.value.code == "seed_rejected"
        assert "resources" in str(err.value)
        # located at the database it was written to, not at a file position
        assert str(err.value.span) == f"postgresql://{conn.info.user}@/{conn.info.dbname}" \
            f"?host={conn.info.host}&port={conn.info.port}" or \
            str(err.value.span).endswith(f":{conn.info.port}/{conn.info.dbname}")
        assert db.load_tenancy(conn) == db.normalized(good)


def test_seed_from_a_tenancy_file_is_exact(server_fresh_dsn, tmp_path):
    path = tmp_path / "tenancy.yaml"
    path.write_text(
        """
enterprises:
  - {id: ent-acme, teams: [acme-web, acme-core]}
  - {id: ent-globex, teams: [globex-ops]}
users:
  - {id: u-2, enterprise: ent-acme, role: developer, teams: [acme-web, acme-core]}
  - {id: u-1, enterprise: ent-globex, role: viewer, teams: [globex-ops]}
resources:
  - {id: p-1, kind: project, enterprise: ent-acme, team: acme-core}
  - {id: e-1, kind: enterprise, enterprise: ent-globex, team: null}
actions: [project:write, project:read]
"""
    )
    from policydiff.tenancy import load_tenancy

    tenancy = load_tenancy(path)
    with psycopg.connect(server_fresh_dsn) as conn:
        db.seed(conn, tenancy)
        back = db.load_tenancy(conn)
    assert back == db.normalized(tenancy)
    assert back.users[1] == User(id="u-2", enterprise="ent-acme", role="developer", teams=("acme-core", "acme-web"))


_ids = st.text(alphabet="abcxyz019-", min_size=1, max_size=6)


@st.composite
def tenancies(draw) -> Tenancy:
    """Valid tenancies: unique ids, every reference inside its enterprise."""
    ent_ids = draw(st.lists(_ids, min_size=1, max_size=4, unique=True))
    team_ids = draw(st.lists(_ids, max_size=8, unique=True))
    teams_of = {e: [] for e in ent_ids}
    for team in team_ids:
        teams_of[draw(st.sampled_from(ent_ids))].append(team)
    enterprises = tuple(Enterprise(id=e, teams=tuple(teams_of[e])) for e in ent_ids)
    users = []
    for uid in draw(st.lists(_ids, max_size=8, unique=True)):
        ent = draw(st.sampled_from(ent_ids))
        teams = draw(st.lists(st.sampled_from(teams_of[ent]), unique=True)) if teams_of[ent] else []
        users.append(User(id="u" + uid, enterprise=ent, role=draw(st.sampled_from(ROLES + ("auditor",))),
                          teams=tuple(teams)))
    resources = []
    for rid in draw(st.lists(_ids, max_size=8, unique=True)):
        ent = draw(st.sampled_from(ent_ids))
        team = draw(st.sampled_from([None, *teams_of[ent]]))
        resources.append(Resource(id="r" + rid, kind=draw(st.sampled_from(["project", "billing"])),
                                  enterprise=ent, team=team))
    actions = draw(st.lists(st.sampled_from(DEFAULT_ACTIONS), unique=True))
    return Tenancy(enterprises=enterprises, users=tuple(users), resources=tuple(resources), actions=tuple(actions))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tenancy=tenancies())
def test_facts_round_trip(database, tenancy):
    db.seed(database, tenancy)
    back = db.load_tenancy(database)
    assert back == db.normalized(tenancy)
    # what the database gives is itself a valid tenancy file's content
    import msgspec

    assert decode_tenancy(msgspec.json.encode(back), "back.json") == back
    counts = Counter(u.role for u in tenancy.users)
    assert db.verify(database).roles == {**dict.fromkeys(ROLES, 0), **counts}


@pytest.mark.parametrize("variables", [{}, {"enterprises": 12, "teams": 3, "users_per_team": 2}])
def test_examples_seed_sql_writes_what_db_seed_writes(fresh_dsn, variables):
    """examples/seed.sql, for psql users, gives the same facts as the generator."""
    script = Path(__file__).parent.parent / "examples" / "seed.sql"
    psql = shutil.which("psql") or str(Path(pgserver_bin()) / "psql")
    flags = [arg for k, v in variables.items() for arg in ("-v", f"{k}={v}")]
    run = subprocess.run([psql, "-X", "-q", *flags, "-f", str(script), fresh_dsn],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    scale = db.Scale(enterprises=variables.get("enterprises", 3),
                     teams_per_enterprise=variables.get("teams", 2),
                     users_per_team=variables.get("users_per_team", 3))
    with psycopg.connect(fresh_dsn) as conn:
        assert db.load_tenancy(conn) == db.normalized(db.generate(scale))


def pgserver_bin() -> str:
    from policydiff.db.embedded import _pgserver

    return str(_pgserver().POSTGRES_BIN_PATH)


def test_request_input_from_the_database_matches_the_tenancy(database):
    """The facts one request reads live are those the tenancy model gives for it."""
    from policydiff.tenancy import request_input

    tenancy = db.normalized(db.generate(db.Scale(enterprises=3, users_per_team=2)))
    db.seed(database, tenancy)
    triples = list(tenancy.requests())
    for user, action, resource in triples[:: max(1, len(triples) // 200)]:
        assert db.request_input(database, user.id, action, resource.id) == request_input(user, action, resource)
    assert db.request_input(database, "nobody", "project:read", tenancy.resources[0].id) is None
