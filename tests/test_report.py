"""Every report format over one classified, gated report: structure, the blocking
findings it must surface, and goldens for the human-facing forms."""

from __future__ import annotations

import datetime
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_report_builders import disc, discrepancies, report, rule_files

from policydiff.classify import classify, parse_rules
from policydiff.errors import InputError
from policydiff.gate import blocking, gate
from policydiff.report import FORMATS, render
from policydiff.results import Cell, CompareReport

SARIF_SCHEMA = Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json"
RULES_TEXT = """\
version: 1
blocking: [bug]
max_discrepancy_rate: 0.05
rules:
  - id: billing-admin-only
    class: expected_tightening
    match: {action: "billing:*", direction: v2_more_restrictive}
    reason: Billing becomes admin-only | no more viewers.
  - id: export-leak
    class: bug
    match: {action: project:export, direction: v2_more_permissive}
    reason: Known leak, being fixed.
  - id: system-delete
    class: spec_gap
    match: {role: system}
    reason: The runbook does not say.
  - id: unused
    class: expected_tightening
    match: {role: nobody}
    reason: Nothing.
"""
RULES = parse_rules(RULES_TEXT, "classifications/rbac_v2.yaml", today=datetime.date(2026, 11, 27))
AGREE = (
    Cell(tenant="*", role="admin", action="billing:read", relation="own_team", v1="allow", v2="allow"),
    Cell(tenant="*", role="viewer", action="project:read", relation="own_team", v1="allow", v2="allow"),
)
LEAK = disc("viewer", "project:export", "other_team", "v2_more_permissive",
            v2_rules=("policies/rbac_v2.rego:57", "policies/rbac_v2.rego:60"))


def sample() -> CompareReport:
    r = report(
        disc("viewer", "billing:read", "own_team"),
        disc("viewer", "billing:read", "enterprise"),
        LEAK,
        disc("system", "project:delete", "other_enterprise", v2_rules=(),
             v1_rules=("policies/rbac_v1.rego:88",)),
        disc("developer", "project:write", "enterprise"),  # unclassified
        cells=100, extra_cells=AGREE)
    return gate(classify(r, RULES), RULES)


@pytest.fixture(scope="module")
def rep() -> CompareReport:
    return sample()


def test_the_sample_is_what_the_tests_think(rep):
    assert not rep.gate.passed
    kinds = [blocking(d, RULES) for d in rep.discrepancies]
    assert kinds == [None, None, "v2-more-permissive", None, "unclassified-discrepancy"]


def test_unknown_format(rep):
    with pytest.raises(InputError) as info:
        render(rep, "html")
    assert info.value.code == "unknown_format"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_names_the_leak(rep, fmt):
    out = render(rep, fmt, rules=RULES)
    assert out.endswith("\n")
    assert "project:export" in out and "other_team" in out and "viewer" in out


# -- json --------------------------------------------------------------------------------------

def test_json_is_the_contract(rep):
    doc = json.loads(render(rep, "json"))
    assert list(doc) == ["schema", "v1", "v2", "summary", "discrepancies", "stale_rules", "gate"]
    assert doc["schema"] == "policydiff.compare/1"
    assert set(doc["summary"]) == {"cells", "discrepancies", "v2_more_permissive",
                                   "v2_more_restrictive", "unclassified", "discrepancy_rate",
                                   "complete", "by_class"}
    assert doc["summary"]["by_class"] == {"expected_tightening": 2, "bug": 1, "spec_gap": 1}
    assert doc["summary"]["unclassified"] == 1
    leak = doc["discrepancies"][2]
    assert list(leak) == ["tenant", "role", "action", "relation", "direction", "v1", "v2",
                          "classification", "rule", "witness", "v1_rules", "v2_rules"]
    assert (leak["classification"], leak["rule"]) == ("bug", "export-leak")
    assert leak["v2_rules"] == ["policies/rbac_v2.rego:57", "policies/rbac_v2.rego:60"]
    assert doc["stale_rules"] == ["unused"]
    assert doc["gate"]["passed"] is False and doc["gate"]["reasons"] == list(rep.gate.reasons)


def test_json_decodes_back_to_the_report_without_cells(rep):
    back = msgspec.json.decode(render(rep, "json"), type=CompareReport)
    assert back == msgspec.structs.replace(rep, cells=())


def test_json_keeps_optional_fields_when_they_say_something():
    d = msgspec.structs.replace(disc("a", "b", "own_team"), attributes={"input.x": "x == 1"})
    r = report(d)
    r = msgspec.structs.replace(r, summary=msgspec.structs.replace(
        r.summary, complete=False, incomplete_reasons=("policies/v2.rego:3 uses regex.match",)))
    doc = json.loads(render(r, "json"))
    assert doc["discrepancies"][0]["attributes"] == {"input.x": "x == 1"}
    assert doc["summary"]["incomplete_reasons"] == ["policies/v2.rego:3 uses regex.match"]


