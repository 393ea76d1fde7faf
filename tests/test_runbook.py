"""The runbook as one command, on a real database with real replays (scaled down: the
full 800k-request track is `benches/runbook.py`'s). The example policies go through
every step and stop only at the gate's request count; the unsafe v2 stops at Step 2 with
the runbook's instruction and nothing after it runs; `--resume` continues after the last
completed step and refuses when the policies changed; everything lands in the audit log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from policydiff import db
from policydiff.cli import main
from policydiff.db import audit
from policydiff.errors import InputError
from policydiff.report.html import render_html
from policydiff.runbook import STEPS, Options, run_runbook

V1, V2, UNSAFE = "policies/rbac_v1.rego", "policies/rbac_v2.rego", "examples/unsafe/rbac_v2.rego"
# Each replay step at 20k requests: the fewest at which the shipped traffic profile (after
# its coverage floor in every cell) stays under the runbook's 1 %.
SIZES = (20_000, 20_000, 20_000)
SMALL = (2_000, 2_000, 2_000)  # for tracks that stop at Step 2 anyway
# Churn is in changes a second, and a small stress step on a loaded machine lasts long
# enough for the runbook's rate to move most users out of their cells and back: the few
# requests of a cell could then all miss it. A slower writer keeps the test about races.
CHURN = 2.0


def _run(dsn: str, out: Path, seen: list | None = None, html=render_html, **kw):
    kw.setdefault("requests", SIZES)
    kw.setdefault("churn", CHURN)
    options = Options(dsn=dsn, output_dir=str(out), signoff="Ada Lovelace", **kw)
    return run_runbook(options, (lambda kind, p: seen.append((kind, p))) if seen is not None
                       else (lambda *_: None), html=html)


def test_the_example_track_runs_every_step_stops_only_at_the_size_and_resumes(fresh_dsn,
                                                                                tmp_path):
    out = tmp_path / "track"
    outcome = _run(fresh_dsn, out)
    names = [r.name for r in outcome.state.steps]
    assert names == [s.name for s in STEPS], outcome.instruction
    assert all(r.passed for r in outcome.state.steps[:-1]), outcome.state.steps
    assert outcome.gate is not None and not outcome.passed
    unchecked = [r.name for r in outcome.gate.rows if not r.holds]
    assert unchecked == ["total requests ≥ 800,000"]
    assert outcome.instruction.startswith("STOP at Step 5: promotion gate: do not promote")
    for step in ("dry-run", "coverage", "stress"):
        analysis = json.loads((out / f"{step}.analysis.json").read_text())
        assert analysis["passed"] and analysis["v2_more_permissive"] == 0
        assert (out / f"{step}.replay.json").exists() and (out / f"{step}.analysis.html").exists()
    stress = json.loads((out / "stress.replay.json").read_text())
    assert stress["run"]["parallel"] == 6 and stress["run"]["churn"] > 0
    assert (out / "report.html").exists() and (out / "gate.json").exists()
    with db.connect(fresh_dsn) as conn:
        events = [e.event for e in audit.events(conn)]
        assert audit.last_switch(conn).action == "rollback"  # the drill ends rolled back
    assert events == ["replay", "replay", "replay", "promote", "rollback", "drill", "gate"]
    # --resume continues after the last completed step: here, the gate again
    seen: list = []
    again = _run(fresh_dsn, out, seen, resume=True)
    assert [p.name for kind, p in seen if kind == "skip"] == [s.name for s in STEPS[:-1]]
    assert [p.name for kind, p in seen if kind == "start"] == ["gate"]
    assert [r.name for r in again.state.steps] == [s.name for s in STEPS]
    with db.connect(fresh_dsn) as conn:
        assert [e.event for e in audit.events(conn)][-2:] == ["gate", "gate"]


def test_resume_refuses_when_the_policies_changed(fresh_dsn, tmp_path, capsys):
    out = tmp_path / "track"
    v2 = tmp_path / "rbac_v2.rego"
    shutil.copy(UNSAFE, v2)
    _run(fresh_dsn, out, v2=str(v2), requests=SMALL)  # stops at Step 2
    v2.write_text(v2.read_text() + "\n# changed\n")
    with pytest.raises(InputError) as e:
        _run(fresh_dsn, out, v2=str(v2), resume=True, requests=SMALL)
    assert e.value.code == "changed_since" and "v2" in str(e.value)
    code = main(["runbook", "--dsn", fresh_dsn, "--output-dir", str(out), "--v2", str(v2),
                 "--resume"])
    assert code == 2 and "changed_since" in capsys.readouterr().err
    code = main(["runbook", "--dsn", fresh_dsn, "--output-dir", str(tmp_path / "none"),
                 "--resume"])
    assert code == 2 and "nothing_to_resume" in capsys.readouterr().err


def test_the_unsafe_v2_stops_at_step_2_with_the_runbook_s_instruction(fresh_dsn, tmp_path):
    out = tmp_path / "unsafe"
    outcome = _run(fresh_dsn, out, v2=UNSAFE, requests=SMALL, html=None)  # the library alone
    assert not outcome.passed and outcome.gate is None
    assert [(r.name, r.passed) for r in outcome.state.steps] == [
        ("snapshot", True), ("seed", True), ("dry-run", False)]
    assert outcome.stopped.name == "dry-run"
    assert "v2_more_permissive" in outcome.instruction
    assert outcome.instruction.endswith("Fix, then restart from Step 2.")
    assert not (out / "coverage.replay.json").exists()
    # without a renderer the step writes its JSON and no page
    assert outcome.stopped.files == (str(out / "dry-run.replay.json"), str(out / "dry-run.analysis.json"))
    assert not (out / "dry-run.analysis.html").exists()
    with db.connect(fresh_dsn) as conn:
        assert [e.event for e in audit.events(conn)] == ["replay"]


def test_runbook_help_names_the_defaults_the_track_uses(capsys):
    """The command's help states its defaults without importing the track; they must
    be the ones `Options` holds, and registering it must not load the database layer."""
    import subprocess
    import sys

    from policydiff.promotion_gate import DEFAULT_BUDGET_MS
    from policydiff.runbook import Options

    with pytest.raises(SystemExit):
        main(["runbook", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    d = Options()
    for value in (d.v1, d.v2, d.classifications, d.output_dir, f"default {DEFAULT_BUDGET_MS:g})"):
        assert value in text
    probe = "import sys; from policydiff.cli import build_parser; build_parser(); print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
