"""`policydiff check` and `policydiff eval` through `policydiff.cli.main`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policydiff.cli import main

POLICY = """package rbac.v2

import rego.v1

default allow := false

allow if input.subject.role == "admin"

allow if {
	input.subject.role == "developer"
	input.resource.team in input.subject.teams
}
"""


@pytest.fixture
def files(tmp_path):
    policy = tmp_path / "rbac.rego"
    policy.write_text(POLICY)
    request = tmp_path / "req.json"
    request.write_text(json.dumps({"subject": {"role": "developer", "teams": ["web"]},
                                   "resource": {"team": "web"}}))
    return tmp_path, policy, request


def test_check_prints_one_ok_line_per_file(files, capsys):
    tmp, policy, _ = files
    lib = tmp / "lib.rego"
    lib.write_text("package lib\nimport rego.v1\nx := 1\n")
    assert main(["check", str(policy), str(lib)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{policy}: ok (3 rules)", f"{lib}: ok (1 rule)"]


def test_check_takes_role_tables_one_by_one_and_rego_together(capsys):
    # the v1 role table and the v1 Rego policy share a package: each is a whole policy
    policies = Path(__file__).resolve().parents[1] / "policies"
    paths = [str(policies / "rbac_v1.yaml"), str(policies / "rbac_v1.rego"), str(policies / "rbac_v2.rego")]
    assert main(["check", *paths]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ok (")[0] for line in out] == paths


def test_check_reports_every_diagnostic_with_the_source_line(files, capsys):
    tmp, policy, _ = files
    bad = tmp / "bad.rego"
    bad.write_text("package bad\nimport rego.v1\nallow if http.send({})\ndeny if { y == 1 }\n")
    assert main(["check", str(policy), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3:10: unsupported: builtin `http.send` is not supported" in err
    assert "  allow if http.send({})\n           ^^^^^^^^^^^^^" in err
    assert "rego_unsafe_var_error: var `y` is unsafe" in err
    assert "Traceback" not in err


def test_check_names_a_syntax_error_and_a_missing_file(files, capsys):
    tmp, _, _ = files
    bad = tmp / "v0.rego"
    bad.write_text("package v0\nallow { true }\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "rego_parse_error: `if` keyword is required before a rule body" in err
    assert "allow { true }" in err
    assert main(["check", str(tmp / "missing.rego")]) == 2
    assert "cannot read policy" in capsys.readouterr().err


def test_eval_prints_the_decision_as_json(files, capsys):
    _, policy, request = files
    assert main(["eval", str(policy), "--input", str(request)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"decision": "data.rbac.v2.allow", "defined": True, "result": True}


def test_eval_explain_lists_the_rules_that_decided(files, capsys):
    _, policy, request = files
    assert main(["eval", str(policy), "--input", str(request), "--explain"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["result"] is True and out["rules"] == [f"{policy}:9"]
    request.write_text(json.dumps({"subject": {"role": "viewer"}}))
    assert main(["eval", str(policy), "--input", str(request), "--explain"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["result"] is False and out["rules"] == [f"{policy}:5"]


def test_eval_with_data_and_another_decision(files, capsys):
    tmp, _, request = files
    policy = tmp / "teams.rego"
    policy.write_text("package t\nimport rego.v1\nmine contains t if some t in data.teams[input.subject.role]\n")
    data = tmp / "data.yaml"
    data.write_text("teams:\n  developer: [web, core]\n")
    assert main(["eval", str(policy), "--input", str(request), "--data", str(data),
                 "--decision", "data.t.mine"]) == 0
    assert json.loads(capsys.readouterr().out)["result"] == ["core", "web"]
    assert main(["eval", str(policy), "--input", str(request), "--decision", "data.t.nothing"]) == 0
    assert json.loads(capsys.readouterr().out) == {"decision": "data.t.nothing", "defined": False}


def test_eval_rejects_bad_input_files(files, capsys):
    tmp, policy, _ = files
    broken = tmp / "broken.json"
    broken.write_text('{"subject": ')
    assert main(["eval", str(policy), "--input", str(broken)]) == 2
    assert f"{broken}:1:13: syntax_error" in capsys.readouterr().err
    assert main(["eval", str(policy), "--input", str(tmp / "nope.json")]) == 2
    assert "unreadable_file" in capsys.readouterr().err
    assert main(["eval", str(policy), "--input", str(broken), "--decision", "not a ref"]) == 2


def test_eval_reports_evaluation_errors_without_a_traceback(files, capsys):
    tmp, _, request = files
    policy = tmp / "conflict.rego"
    policy.write_text("package c\nimport rego.v1\nallow := 1\nallow := 2 if input.subject\n")
    assert main(["eval", str(policy), "--input", str(request)]) == 2
    err = capsys.readouterr().err
    assert "eval_conflict_error" in err and "Traceback" not in err


def test_check_from_the_command_line_flushes_all_its_output_before_its_fast_exit(tmp_path):
    """A `check` run as a process ends with `os._exit` (its objects are not freed one
    by one): every line must still reach a pipe, and the exit code must be the check's."""
    import subprocess
    import sys

    paths = []
    for i in range(400):  # far more output than one stdio buffer holds
        p = tmp_path / f"policy_number_{i:04d}_with_a_long_name.rego"
        p.write_text(f"package p{i}\nallow if input.x == {i}\n")
        paths.append(str(p))
    run = subprocess.run([sys.executable, "-m", "policydiff", "check", *paths],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [f"{p}: ok (1 rule)" for p in paths]
    bad = tmp_path / "zz_bad.rego"
    bad.write_text("package bad\nallow if { x }\n")
    run = subprocess.run([sys.executable, "-m", "policydiff", "check", *paths[:300], str(bad)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2  # the group did not load: no rule counts, no fast exit
    assert run.stdout.splitlines() == [f"{p}: ok" for p in paths[:300]]
    assert f"{bad}:2:12: rego_unsafe_var_error" in run.stderr and "Traceback" not in run.stderr


def test_a_file_given_twice_is_refused_naming_it(files, capsys):
    """Read twice, a module conflicts with itself (`multiple default rules`), which says
    nothing of the policy: the slip is named instead, however the file is reached."""
    tmp, policy, request = files
    lib = tmp / "lib"
    lib.mkdir()
    (lib / "lib.rego").write_text("package lib\nimport rego.v1\nx := 1\n")
    table = Path(__file__).resolve().parents[1] / "policies" / "rbac_v1.yaml"
    for argv, named in ((["check", str(policy), str(policy)], policy.name),
                        (["check", str(lib), str(lib / "lib.rego")], "lib.rego"),
                        (["check", str(policy), str(tmp / ".." / tmp.name / "rbac.rego")], policy.name),
                        (["check", str(table), str(table)], table.name),
                        (["eval", str(policy), str(policy), "--input", str(request)], policy.name),
                        (["compare", "--v1", str(policy), str(policy), "--v2", str(policy)], policy.name)):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "given_twice" in err and f"{named}` is given twice" in err, err
        assert "multiple default" not in err


def test_the_same_file_on_both_sides_of_a_compare_is_no_slip(files, capsys):
    _, policy, _ = files
    assert main(["compare", "--v1", str(policy), "--v2", str(policy), "--format", "json"]) == 0