# -- text --------------------------------------------------------------------------------------

def test_text_summary_tables_and_verdict(rep):
    out = render(rep, "text", rules=RULES, width=100)
    assert all(len(line) <= 100 for line in out.splitlines())
    assert "cells 100 · discrepancies 5" in out and "unclassified 1 · rate 5.00 %" in out
    assert out.index("Discrepancies") < out.index("Decisions by role and action") \
        < out.index("gate: BLOCKED")
    for reason in rep.gate.reasons:
        assert reason.split(":")[0] in out
    # grouped: the viewer/billing:read pair shows role and action once
    table = out[out.index("Discrepancies"):out.index("Decisions by role and action")]
    rows = [line for line in table.splitlines() if "billing:read" in line]
    assert len(rows) == 1
    assert sum("own_team" in line or "enterprise" in line for line in table.splitlines()) >= 2
    # in the matrix, the rows that differ come before those that agree
    matrix = out[out.index("Decisions by role and action"):]
    assert matrix.index("project:export") < matrix.index("project:read")


def test_text_loosening_is_red_with_colour(rep):
    out = render(rep, "text", rules=RULES, color=True)
    table = out[out.index("Discrepancies"):out.index("Decisions by role and action")]
    (leak,) = [line for line in table.splitlines() if "other_team" in line and "→" in line]
    assert "\x1b[1;31m" in leak
    (tight,) = [line for line in table.splitlines() if "project:write" in line and "→" in line]
    assert "\x1b[1;31m" not in tight
    assert "\x1b[" not in render(rep, "text", rules=RULES)


def test_text_passed(golden):
    r = report(disc("viewer", "billing:read", "own_team"), cells=100)
    r = gate(classify(r, RULES), RULES)
    out = render(r, "text", rules=RULES)
    assert "gate: PASSED" in out and "BLOCKED" not in out
    golden("compare_passed.txt", out)


def test_text_golden(rep, golden):
    golden("compare_blocked.txt", render(rep, "text", rules=RULES, width=100))


# -- markdown ----------------------------------------------------------------------------------

def test_markdown_verdict_first_then_tables_per_class(rep):
    out = render(rep, "markdown", rules=RULES)
    assert out.splitlines()[0].startswith("## ❌")
    headings = [line for line in out.splitlines() if line.startswith("### ")]
    assert headings == ["### Unclassified (1) — blocking", "### `expected_tightening` (2)",
                        "### `bug` (1) — blocking", "### `spec_gap` (1)", "### Stale rules"]
    assert "| a leak" not in out and "admin-only \\| no more viewers" in out


def test_markdown_links_rules_to_their_line(rep):
    out = render(rep, "markdown", rules=RULES)
    lines = RULES_TEXT.splitlines()
    for rule_id in ("billing-admin-only", "export-leak", "system-delete", "unused"):
        anchor = f"[`{rule_id}`](classifications/rbac_v2.yaml#L"
        assert anchor in out
        line = int(out.split(anchor, 1)[1].split(")", 1)[0])
        assert lines[line - 1].strip() == f"- id: {rule_id}"


def test_markdown_passed():
    r = report()
    out = render(gate(classify(r, None), None), "markdown")
    assert out.startswith("## ✅")


def test_markdown_golden(rep, golden):
    golden("compare_blocked.md", render(rep, "markdown", rules=RULES))


# -- sarif -------------------------------------------------------------------------------------

def validate_sarif(text: str) -> dict:
    doc = json.loads(text)
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(doc)
    return doc


