"""Role tables through the library and the command line: `load_policy` evaluates
policies/rbac_v1.yaml (and .toml) exactly as policies/rbac_v1.rego, and `policydiff
compare` finds no discrepancy between them, while the table stands in for the Rego file
in a comparison with v2 with provenance pointing at its grants."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import msgspec
import pytest
import yaml
from hypothesis import given, settings
from strategies import requests
from test_roletable import RANDOM_TENANCY, reading, tables

from policydiff import load_policy
from policydiff.cli import main
from policydiff.tenancy import Enterprise, Resource, Tenancy, User, relation, request_input

ROOT = Path(__file__).resolve().parent.parent
V1_REGO = str(ROOT / "policies" / "rbac_v1.rego")
V1_YAML = str(ROOT / "policies" / "rbac_v1.yaml")
V1_TOML = str(ROOT / "policies" / "rbac_v1.toml")
V2_REGO = str(ROOT / "policies" / "rbac_v2.rego")
ROLES = ("admin", "team_admin", "developer", "viewer", "system", "guest")
ACTIONS = ("project:read", "project:write", "project:delete", "project:export", "billing:read",
           "billing:write", "team:manage", "member:invite", "audit:read", "settings:write",
           "deploy:run")


def _tenancy() -> Tenancy:
    """Three enterprises; every role with zero, one and two teams; resources in teams,
    at enterprise level, and in a team nobody is in."""
    ents = {"e1": ("t1", "t2", "t3"), "e2": ("u1", "u2"), "e3": ()}
    users, resources = [], []
    for ent, teams in ents.items():
        for role in ROLES:
            for n in range(min(3, len(teams) + 1)):
                users.append(User(id=f"{ent}-{role}-{n}", enterprise=ent, role=role, teams=teams[:n]))
        resources.append(Resource(id=f"{ent}-root", kind="enterprise", enterprise=ent, team=None))
        resources.extend(Resource(id=f"{ent}-{t}", kind="project", enterprise=ent, team=t) for t in teams)
    return Tenancy(enterprises=tuple(Enterprise(id=e, teams=t) for e, t in ents.items()),
                   users=tuple(users), resources=tuple(resources), actions=ACTIONS)


TENANCY = _tenancy()


@pytest.fixture(scope="module")
def policies():
    return {"rego": load_policy(V1_REGO), "yaml": load_policy(V1_YAML), "toml": load_policy(V1_TOML)}


def test_load_policy_reads_the_table_as_a_roletable_module(policies):
    for kind in ("yaml", "toml"):
        policy = policies[kind]
        assert policy.decision == "data.rbac.v1.allow"
        assert [m.origin for m in policy.modules] == ["roletable"]


def test_table_and_rego_agree_on_every_request_of_a_tenancy(policies):
    allowed = 0
    for user, action, resource in TENANCY.requests():
        request = request_input(user, action, resource)
        want = policies["rego"].allows(request)
        assert policies["yaml"].allows(request) is want, request
        assert policies["toml"].allows(request) is want, request
        allowed += want
    assert 0 < allowed < len(list(TENANCY.requests()))


@settings(max_examples=200, deadline=None)
@given(requests())
def test_table_and_rego_agree_on_random_requests(policies, request):
    assert policies["yaml"].allows(request) is policies["rego"].allows(request)


def test_explain_names_the_grant_line(policies):
    lines = Path(V1_YAML).read_text().splitlines()
    for user, action, resource in TENANCY.requests():
        request = request_input(user, action, resource)
        value, rules = policies["yaml"].explain(request)
        if value is True:
            assert rules, request
            for where in rules:
                file, line = where.rsplit(":", 1)
                assert file == V1_YAML and "actions" in lines[int(line) - 1]


def _compare(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["compare", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("table", [V1_YAML, V1_TOML])
def test_compare_finds_no_discrepancy_between_table_and_rego(capsys, table):
    code, report = _compare(capsys, table, V1_REGO)
    assert code == 0
    assert report["summary"]["discrepancies"] == 0 and report["discrepancies"] == []
    assert report["summary"]["complete"] is True and report["summary"]["cells"] > 0
    code, report = _compare(capsys, V1_REGO, table)
    assert code == 0 and report["summary"]["discrepancies"] == 0


def test_compare_over_a_tenancy_finds_no_discrepancy(capsys, tmp_path):
    tenancy = tmp_path / "tenancy.json"
    tenancy.write_bytes(msgspec.json.encode(TENANCY))
    code, report = _compare(capsys, V1_YAML, V1_REGO, "--tenancy", str(tenancy))
    assert code == 0 and report["summary"]["discrepancies"] == 0
    assert report["summary"]["cells"] > 0


def test_the_table_stands_in_for_v1_against_v2(capsys):
    _, with_rego = _compare(capsys, V1_REGO, V2_REGO)
    _, with_table = _compare(capsys, V1_YAML, V2_REGO)

    def cells(report):
        return sorted((d["tenant"], d["role"], d["action"], d["relation"], d["direction"])
                      for d in report["discrepancies"])

    assert cells(with_table) == cells(with_rego) and cells(with_table)
    lines = Path(V1_YAML).read_text().splitlines()
    for d in with_table["discrepancies"]:
        assert d["v1"] == "allow" and d["v1_rules"]  # only tightenings: v1 allowed
        for where in d["v1_rules"]:
            file, line = where.rsplit(":", 1)
            assert Path(file).name == "rbac_v1.yaml" and "actions" in lines[int(line) - 1]



@settings(max_examples=40, deadline=None)
@given(tables())
def test_random_tables_evaluate_as_the_format_says(table):
    """policydiff's evaluator on the lowered IR itself (globs included), not on Rego
    printed from it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.yaml"
        path.write_text(yaml.safe_dump(table, sort_keys=False))
        policy = load_policy(str(path))
    assert policy.decision == "data.gen.table.allow"
    for user, action, resource in RANDOM_TENANCY.requests():
        request = request_input(user, action, resource)
        assert policy.allows(request) is reading(table, user, action, resource), request


