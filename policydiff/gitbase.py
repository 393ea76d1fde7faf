"""Policies as they were at a git revision, for the pre-merge check (`compare --git-base`).

`materialize` writes `git show REF:path` to a temporary file that keeps the original
suffix (so the right frontend reads it) and whose name ends in `path@REF…`, so a
diagnostic in the old version says which revision it is about. The temporary directory
is removed when the process exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from policydiff.errors import Code, InfraError, InputError
from policydiff.source import Span


def _git(repo: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise InfraError.at(Code.GIT_UNAVAILABLE, "`git` is not installed or not on PATH") from None


def _toplevel(repo: str) -> Path:
    done = _git(repo, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise InputError.at(Code.NOT_A_GIT_REPOSITORY,
                            f"`{repo}` is not inside a git repository, so `--git-base` has "
                            f"nothing to compare with", Span(file=repo))
    return Path(done.stdout.decode().strip())


def _in_repo(path: str, repo: str, top: Path) -> str:
    """`path` (absolute, or relative to `repo`) as git names it: relative to the top."""
    full = Path(path) if os.path.isabs(path) else Path(repo) / path
    try:
        return Path(os.path.relpath(full.resolve(), top.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return Path(path).as_posix()


def check_ref(ref: str) -> str:
    """`ref` as a revision git may be given: not empty, and not an option (`--upload-pack=…`)."""
    if not ref or ref.startswith("-"):
        raise InputError.at(Code.INVALID_GIT_REF, f"`{ref}` is not a git revision")
    return ref


def materialize(ref: str, path: str, *, repo: str = ".") -> Path:
    """The file at `path` as it was at revision `ref`, copied to a temporary file."""
    check_ref(ref)
    top = _toplevel(repo)
    rel = _in_repo(path, repo, top)
    if rel.startswith("../"):
        raise InputError.at(Code.OUTSIDE_REPOSITORY,
                            f"`{path}` is outside the git repository at `{top}`", Span(file=path))
    if _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise InputError.at(Code.UNKNOWN_GIT_REF, f"`{ref}` names no commit in `{top}`",
                            Span(file=path), help="fetch the base branch, e.g. "
                            "`git fetch origin main`, or pass a ref that exists")
    shown = _git(str(top), "show", f"{ref}:{rel}")
    if shown.returncode != 0:
        raise InputError.at(Code.MISSING_AT_GIT_REF, f"`{rel}` does not exist at `{ref}`",
                            Span(file=f"{rel}@{ref}"),
                            help="a new policy has no base to compare with; compare it with "
                            "the policy it replaces instead")
    tmp = Path(tempfile.mkdtemp(prefix="policydiff-git-"))
    atexit.register(shutil.rmtree, tmp, True)
    suffix = Path(rel).suffix
    target = tmp / f"{rel}@{ref}{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(shown.stdout)
    return target
