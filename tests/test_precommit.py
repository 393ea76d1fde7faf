"""The pre-commit hook, run by the real `pre-commit` tool in a real git repository where
several files change at once: each changed policy is compared with its own committed
version, and files that are not policies are skipped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

RBAC = "package rbac\n\ndefault allow := false\n\nallow if input.subject.role == \"admin\"\n"
LOOSER = RBAC + "\nallow if input.subject.role == \"viewer\"\n"
TABLE = """\
version: 1
package: roles
roles:
  admin:
    grants: [{actions: ["*"], scope: global}]
  viewer:
    grants: [{actions: ["project:read"], scope: team}]
"""
RULES = "version: 1\nrules: []\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path):
    if shutil.which("pre-commit") is None and shutil.which("git") is None:
        pytest.fail("pre-commit and git are needed (the dev extra installs pre-commit)")
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    (repo / "classifications").mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "policies" / "rbac.rego").write_text(RBAC)
    (repo / "policies" / "roles.yaml").write_text(TABLE)
    (repo / "classifications" / "rbac.yaml").write_text(RULES)
    hook = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]
    entry = hook["entry"].replace("policydiff", f"{sys.executable} -m policydiff", 1)
    config = {"repos": [{"repo": "local", "hooks": [{
        "id": hook["id"], "name": hook["name"], "entry": entry, "language": "system",
        "files": hook["files"], "require_serial": True}]}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo


def run_hook(repo: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home"),
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pre_commit", "run"], check=False, cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)


def test_several_changed_files_each_compared_with_its_own_base(repo):
    (repo / "policies" / "rbac.rego").write_text(LOOSER)  # loosens: must block
    (repo / "policies" / "roles.yaml").write_text(TABLE.replace("project:read", "project:*"))
    (repo / "classifications" / "rbac.yaml").write_text(RULES + "# reviewed\n")
    (repo / "policies" / "new.yaml").write_text("setting: 1\n")  # a new config file
    git(repo, "add", "-A")
    done = run_hook(repo)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "policies/rbac.rego@HEAD" in out and "policies/roles.yaml@HEAD" in out
    assert "skipped `classifications/rbac.yaml`: not a policy" in out
    assert "skipped `policies/new.yaml`: not a policy" in out
    assert "Traceback" not in out
    # the role table was compared with the role table, not with the Rego file
    assert "roles.yaml@HEAD.yaml" not in out and "rbac.rego@HEAD.rego" not in out


def test_safe_changes_pass(repo):
    (repo / "policies" / "rbac.rego").write_text(RBAC + "\n# a comment\n")
    (repo / "policies" / "roles.yaml").write_text(TABLE + "# reviewed\n")
    git(repo, "add", "-A")
    done = run_hook(repo)
    assert done.returncode == 0, done.stdout + done.stderr
