"""`materialize`: a file as it was at a git revision, in a real throwaway repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from policydiff.errors import ExitCode, InputError
from policydiff.gitbase import materialize


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "policies" / "rbac_v2.rego").write_text("package rbac.v2\n\nallow := false\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "policies" / "rbac_v2.rego").write_text("package rbac.v2\n\nallow := true\n")
    git(repo, "commit", "-q", "-am", "second")
    (repo / "policies" / "rbac_v2.rego").write_text("package rbac.v2\n\n# working tree\n")
    return repo


def test_file_at_head_and_earlier(repo):
    head = materialize("HEAD", "policies/rbac_v2.rego", repo=str(repo))
    assert head.read_text() == "package rbac.v2\n\nallow := true\n"
    first = materialize("HEAD~1", "policies/rbac_v2.rego", repo=str(repo))
    assert first.read_text() == "package rbac.v2\n\nallow := false\n"
    # the working tree is left alone
    assert "working tree" in (repo / "policies" / "rbac_v2.rego").read_text()


def test_name_keeps_suffix_and_says_path_at_ref(repo):
    out = materialize("main", "policies/rbac_v2.rego", repo=str(repo))
    assert out.suffix == ".rego"
    assert "policies/rbac_v2.rego@main" in out.as_posix()
    assert not out.is_relative_to(repo)


def test_ref_with_slash_and_absolute_path(repo):
    git(repo, "branch", "feature/x", "HEAD~1")
    out = materialize("feature/x", str(repo / "policies" / "rbac_v2.rego"), repo=str(repo))
    assert out.read_text().endswith("allow := false\n")
    assert "policies/rbac_v2.rego@feature/x" in out.as_posix() and out.suffix == ".rego"


def test_path_relative_to_a_subdirectory_repo_argument(repo):
    out = materialize("HEAD", "rbac_v2.rego", repo=str(repo / "policies"))
    assert out.read_text().endswith("allow := true\n")


def test_missing_at_ref_names_ref_and_path(repo):
    (repo / "policies" / "new.rego").write_text("package new\n")
    with pytest.raises(InputError) as info:
        materialize("HEAD", "policies/new.rego", repo=str(repo))
    e = info.value
    assert e.exit_code == ExitCode.BAD_INPUT and e.code == "missing_at_git_ref"
    assert "`policies/new.rego`" in e.diagnostic.message and "`HEAD`" in e.diagnostic.message
    assert e.span.file == "policies/new.rego@HEAD"


def test_unknown_ref(repo):
    with pytest.raises(InputError) as info:
        materialize("no-such-branch", "policies/rbac_v2.rego", repo=str(repo))
    assert info.value.code == "unknown_git_ref"
    assert "no-such-branch" in info.value.diagnostic.message


@pytest.mark.parametrize("ref", ["", "--output=/tmp/x"])
def test_refs_that_are_not_refs(repo, ref):
    with pytest.raises(InputError) as info:
        materialize(ref, "policies/rbac_v2.rego", repo=str(repo))
    assert info.value.code == "invalid_git_ref"


def test_outside_the_repository(repo, tmp_path):
    (tmp_path / "elsewhere.rego").write_text("package x\n")
    with pytest.raises(InputError) as info:
        materialize("HEAD", str(tmp_path / "elsewhere.rego"), repo=str(repo))
    assert info.value.code == "outside_repository"


def test_not_a_repository(tmp_path):
    (tmp_path / "p.rego").write_text("package x\n")
    with pytest.raises(InputError) as info:
        materialize("HEAD", "p.rego", repo=str(tmp_path))
    assert info.value.code == "not_a_git_repository"
