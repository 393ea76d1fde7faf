"""Replay against a real, seeded PostgreSQL: agreement with compare's verdicts request by
request and cell by cell (the example policies, and a pair with a loosening, with and
without churn), metrics equal to the report, decision logs that OPA agrees with, shards
that merge into the workload, and the command's exit codes for bad input and an
unreachable database."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import psycopg
import pytest
from replay_checks import (
    UNSAFE,
    V1,
    V2,
    assert_agrees,
    assert_log_agrees_with_opa,
    assert_metrics_equal_report,
    compare,
    samples,
    seed,
)

from policydiff import db
from policydiff.cli import main
from policydiff.replay import run_replay
from policydiff.report.replay import summary
from policydiff.results import ReplayReport

REQUESTS = 3000


@pytest.fixture(scope="module")
def seeded(default_server):
    name = default_server.create_database()
    dsn = default_server.dsn_for(name)
    seed(dsn)
    yield dsn
    default_server.drop_database(name)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_examples_agree_with_compare(seeded, tmp_path):
    log = tmp_path / "decisions.jsonl"
    seen = []
    port = _free_port()
    scraped: list[dict] = []

    def observe(p) -> None:  # the endpoint answers while the run lasts
        seen.append(p)
        if p.done and not scraped:
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                scraped.append(samples(r.read().decode()))

    report = run_replay(v1=V1, v2=V2, requests=REQUESTS, parallel=2, seed=5, dsn=seeded,
                        decision_log=log, observer=observe, metrics_port=port)
    assert report.complete and not report.problems
    assert report.requests == REQUESTS and report.run.requests == REQUESTS
    expected = compare(seeded, V2)
    assert expected.discrepancies and not any(
        d.direction == "v2_more_permissive" for d in expected.discrepancies)
    assert_agrees(report, expected)
    # every realised cell was exercised
    assert {c.key for c in report.cells} == {c.key for c in expected.cells}
    assert_metrics_equal_report(report)
    assert_log_agrees_with_opa(log, report, V2)
    assert seen and seen[-1].done == REQUESTS and seen[-1].total == REQUESTS
    [during] = scraped
    assert 0 < during[("rbac_replay_requests_total", ())] <= REQUESTS
    final = samples(report.metrics)  # one registry, blocks added whole: nothing ahead of the end
    assert set(during) == set(final)
    assert all(during[k] <= final[k] for k in during), {k for k in during if during[k] > final[k]}
    assert ("rbac_v1_v2_comparison_total", (("outcome", "match"),)) in during
    assert report.latency_ms.v1.p50 > 0 and report.latency_ms.db.max >= report.latency_ms.db.p99
    assert report.stale_facts == 0
    assert _shapes(summary(report, "dry.json")) == _shapes(_readme_summary())
    _assert_fields_of_the_contract(json.loads(msgspec.json.encode(report)))


def _assert_fields_of_the_contract(got: dict) -> None:
    """The report has docs/design.md's `policydiff.replay/1` fields, field for field."""
    text = (Path(__file__).resolve().parent.parent / "docs/design.md").read_text(encoding="utf-8")
    block = text.split("```json\n{\"schema\": \"policydiff.replay/1\"", 1)[1].split("```", 1)[0]
    want = json.loads('{"schema": "policydiff.replay/1"' + block.replace("{…}", "{}"))
    assert set(got) == set(want)
    for part in ("run", "outcomes", "latency_ms"):
        assert set(got[part]) == set(want[part]), part
    assert set(got["run"]["v1"]) == set(want["run"]["v1"]) == set(got["run"]["v2"])
    assert set(got["cells"][0]) == set(want["cells"][0])
    assert {set(v) == set(want["latency_ms"]["v1"]) for v in got["latency_ms"].values()} == {True}


