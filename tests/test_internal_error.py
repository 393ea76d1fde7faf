"""A defect of policydiff itself (an exception no stage turned into a diagnostic) ends the
command with exit 70 and one redacted line naming where the traceback was kept — never a
traceback on screen, never a password, never exit 0 or 1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import policydiff.bundle
from policydiff.cli import main
from policydiff.errors import ExitCode

SECRET = "S3cretPW"


@pytest.fixture
def broken_expand(monkeypatch):
    def expand(paths):
        raise RuntimeError(f"could not reach postgresql://app:{SECRET}@db.example/app\nsecond line")

    monkeypatch.setattr(policydiff.bundle, "expand", expand)


def test_internal_error_is_one_line_and_the_traceback_is_kept(broken_expand, capsys, monkeypatch,
                                                              tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("POLICYDIFF_TRACEBACK", raising=False)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    code = main(["check", "policies/rbac_v1.rego"])
    err = capsys.readouterr().err
    assert code == ExitCode.INTERNAL == 70
    assert "Traceback" not in err and SECRET not in err
    assert err.count("\n") == 1 and "internal error (RuntimeError: could not reach" in err
    kept = Path(re.search(r"the traceback is in (\S+)", err).group(1))
    assert kept.parent == tmp_path
    text = kept.read_text()
    assert "Traceback" in text and "raise RuntimeError" in text
    assert SECRET not in text and "***" in text


def test_internal_error_traceback_on_request(broken_expand, capsys, monkeypatch):
    monkeypatch.setenv("POLICYDIFF_TRACEBACK", "1")
    code = main(["check", "policies/rbac_v1.rego"])
    err = capsys.readouterr().err
    assert code == 70
    assert "Traceback" in err and SECRET not in err and "the traceback is in" not in err
