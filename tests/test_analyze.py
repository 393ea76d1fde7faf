"""`policydiff analyze`: replay files merged, the runbook's stop conditions, and the
agreement with the symbolic diff, on replay files built from real evaluations of the
example policies over the runbook's tenancy (tests/replayfiles.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest
from replayfiles import replay_report, write

from policydiff import db, load_policy
from policydiff.analyze import STOP_CONDITIONS
from policydiff.cli import main
from policydiff.results import OUTCOMES
from policydiff.tenancy import relation, request_input

V1, V2, UNSAFE = "policies/rbac_v1.rego", "policies/rbac_v2.rego", "examples/unsafe/rbac_v2.rego"
RULES = "classifications/rbac_v2.yaml"
# a traffic profile under which the intended tightenings stay below 1 % of requests
PROFILE = {"billing:read": 0.05, "billing:write": 0.05, "project:export": 0.05,
           "project:delete": 0.05}
TRAFFIC = {"weights": PROFILE, "floor": 3}  # every cell reached, the rest by the profile


@pytest.fixture(scope="module")
def tenancy():
    return db.generate(db.Scale(), db.policy_actions())


@pytest.fixture
def tenancy_file(tmp_path, tenancy) -> Path:
    path = tmp_path / "tenancy.json"
    path.write_bytes(msgspec.json.encode(tenancy))
    return path


def _analyze(tmp_path, tenancy_file, *files, rules=RULES, extra=()):
    out = tmp_path / "analysis.json"
    args = ["analyze", "--input", *map(str, files), "--output", str(out), "--tenancy",
            str(tenancy_file), *extra]
    if rules:
        args += ["--classifications", rules]
    code = main(args)
    doc = json.loads(out.read_text()) if out.exists() else None
    return code, doc


def _conditions(doc) -> dict[str, dict]:
    return {c["name"]: c for c in doc["stop_conditions"]}


def test_example_policies_pass_and_every_discrepant_cell_really_differs(tmp_path, tenancy,
                                                                        tenancy_file):
    run = write(replay_report(V1, V2, tenancy, requests=60000, **TRAFFIC),
                tmp_path / "run.json")
    code, doc = _analyze(tmp_path, tenancy_file, run)
    assert code == 0, doc["stop_conditions"]
    assert doc["schema"] == "policydiff.analysis/1"
    assert [c["name"] for c in doc["stop_conditions"]] == list(STOP_CONDITIONS)
    assert not any(c["hit"] for c in doc["stop_conditions"])
    assert doc["passed"] and doc["classified_fraction"] == 1.0
    assert doc["v2_more_permissive"] == 0
    differing = sum(c["v2_more_restrictive"] for c in doc["cells"])
    assert doc["discrepancy_rate"] == pytest.approx(differing / 60000) and 0 < differing
    # each discrepant cell is re-checked with the concrete evaluator: some request of
    # the tenancy in that cell is allowed by v1 and denied by v2
    v1, v2 = load_policy(V1), load_policy(V2)
    by_cell: dict[tuple, list] = {}
    for u, a, r in tenancy.requests():
        by_cell.setdefault((u.enterprise, u.role, a, relation(u, r)), []).append(
            request_input(u, a, r))
    for d in doc["discrepant_cells"]:
        key = (d["tenant"], d["role"], d["action"], d["relation"])
        assert any(v1.allows(i) and not v2.allows(i) for i in by_cell[key]), key
        assert d["classification"] == "expected_tightening" and d["rule"]
        assert v1.allows(d["witness"]) and not v2.allows(d["witness"])
    assert doc["agreement"] == {"unexpected_cells": [], "unexercised_cells": []}


def test_unsafe_v2_stops_on_loosening(tmp_path, tenancy, tenancy_file):
    run = write(replay_report(V1, UNSAFE, tenancy, requests=60000, **TRAFFIC),
                tmp_path / "run.json")
    code, doc = _analyze(tmp_path, tenancy_file, run)
    assert code == 1 and not doc["passed"]
    cond = _conditions(doc)
    assert cond["v2_more_permissive"]["hit"]
    loose = [d for d in doc["discrepant_cells"] if d["direction"] == "v2_more_permissive"]
    assert loose and all(d["relation"] == "other_enterprise" and d["classification"] is None
                         for d in loose)
    assert cond["unclassified"]["hit"] and doc["classified_fraction"] < 1
    assert str(doc["v2_more_permissive"]) in cond["v2_more_permissive"]["detail"]
    assert not cond["disagreement"]["hit"]  # the diff predicts the leak too


def test_shards_merge_to_the_whole_run(tmp_path, tenancy, tenancy_file):
    whole = replay_report(V1, V2, tenancy, requests=30000, seed=5, **TRAFFIC)
    shards = [write(replay_report(V1, V2, tenancy, requests=30000, seed=5, shard=f"{i}/3",
                                  **TRAFFIC), tmp_path / f"s{i}.json") for i in (1, 2, 3)]
    _, doc = _analyze(tmp_path, tenancy_file, *shards)
    assert doc["requests"] == whole.requests
    assert [(c["tenant"], c["role"], c["action"], c["relation"], c["requests"],
             c["v2_more_restrictive"]) for c in doc["cells"]] == [
        (*c.key, c.requests, c.v2_more_restrictive) for c in whole.cells]
    assert len(doc["runs"]) == 3


def test_replay_that_disagrees_with_the_diff_stops(tmp_path, tenancy, tenancy_file):
    report = replay_report(V1, V2, tenancy, requests=30000, **TRAFFIC)
    cells = list(report.cells)
    # a replay bug: the discrepancies of one cell are reported on a cell that matches
    i = next(k for k, c in enumerate(cells) if c.v2_more_restrictive)
    j = next(k for k, c in enumerate(cells) if not c.v2_more_restrictive and c.requests
             and c.role == "admin")
    moved = cells[i].v2_more_restrictive
    cells[i] = msgspec.structs.replace(cells[i], v2_more_restrictive=0)
    cells[j] = msgspec.structs.replace(cells[j], v2_more_restrictive=moved)
    run = write(msgspec.structs.replace(report, cells=tuple(cells)), tmp_path / "run.json")
    code, doc = _analyze(tmp_path, tenancy_file, run)
    assert code == 1
    agreement = doc["agreement"]
    assert [(c["role"], c["action"], c["relation"]) for c in agreement["unexpected_cells"]] == [
        (cells[j].role, cells[j].action, cells[j].relation)]
    assert [(c["role"], c["action"], c["relation"]) for c in agreement["unexercised_cells"]] == [
        (cells[i].role, cells[i].action, cells[i].relation)]
    assert _conditions(doc)["disagreement"]["hit"]


def test_each_stop_condition_fires_on_its_fault(tmp_path, tenancy, tenancy_file):
    base = replay_report(V1, V2, tenancy, requests=60000, **TRAFFIC)
    faults = {
        "script_errors": msgspec.structs.replace(base, complete=False, problems=("worker 2 died",)),
        "missing_metrics": msgspec.structs.replace(base, metrics=""),
        "engine_errors": replay_report(V1, V2, tenancy, requests=60000, **TRAFFIC,
                                       engine_error_every=500),
        "discrepancy_rate": replay_report(V1, V2, tenancy, requests=20000),  # uniform traffic
    }
    lying = dict(base.outcomes, match=base.outcomes["match"] + 1)
    faults["missing_metrics_counts"] = msgspec.structs.replace(base, outcomes=lying)
    for name, report in faults.items():
        run = write(report, tmp_path / f"{name}.json")
        code, doc = _analyze(tmp_path, tenancy_file, run)
        cond = _conditions(doc)
        want = name.removesuffix("_counts")
        assert code == 1 and cond[want]["hit"], (name, cond[want])
        assert [n for n, c in cond.items() if c["hit"]] == [want], name
    assert "worker 2 died" in _conditions(_analyze(tmp_path, tenancy_file,
                                                   tmp_path / "script_errors.json")[1])[
        "script_errors"]["detail"]


def test_without_classifications_every_discrepancy_is_unclassified(tmp_path, tenancy,
                                                                   tenancy_file):
    run = write(replay_report(V1, V2, tenancy, requests=60000, **TRAFFIC), tmp_path / "r.json")
    code, doc = _analyze(tmp_path, tenancy_file, run, rules=None)
    assert code == 1 and doc["classified_fraction"] == 0.0
    assert len(doc["unclassified_cells"]) == len(doc["discrepant_cells"]) > 0


# -- bad input -------------------------------------------------------------------------


def test_truncated_and_foreign_files_are_bad_input(tmp_path, tenancy, tenancy_file, capsys):
    good = write(replay_report(V1, V2, tenancy, requests=2000), tmp_path / "good.json")
    cut = tmp_path / "cut.json"
    cut.write_bytes(good.read_bytes()[:5000])
    code, doc = _analyze(tmp_path, tenancy_file, cut)
    err = capsys.readouterr().err
    assert code == 2 and doc is None
    assert f"{cut}:" in err and "syntax_error" in err and "truncated" in err
    line = err.split(f"{cut}:")[1].split(":")[0]
    assert int(line) > 1  # the position where the JSON stops
    compare = tmp_path / "compare.json"
    assert main(["compare", V1, V2, "--format", "json", "--output", str(compare)]) == 1
    code, _ = _analyze(tmp_path, tenancy_file, compare)
    err = capsys.readouterr().err
    assert code == 2 and "wrong_schema" in err and "policydiff.compare/1" in err
    doc = json.loads(good.read_text())
    doc["run"]["requests"] = "many"
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(doc))
    code, _ = _analyze(tmp_path, tenancy_file, wrong)
    err = capsys.readouterr().err
    assert code == 2 and "run.requests" in err


def test_mixed_policies_and_double_counting_are_refused(tmp_path, tenancy, tenancy_file, capsys):
    safe = write(replay_report(V1, V2, tenancy, requests=2000, seed=1), tmp_path / "safe.json")
    unsafe = write(replay_report(V1, UNSAFE, tenancy, requests=2000, seed=2), tmp_path / "un.json")
    code, _ = _analyze(tmp_path, tenancy_file, safe, unsafe)
    err = capsys.readouterr().err
    assert code == 2 and "mixed_policies" in err and str(unsafe) in err
    code, _ = _analyze(tmp_path, tenancy_file, safe, safe)
    assert code == 2 and "counted_twice" in capsys.readouterr().err
    again = write(replay_report(V1, V2, tenancy, requests=2000, seed=1), tmp_path / "again.json")
    code, _ = _analyze(tmp_path, tenancy_file, safe, again)  # same seed, same size: same requests
    assert code == 2 and "counted_twice" in capsys.readouterr().err
    shard = write(replay_report(V1, V2, tenancy, requests=2000, seed=1, shard="1/2"),
                  tmp_path / "shard.json")
    code, _ = _analyze(tmp_path, tenancy_file, safe, shard)
    err = capsys.readouterr().err
    assert code == 2 and "shard 1/2" in err and "whole workload" in err
    other = write(replay_report(V1, V2, tenancy, requests=2000, seed=9), tmp_path / "other.json")
    code, doc = _analyze(tmp_path, tenancy_file, safe, other)
    assert code in (0, 1) and doc["requests"] == 4000  # different seeds merge


def test_a_policy_changed_since_the_run_is_refused(tmp_path, tenancy, tenancy_file, capsys):
    v2 = tmp_path / "rbac_v2.rego"
    shutil.copy(V2, v2)
    run = write(replay_report(V1, str(v2), tenancy, requests=2000), tmp_path / "run.json")
    v2.write_text(v2.read_text() + "\n# edited after the run\n")
    code, _ = _analyze(tmp_path, tenancy_file, run)
    err = capsys.readouterr().err
    assert code == 2 and "policy_changed" in err and "v2" in err
    code, _ = _analyze(tmp_path, tenancy_file, run, extra=("--v2", V2))
    assert code in (0, 1)  # the file that was run, given where it is now


def test_outcomes_named_in_the_contract():
    assert OUTCOMES == ("match", "v2_more_permissive", "v2_more_restrictive", "error")


def test_html_format_writes_the_page(tmp_path, tenancy, tenancy_file):
    run = write(replay_report(V1, V2, tenancy, requests=5000), tmp_path / "run.json")
    page = tmp_path / "analysis.html"
    code = main(["analyze", "--input", str(run), "--output", str(page), "--format", "html",
                 "--tenancy", str(tenancy_file), "--classifications", RULES])
    assert code == 1  # uniform traffic: over 1 %
    text = page.read_text(encoding="utf-8")
    assert "discrepancy_rate" in text and 'class="stop-conditions"' in text
    assert text.lstrip().startswith("<!DOCTYPE html>")