def _readme_summary() -> str:
    """The summary the README shows under the done-when command."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = text.split("```\nreplay complete:", 1)[1].split("```", 1)[0]
    return "replay complete:" + block


def _shapes(text: str) -> list[str]:
    """Lines with their figures and the database's address blanked: what the README can
    promise of any run."""
    return [re.sub(r"\d[\d.,]*", "N", line.split(" against ")[0]) for line in text.splitlines()]


def test_loosening_with_churn_agrees_with_compare(default_server, tmp_path):
    # A request whose user the writer had changed lands in another cell than planned;
    # four coverage requests per cell keep every cell exercised all the same.
    profile = tmp_path / "profile.yaml"
    profile.write_text("floor: 4\n")
    name = default_server.create_database()
    dsn = default_server.dsn_for(name)
    try:
        seed(dsn)
        expected = compare(dsn, UNSAFE)
        assert any(d.direction == "v2_more_permissive" for d in expected.discrepancies)
        report = run_replay(v1=V1, v2=UNSAFE, requests=REQUESTS, parallel=2, seed=9, dsn=dsn,
                            churn=200.0, profile=profile)
        assert report.complete and not report.problems
        assert report.outcomes["v2_more_permissive"] > 0
        assert report.stale_facts > 0  # decisions were taken while users had changed
        assert_agrees(report, expected)
        assert_metrics_equal_report(report)
        assert compare(dsn, UNSAFE).cells == expected.cells  # the writer put every fact back
    finally:
        default_server.drop_database(name)


def test_a_slow_churn_writer_still_changes_facts_under_the_run(default_server):
    """Blocks wait for the writer's first change, which holds until the first block is
    done: even at one transaction every 10 s, decisions are taken on changed facts, and
    the facts are put back at the end."""
    name = default_server.create_database()
    dsn = default_server.dsn_for(name)
    try:
        seed(dsn)
        before = compare(dsn, V2).cells
        report = run_replay(v1=V1, v2=V2, requests=REQUESTS, parallel=2, seed=4, dsn=dsn, churn=0.1)
        assert report.complete and not report.problems
        assert report.stale_facts > 0
        assert_metrics_equal_report(report)
        assert compare(dsn, V2).cells == before
    finally:
        default_server.drop_database(name)


def test_a_churn_writer_with_nothing_to_change_does_not_hold_the_run(default_server):
    """One user per enterprise: the writer has no user to copy and ends at once; the
    blocks waiting for its first change start all the same, and nothing was stale."""
    from policydiff.db import policy_actions
    from policydiff.tenancy import Enterprise, Resource, Tenancy, User

    tenancy = Tenancy(
        enterprises=tuple(Enterprise(id=e, teams=(f"{e}-t",)) for e in ("e1", "e2")),
        users=tuple(User(id=f"{e}-u", enterprise=e, role="developer", teams=(f"{e}-t",)) for e in ("e1", "e2")),
        resources=tuple(Resource(id=f"{e}-r{k}", kind="project", enterprise=e, team=f"{e}-t" if k else None)
                        for e in ("e1", "e2") for k in range(2)),
        actions=policy_actions(V1.parent))
    name = default_server.create_database()
    dsn = default_server.dsn_for(name)
    try:
        with psycopg.connect(dsn) as conn:
            db.migrate(conn)
            db.seed(conn, tenancy)
        report = run_replay(v1=V1, v2=V2, requests=REQUESTS, parallel=2, seed=1, dsn=dsn, churn=50.0)
        assert report.complete and not report.problems, report.problems
        assert report.requests == REQUESTS and report.stale_facts == 0
        assert_metrics_equal_report(report)
    finally:
        default_server.drop_database(name)


def test_cli_shards_merge_into_the_workload(seeded, tmp_path):
    """Two shards of one workload, through the command: together they are the workload,
    and a loosening shows in them as compare predicts."""
    reports = []
    for shard in ("1/2", "2/2"):
        out = tmp_path / f"shard{shard[0]}.json"
        code = main(["replay", "--v1", str(V1), "--v2", str(UNSAFE), "--requests", str(REQUESTS),
                     "--parallel", "1", "--seed", "2", "--dsn", seeded, "--shard", shard,
                     "--output", str(out)])
        assert code == 0
        reports.append(msgspec.json.decode(out.read_bytes(), type=ReplayReport))
        assert json.loads(out.read_text())["schema"] == "policydiff.replay/1"
    assert sum(r.requests for r in reports) == REQUESTS
    assert {r.run.shard for r in reports} == {"1/2", "2/2"}
    merged: dict = {}
    for r in reports:
        for c in r.cells:
            m = merged.setdefault(c.key, [0, 0, 0])
            m[0] += c.requests
            m[1] += c.v2_more_permissive
            m[2] += c.v2_more_restrictive
    cells = tuple(msgspec.structs.replace(reports[0].cells[0], tenant=k[0], role=k[1], action=k[2],
                                          relation=k[3], requests=v[0], v2_more_permissive=v[1],
                                          v2_more_restrictive=v[2]) for k, v in merged.items())
    outcomes = {o: sum(r.outcomes[o] for r in reports) for o in reports[0].outcomes}
    whole = msgspec.structs.replace(reports[0], cells=cells, requests=REQUESTS, outcomes=outcomes)
    assert_agrees(whole, compare(seeded, UNSAFE))


def _bad(argv, capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("flags, says", [
    (["--requests", "0"], "--requests"),
    (["--requests", "-5"], "--requests"),
    (["--parallel", "0"], "--parallel"),
    (["--shard", "3/2"], "--shard"),
    (["--churn", "-1"], "--churn"),
])
def test_bad_flags(flags, says, seeded, tmp_path, capsys):
    base = {"--v1": str(V1), "--v2": str(V2), "--requests": "10", "--parallel": "1",
            "--output": str(tmp_path / "r.json"), "--dsn": seeded}
    for i in range(0, len(flags), 2):
        base[flags[i]] = flags[i + 1]
    err = _bad(["replay", *[x for kv in base.items() for x in kv]], capsys)
    assert says in err
    assert not (tmp_path / "r.json").exists()


def test_bad_policy_profile_and_empty_tenancy(seeded, fresh_dsn, tmp_path, capsys):
    broken = tmp_path / "broken.rego"
    broken.write_text("package p\nimport rego.v1\nallow if {\n")
    common = ["--requests", "10", "--output", str(tmp_path / "r.json")]
    err = _bad(["replay", "--v1", str(V1), "--v2", str(broken), "--dsn", seeded, *common], capsys)
    assert "broken.rego:" in err
    unsafe = tmp_path / "unsafe.rego"  # parses, fails `check`
    unsafe.write_text("package p\nimport rego.v1\nallow if { x > 1 }\n")
    err = _bad(["replay", "--v1", str(unsafe), "--v2", str(V2), "--dsn", seeded, *common], capsys)
    assert "unsafe.rego:3:" in err and "rego_unsafe_var_error" in err
    profile = tmp_path / "profile.yaml"
    profile.write_text("roles: {wizard: 1}\n")
    err = _bad(["replay", "--v1", str(V1), "--v2", str(V2), "--dsn", seeded, "--profile", str(profile),
                *common], capsys)
    assert "profile.yaml" in err and "`wizard`" in err
    err = _bad(["replay", "--v1", str(V1), "--v2", str(V2), "--dsn", fresh_dsn, *common], capsys)
    assert "nothing to replay" in err
    err = _bad(["replay", "--v1", str(V1), "--v2", str(V2), "--dsn", seeded, *common], capsys)
    assert "10 requests cannot give each" in err and "--requests" in err


def test_metrics_port_in_use_is_bad_input(seeded, tmp_path, capsys):
    import multiprocessing
    import socket

    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = _bad(["replay", "--v1", str(V1), "--v2", str(V2), "--requests", "1000", "--dsn", seeded,
                    "--metrics-port", str(port), "--output", str(tmp_path / "r.json")], capsys)
    assert "--metrics-port" in err and str(port) in err
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("policydiff-replay")]


def test_unreachable_database_is_exit_3(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dsn = f"postgresql://app:hunter2@127.0.0.1:{port}/nowhere?connect_timeout=2"
    code = main(["replay", "--v1", str(V1), "--v2", str(V2), "--requests", "10", "--dsn", dsn,
                 "--output", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 3 and "hunter2" not in err and "Traceback" not in err
    assert not Path(tmp_path / "r.json").exists()


def test_unwritable_output_is_refused_before_the_run(tmp_path, capsys):
    """`--output` (and `--decision-log`) that cannot be written are bad input found before
    anything runs: exit 2 even with a database that is not there (which would be exit 3
    once the run started), and no file is left behind."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = ["replay", "--v1", str(V1), "--v2", str(V2), "--requests", "10",
            "--dsn", f"postgresql://app@127.0.0.1:{port}/nowhere?connect_timeout=2"]
    (tmp_path / "dir").mkdir()
    for flags, says in ((["--output", str(tmp_path / "dir")], "is a directory"),
                        (["--output", str(tmp_path / "missing" / "r.json")], "no directory"),
                        (["--output", str(tmp_path / "r.json"), "--decision-log", str(tmp_path)],
                         "is a directory")):
        err = _bad([*base, *flags], capsys)
        assert says in err and flags[-2] in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def test_library_refuses_an_unwritable_decision_log(seeded, tmp_path):
    from policydiff.errors import InputError

    with pytest.raises(InputError) as e:
        run_replay(v1=V1, v2=V2, requests=REQUESTS, dsn=seeded, decision_log=tmp_path)
    assert e.value.diagnostics[0].code == "unwritable_file"