def test_check_and_eval_read_role_tables(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\npackage: t\nroles:\n  dev:\n    grants: [{actions: [x], scope: tem}]\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{bad}:5:") and "invalid_roletable" in err[0]
    assert err[2].strip() == "^^^" and err[1][err[2].index("^"):].startswith("tem}")
    assert "did you mean `team`?" in err[3]
    assert main(["check", V1_TOML]) == 0
    capsys.readouterr()
    request = request_input(User(id="u", enterprise="e", role="viewer"), "billing:read",
                            Resource(id="r", kind="enterprise", enterprise="e", team=None))
    (tmp_path / "in.json").write_text(json.dumps(request))
    assert main(["eval", V1_YAML, "--input", str(tmp_path / "in.json"), "--explain"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["result"] is True
    [where] = out["rules"]
    assert "billing:read" in Path(V1_YAML).read_text().splitlines()[int(where.rsplit(":", 1)[1]) - 1]


@settings(max_examples=15, deadline=None)
@given(tables(), tables())
def test_compare_of_random_tables_finds_exactly_the_differing_cells(v1, v2):
    """Over a tenancy, the reported (cell, direction) pairs are those where the format's
    own reading of the two tables differs on some request of the cell."""
    want = set()
    for user, action, resource in RANDOM_TENANCY.requests():
        a, b = reading(v1, user, action, resource), reading(v2, user, action, resource)
        if a != b:
            cell = (user.enterprise, user.role, action, relation(user, resource))
            want.add(cell + ("v2_more_permissive" if b else "v2_more_restrictive",))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, table in (("v1.yaml", v1), ("v2.yaml", v2)):
            paths.append(Path(tmp) / name)
            paths[-1].write_text(yaml.safe_dump(table, sort_keys=False))
        (Path(tmp) / "tenancy.json").write_bytes(msgspec.json.encode(RANDOM_TENANCY))
        out = Path(tmp) / "report.json"
        code = main(["compare", *map(str, paths), "--tenancy", str(Path(tmp) / "tenancy.json"),
                     "--format", "json", "--output", str(out)])
        report = json.loads(out.read_text())
    got = {(d["tenant"], d["role"], d["action"], d["relation"], d["direction"])
           for d in report["discrepancies"]}
    assert got == want
    assert code == (0 if not want else 1)


def _exact_actions(table: dict) -> set[str]:
    return {p for role in table["roles"].values() for g in role.get("grants", [])
            for p in g["actions"] if "*" not in p and "?" not in p}


@settings(max_examples=15, deadline=None)
@given(tables(), tables())
def test_symbolic_compare_of_random_tables_is_sound_and_complete(v1, v2):
    """Without a tenancy: the compare is complete, every witness really differs in the
    reported direction, and every request that differs on a named role and action
    falls in a reported cell."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, table in (("v1.yaml", v1), ("v2.yaml", v2)):
            paths.append(str(Path(tmp) / name))
            Path(paths[-1]).write_text(yaml.safe_dump(table, sort_keys=False))
        out = Path(tmp) / "report.json"
        main(["compare", *paths, "--format", "json", "--output", str(out)])
        report = json.loads(out.read_text())
    assert report["summary"]["complete"] is True
    reported = set()
    for d in report["discrepancies"]:
        w = d["witness"]
        user = User(id=w["subject"]["id"], enterprise=w["subject"]["enterprise"],
                    role=w["subject"]["role"], teams=tuple(w["subject"]["teams"]))
        resource = Resource(id=w["resource"]["id"], kind=w["resource"]["kind"],
                            enterprise=w["resource"]["enterprise"], team=w["resource"]["team"])
        a, b = reading(v1, user, w["action"], resource), reading(v2, user, w["action"], resource)
        assert (a, b) == ((False, True) if d["direction"] == "v2_more_permissive" else (True, False))
        assert relation(user, resource) == d["relation"]
        reported.add((d["role"], d["action"], d["relation"], d["direction"]))
    roles = set(v1["roles"]) | set(v2["roles"])
    actions = _exact_actions(v1) | _exact_actions(v2)
    for user, action, resource in RANDOM_TENANCY.requests():
        a, b = reading(v1, user, action, resource), reading(v2, user, action, resource)
        if a != b and user.role in roles and action in actions:
            direction = "v2_more_permissive" if b else "v2_more_restrictive"
            assert (user.role, action, relation(user, resource), direction) in reported
