"""The gate: every rule of the runbook blocks on its own, with a reason naming the cells."""

from __future__ import annotations

import datetime

import pytest
from test_report_builders import disc, report

from policydiff.classify import classify, parse_rules
from policydiff.gate import blocking, blocking_reason, gate

TODAY = datetime.date(2026, 11, 27)


def rules(body: str = "", **header):
    head = "\n".join(f"{k}: {v}" for k, v in header.items())
    return parse_rules(f"version: 1\n{head}\nrules:\n{body}", "classifications/t.yaml",
                       today=TODAY)


TIGHT = "  - {id: tight, class: expected_tightening, match: {direction: v2_more_restrictive}, reason: r}\n"
LOOSE = "  - {id: loose, class: expected_loosening, match: {direction: v2_more_permissive}, reason: r}\n"
BUG = "  - {id: known-bug, class: bug, match: {action: 'billing:*'}, reason: r}\n"
GAP = "  - {id: gap, class: spec_gap, match: {role: system}, reason: r}\n"
STALE = "  - {id: unused, class: expected_tightening, match: {role: nobody}, reason: r}\n"


def run(r, rf, *, strict=False):
    return gate(classify(r, rf), rf, strict=strict).gate


def test_no_discrepancy_passes_with_or_without_rules():
    assert run(report(), None).passed
    assert run(report(), rules(TIGHT)).passed is True
    assert run(report(), rules(TIGHT)).reasons == ()


def test_without_rules_any_discrepancy_blocks():
    g = run(report(disc("viewer", "billing:read", "own_team")), None)
    assert not g.passed
    assert any("viewer billing:read on own_team" in r and "no classification file" in r
               for r in g.reasons)


def test_classified_tightening_passes():
    g = run(report(disc("viewer", "billing:read", "own_team"),
                   disc("developer", "project:export", "enterprise")), rules(TIGHT))
    assert g.passed, g.reasons


def test_unclassified_blocks_and_is_named():
    g = run(report(disc("viewer", "billing:read", "own_team"),
                   disc("developer", "project:export", "other_team", "v2_more_permissive")),
            rules(LOOSE, allow_loosening="true"))
    assert not g.passed
    (reason,) = g.reasons
    assert "1 unclassified discrepancy (no rule" in reason and "viewer billing:read on own_team" in reason
    assert "classifications/t.yaml" in reason


def test_blocking_class_blocks_and_names_rule():
    g = run(report(disc("viewer", "billing:read", "own_team")), rules(BUG))
    assert not g.passed
    (reason,) = g.reasons
    assert "`bug`" in reason and "known-bug" in reason and "viewer billing:read on own_team" in reason


def test_blocking_list_is_the_files():
    r = report(disc("system", "project:delete", "own_team"))
    assert run(r, rules(GAP)).passed  # spec_gap does not block by default
    g = run(r, rules(GAP, blocking="[bug, spec_gap]"))
    assert not g.passed and "`spec_gap`" in g.reasons[0]


def test_loosening_blocks_without_allow_loosening_even_if_classified():
    r = report(disc("viewer", "project:export", "other_team", "v2_more_permissive"))
    g = run(r, rules(LOOSE))
    assert not g.passed
    (reason,) = g.reasons
    assert reason.startswith("1 cell where v2 is more permissive than v1")
    assert "viewer project:export on other_team" in reason


def test_loosening_passes_only_when_allowed_and_classified_expected_loosening():
    r = report(disc("viewer", "project:export", "other_team", "v2_more_permissive"))
    assert run(r, rules(LOOSE, allow_loosening="true")).passed
    # allowed, but classified as something else that does not block
    other = "  - {id: t, class: expected_tightening, match: {role: viewer}, reason: r}\n"
    g = run(r, rules(other, allow_loosening="true"))
    assert not g.passed and "not classified `expected_loosening`" in g.reasons[0]


def test_rate_at_the_limit_blocks():
    ds = [disc("viewer", f"a:{i}", "own_team") for i in range(10)]
    assert not run(report(*ds, cells=1000), rules(TIGHT)).passed  # 1 % == limit
    assert run(report(*ds, cells=1001), rules(TIGHT)).passed     # just under
    g = run(report(*ds, cells=100), rules(TIGHT, max_discrepancy_rate=0.5))
    assert g.passed
    g = run(report(*ds, cells=100), rules(TIGHT))
    (reason,) = g.reasons
    assert "10.00 %" in reason and "1.00 %" in reason


def test_stale_rules_block_only_when_strict():
    r = report(disc("viewer", "billing:read", "own_team"))
    rf = rules(TIGHT + STALE)
    assert run(r, rf).passed
    g = run(r, rf, strict=True)
    assert not g.passed
    assert g.reasons == ("1 stale rule matches no discrepancy (--strict): unused",)


def test_all_reasons_together():
    r = report(disc("viewer", "billing:read", "own_team"),
               disc("admin", "x", "own_team", "v2_more_permissive"),
               disc("developer", "y", "enterprise"), cells=10)
    g = run(r, rules(BUG + STALE), strict=True)
    assert not g.passed
    assert len(g.reasons) == 5  # loosening, unclassified, bug, rate, stale


def test_long_cell_lists_are_cut():
    ds = [disc("viewer", f"a:{i}", "own_team") for i in range(8)]
    (reason, *_) = run(report(*ds, cells=10**6), None).reasons
    assert "and 3 more" in reason


@pytest.mark.parametrize("direction, cls, allow, expected", [
    ("v2_more_permissive", None, False, "v2-more-permissive"),
    ("v2_more_permissive", "expected_loosening", False, "v2-more-permissive"),
    ("v2_more_permissive", "expected_loosening", True, None),
    ("v2_more_restrictive", None, False, "unclassified-discrepancy"),
    ("v2_more_restrictive", "bug", False, "blocking-classification"),
    ("v2_more_restrictive", "expected_tightening", False, None),
])
def test_blocking_per_discrepancy(direction, cls, allow, expected):
    import msgspec

    d = msgspec.structs.replace(disc("viewer", "a", "own_team", direction), classification=cls)
    rf = rules(allow_loosening=str(allow).lower())
    assert blocking(d, rf) == expected
    assert (blocking_reason(d, rf) is None) == (expected is None)