def test_profile_from_the_run_s_own_decision_log(seeded, tmp_path):
    """A run's decision log (the discrepancies `ShadowAuthorizer` logged) is a `--profile`
    for the next run: past the coverage floor, requests go only to the roles, actions
    and relations the log holds."""
    log, first, second = tmp_path / "decisions.jsonl", tmp_path / "a.json", tmp_path / "b.json"
    common = ["replay", "--v1", str(V1), "--v2", str(UNSAFE), "--requests", str(REQUESTS),
              "--parallel", "1", "--dsn", seeded]
    assert main([*common, "--output", str(first), "--decision-log", str(log)]) == 0
    logged = [json.loads(x)["input"] for x in log.read_text().splitlines()]
    assert logged
    roles = {x["subject"]["role"] for x in logged}
    actions = {x["action"] for x in logged}
    assert main([*common, "--output", str(second), "--profile", str(log), "--seed", "4"]) == 0
    report = msgspec.json.decode(second.read_bytes(), type=ReplayReport)
    assert report.complete and report.requests == REQUESTS
    outside = [c for c in report.cells if c.role not in roles or c.action not in actions]
    assert outside and all(c.requests == 1 for c in outside)  # the floor, nothing more
    inside = sum(c.requests for c in report.cells if c.role in roles and c.action in actions)
    assert inside == REQUESTS - len(outside) > len(report.cells)


