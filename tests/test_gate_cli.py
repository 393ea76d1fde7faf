"""The gate through the command line: `policydiff compare` with the shipped rule file,
the unsafe example, every format, `--strict`, bad rule files and `--git-base`."""

from __future__ import annotations

import json
import shlex
import shutil
import string
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml

from policydiff.cli import main
from policydiff.report import FORMATS

ROOT = Path(__file__).parent.parent
V1 = str(ROOT / "policies" / "rbac_v1.rego")
V2 = str(ROOT / "policies" / "rbac_v2.rego")
UNSAFE = str(ROOT / "examples" / "unsafe" / "rbac_v2.rego")
RULES = str(ROOT / "classifications" / "rbac_v2.yaml")
LEAK = "project:read on other_enterprise"


def compare(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", FORMATS)
def test_example_policies_pass_with_the_shipped_rules(capsys, tmp_path, fmt):
    target = tmp_path / f"report.{fmt}"
    code, _, err = compare(capsys, V1, V2, "--classifications", RULES, "--format", fmt,
                           "--output", str(target))
    assert code == 0, err
    text = target.read_text()
    if fmt == "json":
        doc = json.loads(text)
        assert doc["gate"]["passed"] is True and doc["summary"]["unclassified"] == 0
        assert doc["summary"]["v2_more_permissive"] == 0
        assert set(doc["summary"]["by_class"]) == {"expected_tightening"}
    elif fmt == "junit":
        assert ET.fromstring(text).get("failures") == "0"


def test_shipped_rules_pass_over_the_seeded_tenancy(capsys, tmp_path):
    import msgspec

    from policydiff.db.seed import generate

    facts = generate()
    tenancy = tmp_path / "tenancy.json"
    tenancy.write_bytes(msgspec.json.encode(facts))
    code, out, err = compare(capsys, V1, V2, "--classifications", RULES, "--tenancy",
                             str(tenancy), "--format", "json")
    assert code == 0, err
    summary = json.loads(out)["summary"]
    assert summary["discrepancies"] > 0 and summary["unclassified"] == 0
    code, out, _ = compare(capsys, V1, UNSAFE, "--classifications", RULES, "--tenancy",
                           str(tenancy), "--format", "json")
    assert code == 1
    leaked = {d["tenant"] for d in json.loads(out)["discrepancies"]
              if d["direction"] == "v2_more_permissive"}
    # every enterprise with a viewer-derived role can now read another one's projects
    assert leaked == {u.enterprise for u in facts.users
                      if u.role in ("viewer", "developer", "team_admin")}


def test_strict_passes_too(capsys):
    code, _, err = compare(capsys, V1, V2, "--classifications", RULES, "--strict",
                           "--format", "json")
    assert code == 0, err


@pytest.mark.parametrize("fmt", FORMATS)
def test_unsafe_example_is_blocked_and_the_leak_named(capsys, fmt):
    code, out, err = compare(capsys, V1, UNSAFE, "--classifications", RULES, "--format", fmt)
    assert code == 1, err
    if fmt == "json":
        leaks = [(d["role"], d["action"], d["relation"]) for d in json.loads(out)["discrepancies"]
                 if d["direction"] == "v2_more_permissive"]
        assert ("viewer", "project:read", "other_enterprise") in leaks
    elif fmt == "text":
        assert LEAK in " ".join(out.split())  # the text may wrap
    else:
        assert LEAK in out


def test_unsafe_sarif_points_at_the_v2_rule(capsys):
    code, out, _ = compare(capsys, V1, UNSAFE, "--classifications", RULES, "--format", "sarif")
    assert code == 1
    results = json.loads(out)["runs"][0]["results"]
    leak = next(r for r in results if "viewer " + LEAK in r["message"]["text"])
    assert leak["ruleId"] == "v2-more-permissive"
    loc = leak["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("examples/unsafe/rbac_v2.rego")
    line = Path(UNSAFE).read_text().splitlines()[loc["region"]["startLine"] - 1]
    assert line.strip() and not line.lstrip().startswith("#")


def test_without_rules_every_discrepancy_blocks(capsys):
    code, out, _ = compare(capsys, V1, V2, "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["summary"]["unclassified"] == doc["summary"]["discrepancies"] > 0


def test_stale_rule_blocks_only_under_strict(capsys, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(Path(RULES).read_text() + """
  - id: never-matches
    class: expected_tightening
    match: {role: auditor}
    reason: There is no auditor role.
""")
    assert compare(capsys, V1, V2, "--classifications", str(rules), "--format", "json")[0] == 0
    code, out, _ = compare(capsys, V1, V2, "--classifications", str(rules), "--strict",
                           "--format", "json")
    assert code == 1
    assert json.loads(out)["stale_rules"] == ["never-matches"]


def test_bad_rule_file_is_exit_2_with_location(capsys, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules:\n  - id: r\n    class: expected_tigthening\n"
                     "    match: {role: viewer}\n    reason: x\n")
    code, _, err = compare(capsys, V1, V2, "--classifications", str(rules))
    assert code == 2
    assert f"{rules}:4:" in err and "unknown_class" in err
    assert "did you mean `expected_tightening`?" in err
    assert "Traceback" not in err


def repo_with_history(tmp_path: Path, new: str, *, committed: str = V1,
                      name: str = "rbac.rego") -> Path:
    """A git repository whose one commit holds `committed` as `policies/NAME` and the
    shipped rule file; the working tree holds `new` in its place."""
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    (repo / "classifications").mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    shutil.copy(committed, repo / "policies" / name)
    shutil.copy(RULES, repo / "classifications" / "rbac_v2.yaml")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    git("update-ref", "refs/remotes/origin/main", "HEAD")  # what `git fetch origin main` leaves
    shutil.copy(new, repo / "policies" / name)
    return repo


@pytest.mark.parametrize("new, expected", [(V2, 0), (UNSAFE, 1)])
def test_git_base_compares_head_with_the_working_tree(capsys, tmp_path, monkeypatch, new,
                                                      expected):
    repo = repo_with_history(tmp_path, new)
    monkeypatch.chdir(repo)
    code, out, err = compare(capsys, "--git-base", "HEAD", "policies/rbac.rego",
                             "--format", "json",
                             "--classifications", "classifications/rbac_v2.yaml")
    assert code == expected, err
    doc = json.loads(out)
    assert "rbac.rego@HEAD" in doc["v1"]["path"]


def test_git_base_names_a_missing_file(capsys, tmp_path, monkeypatch):
    repo = repo_with_history(tmp_path, V2)
    (repo / "policies" / "new.rego").write_text("package new\n")
    monkeypatch.chdir(repo)
    code, _, err = compare(capsys, "--git-base", "HEAD", "policies/new.rego")
    assert code == 2
    assert "policies/new.rego" in err and "HEAD" in err


def ci_commands(env: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Every `policydiff compare …` the shipped CI examples and hook run, with `env`'s
    values for their variables."""
    found = []
    actions = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text())
    for step in actions["jobs"]["compare"]["steps"]:
        for line in step.get("run", "").replace("\\\n", " ").splitlines():
            if "policydiff compare" in line:
                found.append(("github-actions.yml", line))
    gitlab = yaml.safe_load((ROOT / "examples" / "gitlab-ci.yml").read_text())
    found += [("gitlab-ci.yml", cmd) for cmd in gitlab["policydiff"]["script"]]
    hook = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]
    found.append((".pre-commit-hooks.yaml", hook["entry"] + " policies/rbac_v2.rego"))
    out = []
    for where, cmd in found:
        cmd = string.Template(cmd[cmd.index("policydiff compare"):]).safe_substitute(env)
        out.append((where, shlex.split(cmd)[1:]))
    return out


CI_ENV = {"BASE": "HEAD", "POLICY": "policies/rbac_v2.rego",
          "RULES": "classifications/rbac_v2.yaml", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}


@pytest.mark.parametrize("new, expected", [(V2, 0), (UNSAFE, 1)])
def test_ci_examples_run_as_written(capsys, tmp_path, monkeypatch, new, expected):
    """In a repository whose committed v2 is the safe one, run each CI command as the
    examples write it; the working tree holds `new`."""
    repo = repo_with_history(tmp_path, new, committed=V2, name="rbac_v2.rego")
    monkeypatch.chdir(repo)
    commands = ci_commands(CI_ENV)
    assert [where for where, _ in commands] == ["github-actions.yml", "github-actions.yml",
                                                "gitlab-ci.yml", ".pre-commit-hooks.yaml"]
    for where, argv in commands:
        code = main(argv)
        _, err = capsys.readouterr()
        # against its own committed version, the safe v2 has no discrepancy at all
        assert code == expected, (where, err)
        if "--output" not in argv:
            continue
        report = (repo / argv[argv.index("--output") + 1]).read_text()
        if expected:
            assert "project:read on other_enterprise" in report, where
        if argv[argv.index("--format") + 1] == "sarif":
            schema = json.loads((ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json").read_text())
            jsonschema.validators.validator_for(schema)(schema).validate(json.loads(report))


def test_ci_examples_install_policydiff_from_its_repository(tmp_path):
    """policydiff is not on the package index: the examples install `$POLICYDIFF`, a
    repository spec. With it pointing at this checkout, the install line resolves."""
    actions = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text())
    gitlab = yaml.safe_load((ROOT / "examples" / "gitlab-ci.yml").read_text())["policydiff"]
    specs = [actions["jobs"]["compare"]["env"]["POLICYDIFF"], gitlab["variables"]["POLICYDIFF"]]
    installs = [s["run"] for s in actions["jobs"]["compare"]["steps"] if "pip install" in s.get("run", "")]
    installs += [c for c in gitlab["before_script"] if "pip install" in c]
    assert all(spec.startswith("git+https://") for spec in specs)
    assert installs == ['pip install "$POLICYDIFF"'] * 2
    argv = shlex.split(string.Template(installs[0]).substitute(POLICYDIFF=str(ROOT)))
    run = subprocess.run([sys.executable, "-m", *argv, "--dry-run", "--no-deps", "--quiet",
                          "--report", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert [i["metadata"]["name"] for i in report["install"]] == ["policydiff"]