def test_sarif_is_valid_and_has_one_result_per_blocking_discrepancy(rep):
    doc = validate_sarif(render(rep, "sarif", rules=RULES))
    results = doc["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["v2-more-permissive", "unclassified-discrepancy"]
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    leak = results[0]
    assert "viewer project:export on other_team" in leak["message"]["text"]
    loc = leak["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "policies/rbac_v2.rego"
    assert loc["region"]["startLine"] == 57


def test_sarif_falls_back_to_v1_rules_then_the_package_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("v2.rego").write_text("# comment\n\npackage rbac.v2\n\nallow := true\n")
    by_v1 = disc("a", "b", "own_team", v2_rules=(), v1_rules=("policies/rbac_v1.rego:12",))
    nowhere = disc("a", "c", "own_team", v2_rules=(), v1_rules=())
    r = report(by_v1, nowhere, v2_path=str(tmp_path / "v2.rego"))
    doc = validate_sarif(render(gate(classify(r, None), None), "sarif"))
    locs = [res["locations"][0]["physicalLocation"] for res in doc["runs"][0]["results"]]
    assert (locs[0]["artifactLocation"]["uri"], locs[0]["region"]["startLine"]) == \
        ("policies/rbac_v1.rego", 12)
    assert (locs[1]["artifactLocation"]["uri"], locs[1]["region"]["startLine"]) == ("v2.rego", 3)


def test_sarif_without_findings_is_valid_and_empty():
    doc = validate_sarif(render(gate(classify(report(), None), None), "sarif"))
    assert doc["runs"][0]["results"] == []


def test_sarif_blocking_class():
    r = report(disc("viewer", "billing:read", "own_team"))
    rf = parse_rules("version: 1\nrules:\n  - {id: b, class: bug, match: {role: viewer}, "
                     "reason: x}\n", "r.yaml")
    doc = validate_sarif(render(gate(classify(r, rf), rf), "sarif", rules=rf))
    (res,) = doc["runs"][0]["results"]
    assert res["ruleId"] == "blocking-classification" and "(rule b)" in res["message"]["text"]


# -- junit -------------------------------------------------------------------------------------

def test_junit_one_case_per_cell_and_the_gate(rep):
    root = ET.fromstring(render(rep, "junit", rules=RULES))
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(rep.cells) + 1 == int(suite.get("tests")) == int(root.get("tests"))
    failed = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None}
    assert failed == {("policydiff.viewer", "project:export on other_team"),
                      ("policydiff.developer", "project:write on enterprise"),
                      ("policydiff.gate", "gate")}
    assert int(suite.get("failures")) == 3
    leak = next(c for c in cases if c.get("name") == "project:export on other_team")
    assert "v2 is more permissive than v1" in leak.find("failure").get("message")
    assert "policies/rbac_v2.rego:57" in leak.find("failure").text
    gate_case = next(c for c in cases if c.get("name") == "gate")
    assert gate_case.find("failure").text.splitlines() == list(rep.gate.reasons)
    # classified, non-blocking discrepancies pass and say why
    billing = next(c for c in cases if c.get("name") == "billing:read on own_team")
    assert billing.find("failure") is None
    assert "expected_tightening (rule billing-admin-only)" in billing.find("system-out").text


def test_junit_without_cells_has_a_case_per_discrepancy():
    r = report(disc("a", "b", "own_team"), disc("a", "b", "own_team", "v2_more_permissive"))
    root = ET.fromstring(render(gate(classify(r, None), None), "junit"))
    cases = root.find("testsuite").findall("testcase")
    assert len(cases) == 3
    assert all(c.find("failure") is not None for c in cases)


def test_junit_rate_failure_shows_in_the_gate_case():
    r = report(disc("viewer", "billing:read", "own_team"), cells=10,
               extra_cells=AGREE)
    r = gate(classify(r, RULES), RULES)
    root = ET.fromstring(render(r, "junit", rules=RULES))
    failing = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert failing == ["gate"]
    assert "discrepancy rate" in root.find(".//testcase[@name='gate']/failure").text


# -- every format agrees with the gate ------------------------------------------------------

def _unique(ds):
    seen, out = set(), []
    for d in ds:
        if (d.key, d.direction) not in seen:
            seen.add((d.key, d.direction))
            out.append(d)
    return out


@settings(max_examples=40, deadline=None)
@given(rule_files(), st.lists(discrepancies, max_size=8).map(_unique),
       st.sampled_from([False, True]), st.integers(1, 400))
def test_formats_agree_with_the_gate(rules, ds, strict, cells):
    r = gate(classify(report(*ds, cells=max(cells, len(ds))), rules), rules, strict=strict)
    blocks = [d for d in r.discrepancies if blocking(d, rules)]
    rate_ok = not ds or r.summary.discrepancy_rate < rules.max_discrepancy_rate
    assert r.gate.passed == (not blocks and rate_ok and not (strict and r.stale_rules))
    sarif = json.loads(render(r, "sarif", rules=rules))["runs"][0]["results"]
    assert len(sarif) == len(blocks)
    junit = ET.fromstring(render(r, "junit", rules=rules))
    failing = [c for c in junit.iter("testcase") if c.find("failure") is not None]
    assert len(failing) == len(blocks) + (not r.gate.passed)
    md = render(r, "markdown", rules=rules)
    assert md.startswith("## ✅" if r.gate.passed else "## ❌")
    assert ("gate: PASSED" if r.gate.passed else "gate: BLOCKED") in render(r, "text", rules=rules)