def test_done_when_on_a_machine_without_a_database(tmp_path):
    """The issue's done-when, as the README shows it: with no database configured (no
    `--dsn`, no DATABASE_URL), `db seed` and then the README's `replay` command work on
    the embedded server, the metrics endpoint answers while the run lasts, and `analyze`
    finds the report, its metrics and the symbolic diff in agreement."""
    import os
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    line = next(x for x in readme.splitlines() if x.startswith("policydiff db seed && policydiff replay"))
    seed_cmd, replay_cmd = (part.split() for part in line.split(" && "))
    assert replay_cmd[replay_cmd.index("--requests") + 1] == "50000"
    for name in ("policies", "classifications"):
        (tmp_path / name).symlink_to(root / name)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    cli = [sys.executable, "-m", "policydiff"]
    done = subprocess.run([*cli, *seed_cmd[1:]], check=False, cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    port = _free_port()
    run = subprocess.Popen([*cli, *replay_cmd[1:], "--metrics-port", str(port)], cwd=tmp_path,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    counted = 0.0  # the endpoint answers from the start, with counts once a block is done
    try:
        while not counted and run.poll() is None:
            time.sleep(0.05)  # as a scraper would, not in a loop that starves the run
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    counted = samples(r.read().decode()).get(("rbac_replay_requests_total", ()), 0.0)
            except (urllib.error.URLError, ConnectionError):
                pass
        alive = run.poll() is None
        _, err = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    assert alive and 0 < counted < 50000
    assert "replay complete: 50000 requests" in err and "report written to dry.json" in err
    analysed = subprocess.run([*cli, "analyze", "--input", "dry.json", "--output", "dry.analysis.json",
                               "--classifications", "classifications/rbac_v2.yaml"],
                              check=False, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
    assert analysed.returncode == 0, analysed.stdout + analysed.stderr
    analysis = json.loads((tmp_path / "dry.analysis.json").read_text())
    assert analysis["requests"] == 50000 and analysis["passed"]
    assert analysis["agreement"] == {"unexpected_cells": [], "unexercised_cells": []}
    hit = {c["name"]: c["hit"] for c in analysis["stop_conditions"]}
    assert hit["missing_metrics"] is False and hit["disagreement"] is False


def test_facts_are_read_back_as_written_whatever_the_ids(database):
    """A batch's facts come back exactly as the tenancy holds them, for ids that an
    array literal must quote (quotes, backslashes, commas, braces, blanks, NULL)."""
    from policydiff import db
    from policydiff.replay.worker import read_facts
    from policydiff.tenancy import Enterprise, Resource, Tenancy, User

    odd = ['a"b', "c\\d", "e,f", "{g}", " h ", "NULL", "", "ü\u0001"]
    teams = [f"t{t}" for t in odd[:3]]
    tenancy = Tenancy(
        enterprises=(Enterprise(id="E\\\"", teams=tuple(teams)),),
        users=tuple(User(id=f"u{u}", enterprise="E\\\"", role="viewer" if k % 2 else "admin",
                         teams=tuple(teams[: k % 4])) for k, u in enumerate(odd)),
        resources=tuple(Resource(id=f"r{r}", kind="project", enterprise="E\\\"",
                                 team=None if k % 3 == 0 else teams[k % 3]) for k, r in enumerate(odd)),
        actions=("read",))
    db.seed(database, tenancy)
    database.commit()
    requests = [(u.id, "read", r.id) for u in tenancy.users for r in tenancy.resources[:3]]
    requests.append(("u-missing", "read", "r-missing"))
    users, resources = read_facts(database, requests)
    assert users == {u.id: (u.enterprise, u.role, tuple(sorted(u.teams, key=str.encode)))
                     for u in tenancy.users}
    assert resources == {r.id: (r.kind, r.enterprise, r.team) for r in tenancy.resources[:3]}


def test_analyze_refuses_a_run_over_other_facts(default_server, tmp_path, capsys):
    """The run records its tenancy's digest; analyze checks it against the facts it
    analyses, so a database changed since the run is refused, not misread as the
    policies disagreeing."""
    from policydiff import db
    from policydiff.db import generate, policy_actions
    from policydiff.replay.workload import tenancy_digest

    name = default_server.create_database()
    dsn = default_server.dsn_for(name)
    try:
        seed(dsn)
        out, analysis = tmp_path / "run.json", tmp_path / "analysis.json"
        assert main(["replay", "--v1", str(V1), "--v2", str(V2), "--requests", str(REQUESTS),
                     "--parallel", "1", "--dsn", dsn, "--output", str(out)]) == 0
        run = msgspec.json.decode(out.read_bytes(), type=ReplayReport).run
        seeded_facts = generate(actions=policy_actions(V1.parent))  # what seed() wrote
        assert run.tenancy_sha256 == tenancy_digest(seeded_facts)
        analyse = ["analyze", "--input", str(out), "--output", str(analysis)]
        assert main([*analyse, "--dsn", dsn]) in (0, 1)  # the check passes; the analysis ran
        assert analysis.exists()
        capsys.readouterr()
        with psycopg.connect(dsn) as conn:
            conn.execute("UPDATE policydiff.users SET role = 'viewer' WHERE id = "
                         "(SELECT min(id) FROM policydiff.users WHERE role = 'developer')")
        conn = db.connect(dsn)
        try:
            now = tenancy_digest(db.load_tenancy(conn))
        finally:
            conn.close()
        analysis.unlink()
        err = _bad([*analyse, "--dsn", dsn], capsys)
        assert run.tenancy_sha256[:12] in err and now[:12] in err and "run.json" in err
        assert not analysis.exists()
        # the facts the run replayed, from a file: analysed again
        facts = tmp_path / "tenancy.json"
        facts.write_bytes(msgspec.json.encode(seeded_facts))
        assert main([*analyse, "--tenancy", str(facts)]) in (0, 1)
    finally:
        default_server.drop_database(name)
