"""The Neon snapshot backend, against the local stand-in of Neon's API v2 (the only
stand-in allowed), with the replay-worker check on a real PostgreSQL."""

from __future__ import annotations

import json

import pytest
from psycopg import conninfo

from policydiff import db
from policydiff.cli import main
from policydiff.db.snapshots import RestoreRefused, backend
from policydiff.db.snapshots.neon import BRANCH_PREFIX, NeonClient, NeonSnapshots
from policydiff.errors import InfraError, InputError
from tests.neon_standin import NeonStandin


@pytest.fixture
def neon():
    with NeonStandin() as standin:
        yield standin


@pytest.fixture
def neon_dsn(debian_server, neon):
    """A DSN whose host is the stand-in's endpoint (so the branch is found through the
    API) while `hostaddr` reaches a real local server."""
    name = debian_server.create_database()
    base = debian_server.dsn_for(name)
    port = conninfo.conninfo_to_dict(base)["port"]
    host = neon.endpoints[neon.endpoint_id]["host"]
    yield conninfo.make_conninfo(base, host=host, hostaddr="127.0.0.1", port=port, sslmode="disable")
    debian_server.drop_database(name)


@pytest.fixture
def neon_env(monkeypatch, neon):
    monkeypatch.setenv("NEON_API_KEY", neon.api_key)
    monkeypatch.setenv("NEON_PROJECT_ID", neon.project_id)
    monkeypatch.setenv("NEON_API_HOST", neon.base_url)
    monkeypatch.delenv("NEON_BRANCH_ID", raising=False)


def _client(neon: NeonStandin) -> NeonClient:
    return NeonClient(neon.api_key, neon.project_id, neon.base_url, poll_interval=0, sleep=lambda s: None)


def test_snapshot_is_a_child_branch_of_the_databases_branch(neon, neon_dsn):
    snaps = NeonSnapshots(_client(neon), neon_dsn)
    snap = snaps.create("before-replay")
    branch = neon.branches[snap.location]
    assert branch["name"] == BRANCH_PREFIX + "before-replay"
    assert branch["parent_id"] == neon.main_branch_id == snap.source
    # the branch was found through the DSN's endpoint, and the operation polled to the end
    paths = [(m, p) for m, p, _ in neon.requests]
    assert ("GET", f"/api/v2/projects/{neon.project_id}/endpoints/{neon.endpoint_id}") in paths
    polls = [p for m, p in paths if "/operations/" in p]
    assert len(polls) == neon.polls_until_done
    assert all(op["status"] == "finished" for op in neon.operations.values())
    assert [s.name for s in snaps.list()] == ["before-replay"]


def test_snapshots_of_another_branch_are_neither_listed_nor_restored(neon, neon_dsn):
    snaps = NeonSnapshots(_client(neon), neon_dsn)
    snaps.create("ours")
    other = neon._branch("feature", neon.main_branch_id)
    neon._branch(BRANCH_PREFIX + "theirs", other["id"])  # a snapshot the feature branch took
    assert [s.name for s in snaps.list()] == ["ours"]
    assert all(s.source == neon.main_branch_id for s in snaps.list())
    with pytest.raises(InputError, match="no snapshot `theirs`"):
        snaps.restore("theirs")
    # the same name may be taken on this branch: it is not one of ours
    assert snaps.create("theirs").source == neon.main_branch_id


def test_restore_retries_a_locked_project_and_preserves_the_old_state(neon, neon_dsn):
    snaps = NeonSnapshots(_client(neon), neon_dsn)
    snap = snaps.create("s1")
    neon.locked = 1  # a conflicting operation still runs: 423 first
    neon.rate_limited = 1  # and one 429 with Retry-After
    snaps.restore("s1")
    restore_posts = [b for m, p, b in neon.requests if m == "POST" and p.endswith("/restore")]
    assert len(restore_posts) == 2  # 423, then accepted
    assert restore_posts[-1]["source_branch_id"] == snap.location
    assert restore_posts[-1]["preserve_under_name"].startswith("policydiff-before-s1-")
    assert neon.restores == [{"target": neon.main_branch_id, **restore_posts[-1]}]
    preserved = [b for b in neon.branches.values() if b["name"] == restore_posts[-1]["preserve_under_name"]]
    assert len(preserved) == 1


def test_restore_refuses_while_replay_workers_are_connected(neon, neon_dsn):
    snaps = NeonSnapshots(_client(neon), neon_dsn)
    snaps.create("s1")
    with db.open_connection(neon_dsn, application_name="policydiff-replay-1"):
        with pytest.raises(RestoreRefused):
            snaps.restore("s1")
        assert neon.restores == []
        snaps.restore("s1", force=True)
    assert len(neon.restores) == 1


def test_a_failed_operation_is_an_infra_error(neon, neon_dsn):
    neon.fail_operations = True
    with pytest.raises(InfraError) as err:
        NeonSnapshots(_client(neon), neon_dsn).create("s1")
    assert err.value.code == "neon_operation_failed" and "failed" in str(err.value)


def test_a_rejected_key_is_an_infra_error_without_the_key(neon, neon_dsn):
    client = NeonClient("wrong-key", neon.project_id, neon.base_url, sleep=lambda s: None)
    with pytest.raises(InfraError) as err:
        NeonSnapshots(client, neon_dsn).list()
    assert "401" in str(err.value) and "wrong-key" not in str(err.value)


