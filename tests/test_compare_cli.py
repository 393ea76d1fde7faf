"""`policydiff compare` end to end: flags, formats, exit codes, other input shapes."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import msgspec
import pytest

from policydiff.cli import main
from policydiff.tenancy import Enterprise, Resource, Tenancy, User

V1, V2 = "policies/rbac_v1.rego", "policies/rbac_v2.rego"
RULES = "classifications/rbac_v2.yaml"
REAL = Path(__file__).resolve().parent / "fixtures" / "real-policies"


def _json(capsys, argv) -> tuple[int, dict]:
    code = main(argv + ["--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_unclassified_tightenings_block_and_classified_ones_pass(capsys):
    code, report = _json(capsys, ["compare", V1, V2])
    assert code == 1
    assert report["summary"]["unclassified"] == report["summary"]["discrepancies"] > 0
    code, report = _json(capsys, ["compare", V1, V2, "--classifications", RULES])
    assert report["summary"]["unclassified"] == 0
    assert code == (0 if report["gate"]["passed"] else 1)
    assert report["v1"]["path"] == V1 and report["v2"]["decision"] == "data.rbac.v2.allow"


def test_a_leak_across_enterprises_is_blocked_and_named(capsys):
    code, report = _json(capsys, ["compare", V1, "examples/unsafe/rbac_v2.rego", "--classifications", RULES])
    assert code == 1
    leaks = [d for d in report["discrepancies"] if d["direction"] == "v2_more_permissive"]
    assert leaks and all(d["relation"] == "other_enterprise" for d in leaks)
    w = leaks[0]["witness"]
    assert w["subject"]["enterprise"] != w["resource"]["enterprise"]
    assert any("examples/unsafe/rbac_v2.rego" in r for r in leaks[0]["v2_rules"])


def test_same_policy_passes(capsys):
    code, report = _json(capsys, ["compare", V1, V1])
    assert code == 0 and report["summary"]["discrepancies"] == 0


@pytest.mark.parametrize("fmt", ["text", "markdown", "sarif", "junit"])
def test_every_format_renders(tmp_path, capsys, fmt):
    out = tmp_path / f"report.{fmt}"
    code = main(["compare", V1, V2, "--format", fmt, "--output", str(out)])
    assert code == 1
    assert capsys.readouterr().out == ""
    text = out.read_text()
    assert "billing:read" in text
    if fmt == "sarif":
        assert json.loads(text)["version"] == "2.1.0"
    if fmt == "junit":
        assert ET.fromstring(text).iter("testcase")


def test_tenancy_file(tmp_path, capsys):
    tenancy = Tenancy(
        enterprises=(Enterprise(id="acme", teams=("web",)), Enterprise(id="globex", teams=())),
        users=(User(id="u1", enterprise="acme", role="viewer", teams=("web",)),
               User(id="u2", enterprise="globex", role="admin")),
        resources=(Resource(id="b1", kind="billing", enterprise="acme", team=None),
                   Resource(id="g1", kind="project", enterprise="globex", team=None)),
        actions=("billing:read", "project:read"),
    )
    path = tmp_path / "tenancy.json"
    path.write_bytes(msgspec.json.encode(tenancy))
    code, report = _json(capsys, ["compare", V1, V2, "--tenancy", str(path)])
    assert code == 1
    keys = {(d["tenant"], d["role"], d["action"], d["relation"]) for d in report["discrepancies"]
            if d["tenant"] != "*"}
    assert keys == {("acme", "viewer", "billing:read", "enterprise")}
    [acme] = [d for d in report["discrepancies"] if d["tenant"] == "acme"]
    assert acme["witness"]["resource"]["id"] == "b1"
    # what the tenancy does not realise is decided symbolically (tenant `*`)
    unrealised = [d for d in report["discrepancies"] if d["tenant"] == "*"]
    assert unrealised and all(d["role"] not in ("viewer", "admin") or d["action"] not in tenancy.actions
                              for d in unrealised)


def test_bad_input_exits_2(tmp_path, capsys):
    assert main(["compare", V1, str(tmp_path / "missing.rego")]) == 2
    bad = tmp_path / "bad.rego"
    bad.write_text("package x\n\nallow if {\n")
    assert main(["compare", V1, str(bad)]) == 2
    assert "bad.rego:" in capsys.readouterr().err
    assert main(["compare", V1, V2, "--dimension", "colour=input.x"]) == 2
    assert main(["compare", V1]) == 2
    capsys.readouterr()
    assert main(["compare", V1, V2, "--format", "pdf"]) == 2
    assert capsys.readouterr().err.startswith("--format: bad_flag: invalid choice: 'pdf'")


def test_bad_data_documents_exit_2_at_their_position_however_they_are_given(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"roles": {\n  "admin": [1,]\n}}\n')
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    tree = tmp_path / "tree"
    (tree / "roles").mkdir(parents=True)
    shutil.copy(V1, tree / "v1.rego")
    shutil.copy(bad, tree / "roles" / "data.json")
    for argv in (["--data", str(bad)], ["--data", f"roles={bad}"], ["--v1-data", str(bad)]):
        assert main(["compare", V1, V2, *argv]) == 2
        assert f"{bad}:2:" in capsys.readouterr().err
    assert main(["compare", str(tree), V2]) == 2
    assert f"{tree / 'roles' / 'data.json'}:2:" in capsys.readouterr().err
    for argv in (["--data", str(deep)], ["--data", f"roles={deep}"]):
        assert main(["compare", V1, V2, *argv]) == 2
        err = capsys.readouterr().err
        assert "too_deep" in err and "Traceback" not in err


def test_unreachable_database_exits_3(capsys):
    assert main(["compare", V1, V2, "--dsn", "postgresql://app:hunter2@127.0.0.1:1/x"]) == 3
    err = capsys.readouterr().err
    assert "hunter2" not in err and "***" in err


def test_decision_flags(tmp_path, capsys):
    a, b = tmp_path / "a.rego", tmp_path / "b.rego"
    a.write_text('package a\n\nimport rego.v1\n\npermit if input.subject.role == "admin"\n')
    b.write_text('package b\n\nimport rego.v1\n\nok if input.subject.role in {"admin", "viewer"}\n')
    code, report = _json(capsys, ["compare", str(a), str(b), "--v1-decision", "data.a.permit",
                                  "--v2-decision", "data.b.ok"])
    assert code == 1
    assert {(d["role"], d["direction"]) for d in report["discrepancies"]} == {("viewer", "v2_more_permissive")}
    code, report = _json(capsys, ["compare", V1, V1, "--decision", "data.rbac.v1.same_enterprise"])
    assert code == 0 and report["v1"]["decision"] == "data.rbac.v1.same_enterprise"


def test_other_input_shapes_with_dimensions_and_data(tmp_path, capsys):
    # The current tickethub policy as published, `response.*` ref-head rules included.
    new = REAL / "styra-demo-tickethub__tickets.rego"
    old = REAL / "styra-demo-tickethub__tickets@85c76bf.rego"
    data = REAL / "styra-demo-tickethub__roles-data.json"
    code, report = _json(capsys, ["compare", str(old), str(new), "--data", f"roles={data}",
                                  "--dimension", "tenant=input.tenant", "--dimension", "action=input.action"])
    assert code == 1
    assert report["summary"]["complete"]
    ds = report["discrepancies"]
    # the new version also reads the tenant from input.tenant.name: more permissive there
    assert ds and all(d["direction"] == "v2_more_permissive" for d in ds)
    assert all(isinstance(d["witness"]["tenant"], dict) for d in ds)
    assert all("input.user" in d["attributes"] for d in ds)
    assert {d["action"] for d in ds} >= {"get", "list", "resolve"}


def test_git_base_compares_with_the_committed_version(tmp_path, capsys, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    shutil.copy(V1, repo / "policies" / "rbac.rego")
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)
    run("init", "-q")
    run("-c", "user.name=t", "-c", "user.email=t@x", "add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "v1")
    text = Path(V1).read_text().replace('"project:read", "billing:read"', '"project:read"')
    (repo / "policies" / "rbac.rego").write_text(text)
    monkeypatch.chdir(repo)
    code, report = _json(capsys, ["compare", "policies/rbac.rego", "--git-base", "HEAD"])
    assert code == 1
    assert {d["action"] for d in report["discrepancies"]} == {"billing:read"}
    assert report["v1"]["path"].startswith("policies/rbac.rego@HEAD")
    assert all("/tmp" not in r for d in report["discrepancies"] for r in d["v1_rules"])


def test_tenancy_from_the_database_matches_the_same_tenancy_file(fresh_dsn, tmp_path, capsys):
    assert main(["db", "seed", "--dsn", fresh_dsn]) == 0
    dumped = tmp_path / "tenancy.json"
    assert main(["db", "dump", "--dsn", fresh_dsn, "--tenancy", str(dumped)]) == 0
    capsys.readouterr()
    code_db, from_db = _json(capsys, ["compare", V1, V2, "--dsn", fresh_dsn])
    code_file, from_file = _json(capsys, ["compare", V1, V2, "--tenancy", str(dumped)])
    assert code_db == code_file == 1
    assert from_db["summary"] == from_file["summary"]
    assert from_db["summary"]["cells"] > 0
    assert {d["tenant"] for d in from_db["discrepancies"]} == {
        e["id"] for e in json.loads(dumped.read_text())["enterprises"]}
    assert from_db["discrepancies"] == from_file["discrepancies"]


def test_bare_dsn_reads_the_database_database_url_names(fresh_dsn, capsys, monkeypatch):
    assert main(["db", "seed", "--dsn", fresh_dsn]) == 0
    capsys.readouterr()
    code_named, named = _json(capsys, ["compare", V1, V2, "--dsn", fresh_dsn])
    monkeypatch.setenv("DATABASE_URL", fresh_dsn)
    code_bare, bare = _json(capsys, ["compare", V1, V2, "--dsn"])
    _, symbolic = _json(capsys, ["compare", V1, V2])
    assert code_bare == code_named
    assert bare["summary"] == named["summary"]
    assert bare["summary"]["cells"] != symbolic["summary"]["cells"]
    assert {d["tenant"] for d in bare["discrepancies"]} != {"*"}


def test_real_policy_with_data_driven_roles(tmp_path, capsys):
    # OPAL's pet-store RBAC reads roles and locations from data; widening its country
    # check must show exactly the requests of the user outside the US.
    policy = REAL / "opal-example-policy-repo__rbac.rego"
    data = json.loads((REAL / "opal-example-policy-repo__data.json").read_text())
    data["users"]["eve"]["location"]["country"] = "CA"
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data))
    wider = tmp_path / "rbac.rego"
    wider.write_text(policy.read_text().replace('country == "US"', 'country in {"US", "CA"}'))
    code, report = _json(capsys, ["compare", str(policy), str(wider), "--data", str(data_file),
                                  "--dimension", "action=input.action"])
    assert code == 1 and report["summary"]["complete"]
    ds = report["discrepancies"]
    assert ds and all(d["direction"] == "v2_more_permissive" for d in ds)
    assert {d["witness"]["user"] for d in ds} == {"eve"}
    granted = {p["action"] for p in data["role_permissions"]["customer"]}
    assert {d["action"] for d in ds} == granted


def test_an_evaluation_error_names_the_request(tmp_path, capsys):
    bad = tmp_path / "conflict.rego"
    bad.write_text('package c\n\nimport rego.v1\n\nx := 1 if input.subject.role == "admin"\n\n'
                   'x := 2 if input.action == "project:read"\n\nallow if x == 1\n')
    assert main(["compare", str(bad), V1]) == 2
    err = capsys.readouterr().err
    assert "eval_conflict_error" in err and "while deciding" in err and '"role":"admin"' in err


def test_relation_dimensions_on_another_shape(tmp_path, capsys):
    v1, v2 = tmp_path / "v1.rego", tmp_path / "v2.rego"
    v1.write_text('package d1\n\nimport rego.v1\n\nallow if {\n\tinput.user.org == input.doc.org\n'
                  '\tinput.op == "read"\n}\n')
    v2.write_text('package d2\n\nimport rego.v1\n\nallow if {\n\tinput.user.org == input.doc.org\n'
                  '\tinput.op in {"read", "list"}\n\tinput.doc.folder in input.user.folders\n}\n')
    dims = ["action=input.op", "subject_enterprise=input.user.org", "resource_enterprise=input.doc.org",
            "resource_team=input.doc.folder", "subject_teams=input.user.folders"]
    code, report = _json(capsys, ["compare", str(v1), str(v2)] + [f"--dimension={d}" for d in dims])
    assert code == 1
    found = {(d["action"], d["relation"], d["direction"]) for d in report["discrepancies"]}
    assert found == {("list", "own_team", "v2_more_permissive"),
                     ("read", "other_team", "v2_more_restrictive"),
                     ("read", "enterprise", "v2_more_restrictive")}
    for d in report["discrepancies"]:
        w = d["witness"]
        assert w["user"]["org"] == w["doc"]["org"]
        assert (w["doc"]["folder"] is None) == (d["relation"] == "enterprise")