def test_cli_uses_neon_when_configured(neon, neon_dsn, neon_env, capsys):
    assert isinstance(backend(neon_dsn), NeonSnapshots)
    assert main(["db", "snapshot", "nightly", "--dsn", neon_dsn]) == 0
    capsys.readouterr()
    assert main(["db", "snapshots", "--dsn", neon_dsn, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["backend"]) for s in listed] == [("nightly", "neon")]
    assert main(["db", "restore", "nightly", "--dsn", neon_dsn]) == 0
    assert len(neon.restores) == 1


def test_server_errors_repeat_reads_but_never_a_post(neon, neon_dsn):
    snaps = NeonSnapshots(_client(neon), neon_dsn)
    neon.bad_gateway = {"GET": 1}
    assert snaps.list() == ()  # the GET was repeated after the 502
    neon.bad_gateway = {"POST": 1}
    with pytest.raises(InfraError) as err:
        snaps.create("s1")
    assert "502" in str(err.value)
    posts = [p for m, p, _ in neon.requests if m == "POST"]
    assert len(posts) == 1  # a 5xx may hide a created branch: not repeated


def _local_databases(server) -> set[str]:
    import psycopg

    with psycopg.connect(server.maintenance_dsn) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database")}


@pytest.fixture
def neon_backed(debian_server, neon, neon_dsn):
    """The stand-in's main branch backed by `neon_dsn`'s local database; the branch
    copies the test leaves are dropped afterwards."""
    neon.attach(debian_server.maintenance_dsn, conninfo.conninfo_to_dict(neon_dsn)["dbname"])
    neon.polls_until_done = 1
    yield neon
    for branch_id, name in list(neon.databases.items()):
        if branch_id != neon.main_branch_id:
            with db.connect(debian_server.maintenance_dsn) as conn:
                conn.autocommit = True
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_rollback_drill_on_neon_checks_a_scratch_branch_and_deletes_it(
        debian_server, neon_backed, neon_dsn, neon_env, capsys):
    neon = neon_backed
    # a password on the live DSN too (the local server trusts, so neither is needed)
    live = conninfo.make_conninfo(neon_dsn, password="npg_LiveSecret77")
    with db.connect(live) as conn:
        db.seed(conn, db.generate(db.Scale(), db.policy_actions()))
    assert main(["db", "snapshot", "pre-track", "--dsn", live]) == 0
    with db.connect(live) as conn:  # the track goes on changing the live facts
        db.seed(conn, db.generate(db.Scale(enterprises=4), db.policy_actions()))
    before = _local_databases(debian_server)
    branches_before, endpoints_before = set(neon.branches), set(neon.endpoints)

    assert main(["rollback", "--drill", "--dsn", live, "--snapshot", "pre-track"]) == 0
    out, err = capsys.readouterr()
    assert "ok   snapshot `pre-track` restores into a scratch Neon branch with its facts" in out
    assert "scratch copy holds 3 enterprises" in out  # the snapshot's facts, not the live 4
    assert "= the snapshot's" in out
    for secret in (neon.password, "npg_LiveSecret77"):
        assert secret not in out and secret not in err
    # the scratch branch was made from the snapshot branch with a read_write endpoint ...
    snap_branch = next(b for b in neon.branches.values() if b["name"] == BRANCH_PREFIX + "pre-track")
    posts = [b for m, p, b in neon.requests if m == "POST" and p.endswith("/branches")]
    scratch_spec = posts[-1]
    assert scratch_spec["branch"]["parent_id"] == snap_branch["id"]
    assert scratch_spec["endpoints"] == [{"type": "read_write"}]
    # ... and is gone afterwards: the branch, its endpoint, its database
    deleted = [p for m, p, _ in neon.requests if m == "DELETE" and "/branches/" in p]
    assert len(deleted) == 1
    assert set(neon.branches) == branches_before and set(neon.endpoints) == endpoints_before
    assert _local_databases(debian_server) == before


def test_the_scratch_branch_is_deleted_when_the_check_fails(neon_backed, neon_dsn):
    neon = neon_backed
    with db.connect(neon_dsn) as conn:
        db.seed(conn, db.generate(db.Scale(), db.policy_actions()))
    snaps = NeonSnapshots(_client(neon), neon_dsn)
    snaps.create("pre-track")
    kept = set(neon.branches)
    with pytest.raises(RuntimeError, match="checking failed"), snaps.scratch("pre-track") as (dsn, snap):
        assert snap.name == "pre-track"
        with db.connect(dsn) as conn:  # the scratch branch reaches a real copy
            assert conn.execute("SELECT count(*) FROM policydiff.enterprises").fetchone()[0] == 3
        raise RuntimeError("checking failed")
    assert set(neon.branches) == kept
    assert [m for m, p, _ in neon.requests if "/branches/" in p and m == "DELETE"] == ["DELETE"]
    # a snapshot that is not there creates nothing
    with pytest.raises(InputError, match="no snapshot `gone`"), snaps.scratch("gone"):
        pass
    assert set(neon.branches) == kept
