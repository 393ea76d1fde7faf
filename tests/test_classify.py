"""Classification files: strict loading with located, actionable errors; first-match
classification, class counts and stale rules."""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_report_builders import disc, discrepancies, report, rule_files

from policydiff.classify import classify, glob_problem, load_rules, parse_rules
from policydiff.errors import ExitCode, InputError

TODAY = datetime.date(2026, 11, 27)

GOOD = """\
version: 1
allow_loosening: false
blocking: [bug, spec_gap]
max_discrepancy_rate: 0.02
rules:
  - id: billing-admin-only
    class: expected_tightening
    match: {action: "billing:*", role: [developer, team_admin, viewer], direction: v2_more_restrictive}
    reason: Billing becomes admin-only in RBACv2.
    ticket: PIN-274
    owner: security
    expires: 2027-03-31
  - id: export-own-team
    class: expected_tightening
    match:
      action: project:export
      relation: [other_team, enterprise]
    reason: Export is limited to the subject's own teams.
"""


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors(tmp_path: Path, text: str) -> list:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_rules(path, today=TODAY)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    for d in info.value.diagnostics:
        assert d.span.file == str(path)
    return info.value.diagnostics


def underlined(diag) -> str:
    """The text a diagnostic's span covers (the part a caret would underline)."""
    line = Path(diag.span.file).read_text().splitlines()[diag.span.line - 1]
    end = diag.span.end_col if diag.span.end_line == diag.span.line else len(line) + 1
    return line[diag.span.col - 1:end - 1]


def only(diags: list, code: str):
    hits = [d for d in diags if d.code == code]
    assert len(hits) == 1, [str(d) for d in diags]
    return hits[0]


# -- loading ---------------------------------------------------------------------------------

def test_loads_the_documented_format(tmp_path):
    rules = load_rules(write(tmp_path, GOOD), today=TODAY)
    assert rules.version == 1 and rules.allow_loosening is False
    assert rules.blocking == ("bug", "spec_gap") and rules.max_discrepancy_rate == 0.02
    assert [r.id for r in rules.rules] == ["billing-admin-only", "export-own-team"]
    first, second = rules.rules
    assert first.class_ == "expected_tightening"
    assert first.match.action == ("billing:*",)
    assert first.match.role == ("developer", "team_admin", "viewer")
    assert first.match.tenant is None
    assert first.ticket == "PIN-274" and first.owner == "security"
    assert first.expires == datetime.date(2027, 3, 31)
    assert second.match.relation == ("other_team", "enterprise")
    # rules remember their line, for diagnostics and markdown links
    lines = GOOD.splitlines()
    assert lines[first.span.line - 1].strip() == "- id: billing-admin-only"
    assert lines[second.span.line - 1].strip() == "- id: export-own-team"
    assert rules.path == str(tmp_path / "rules.yaml")


def test_defaults(tmp_path):
    rules = load_rules(write(tmp_path, "version: 1\nrules: []\n"), today=TODAY)
    assert rules.allow_loosening is False
    assert rules.blocking == ("bug",)
    assert rules.max_discrepancy_rate == 0.01
    assert rules.rules == ()


def test_misspelt_match_key_names_rule_field_and_suggests(tmp_path):
    diags = errors(tmp_path, """\
        version: 1
        rules:
          - id: r1
            class: bug
            match: {actoin: "billing:*"}
            reason: x
        """)
    d = only(diags, "unknown_key")
    assert "`r1`" in d.message and "`actoin`" in d.message
    assert d.help == "did you mean `action`?"
    assert underlined(d) == "actoin"


def test_misspelt_rule_and_file_keys(tmp_path):
    diags = errors(tmp_path, """\
        version: 1
        alow_loosening: true
        rules:
          - id: r1
            clas: bug
            match: {role: viewer}
            reason: x
        """)
    unknown = sorted((underlined(d), d.help) for d in diags if d.code == "unknown_key")
    assert unknown == [("alow_loosening", "did you mean `allow_loosening`?"),
                       ("clas", "did you mean `class`?")]
    missing = only(diags, "missing_field")
    assert "`class`" in missing.message and "`r1`" in missing.message


def test_unknown_class_suggests(tmp_path):
    diags = errors(tmp_path, """\
        version: 1
        rules:
          - id: r1
            class: expected_tigthening
            match: {role: viewer}
            reason: x
        """)
    d = only(diags, "unknown_class")
    assert d.help == "did you mean `expected_tightening`?"
    assert underlined(d) == "expected_tigthening"
    assert "`r1`" in d.message


def test_unknown_class_in_blocking(tmp_path):
    d = only(errors(tmp_path, "version: 1\nblocking: [bugs]\nrules: []\n"), "unknown_class")
    assert d.help == "did you mean `bug`?"


def test_unknown_direction_and_relation_suggest(tmp_path):
    diags = errors(tmp_path, """\
        version: 1
        rules:
          - id: r1
            class: bug
            match: {direction: v2_more_permisive, relation: [own_team, other_teams]}
            reason: x
        """)
    assert only(diags, "unknown_direction").help == "did you mean `v2_more_permissive`?"
    assert only(diags, "unknown_relation").help == "did you mean `other_team`?"


def test_direction_globs_that_cover_a_direction_are_fine(tmp_path):
    rules = load_rules(write(tmp_path, """\
        version: 1
        rules:
          - {id: r1, class: bug, match: {direction: "v2_more_*"}, reason: x}
        """), today=TODAY)
    assert rules.rules[0].match.direction == ("v2_more_*",)


@pytest.mark.parametrize("glob", ["billing:[", "[!a", "ab[]"])
def test_unbalanced_bracket_glob(tmp_path, glob):
    diags = errors(tmp_path, f"""\
        version: 1
        rules:
          - id: r1
            class: bug
            match: {{action: "{glob}"}}
            reason: x
        """)
    d = only(diags, "invalid_glob")
    assert "unbalanced `[`" in d.message and "`r1`" in d.message and "match.action" in d.message


@pytest.mark.parametrize("glob", ["billing:*", "a[bc]d", "[!x]*", "[]]", "x]", "?"])
def test_balanced_globs(glob):
    assert glob_problem(glob) is None


def test_duplicate_ids(tmp_path):
    diags = errors(tmp_path, """\
        version: 1
        rules:
          - {id: same, class: bug, match: {role: a}, reason: x}
          - {id: other, class: bug, match: {role: b}, reason: x}
          - {id: same, class: bug, match: {role: c}, reason: x}
        """)
    d = only(diags, "duplicate_rule_id")
    assert "`same`" in d.message and "rule 1" in d.message
    assert d.span.line == 5


def test_expired_rule_is_an_error(tmp_path):
    diags = errors(tmp_path, """\
        version: 1
        rules:
          - id: old
            class: expected_tightening
            match: {role: viewer}
            reason: x
            expires: 2026-11-26
        """)
    d = only(diags, "expired_rule")
    assert "`old`" in d.message and "2026-11-26" in d.message
    assert underlined(d) == "2026-11-26"


def test_rule_expiring_today_still_holds(tmp_path):
    rules = load_rules(write(tmp_path, """\
        version: 1
        rules:
          - {id: r, class: bug, match: {role: viewer}, reason: x, expires: "2026-11-27"}
        """), today=TODAY)
    assert rules.rules[0].expires == TODAY


def test_wrong_types_are_located(tmp_path):
    diags = errors(tmp_path, """\
        version: 1
        allow_loosening: "yes"
        rules:
          - id: r1
            class: bug
            match: {role: [viewer, 3]}
            reason: 42
        """)
    by_field = {underlined(d): d for d in diags if d.code == "invalid_type"}
    assert set(by_field) == {'"yes"', "[viewer, 3]", "42"}
    assert "`r1`" in by_field["42"].message and "reason" in by_field["42"].message


def test_duplicate_yaml_keys(tmp_path):
    diags = errors(tmp_path, """\
        version: 1
        rules:
          - id: r1
            class: bug
            class: expected_tightening
            match: {role: viewer}
            reason: x
        """)
    assert only(diags, "duplicate_key").span.line == 5


@pytest.mark.parametrize("text, code", [
    ("version: 2\nrules: []\n", "unsupported_version"),
    ("rules: []\n", "missing_field"),
    ("version: 1\nmax_discrepancy_rate: 1.5\nrules: []\n", "invalid_value"),
    ("version: 1\nmax_discrepancy_rate: 0\nrules: []\n", "invalid_value"),
    ("version: 1\nrules: {a: 1}\n", "invalid_type"),
    ("- 1\n- 2\n", "invalid_type"),
    ("version: 1\nrules:\n  - {id: r, class: bug, match: {}, reason: x}\n", "empty_match"),
    ("version: 1\nrules:\n  - {id: r, class: bug, match: {role: []}, reason: x}\n", "invalid_type"),
    ("version: 1\nrules:\n  - {id: r, class: bug, match: {role: x}, reason: '  '}\n",
     "invalid_value"),
    ("version: 1\nrules:\n  - {id: r, class: bug, match: {role: x}, reason: y, expires: soon}\n",
     "invalid_value"),
])
def test_other_errors(tmp_path, text, code):
    assert code in {d.code for d in errors(tmp_path, text)}


def test_yaml_syntax_error_is_located(tmp_path):
    d = only(errors(tmp_path, "version: 1\nrules:\n  - id: [unclosed\n"), "syntax_error")
    assert d.span.line >= 3


def test_every_problem_is_reported_at_once(tmp_path):
    diags = errors(tmp_path, """\
        version: 1
        rules:
          - {id: a, class: bugg, match: {role: viewer}, reason: x}
          - {id: b, class: bug, match: {rol: viewer}, reason: x}
          - {id: c, class: bug, match: {role: viewer}, reason: x, expires: 2020-01-01}
        """)
    assert {d.code for d in diags} == {"unknown_class", "unknown_key", "expired_rule"}
    assert [d.span.line for d in diags] == sorted(d.span.line for d in diags)


def test_recursive_and_odd_yaml_is_an_error_not_a_crash(tmp_path):
    diags = errors(tmp_path, """\
        version: 1
        rules:
          - &r {id: r, class: bug, match: &m {role: *m}, reason: x}
        """)
    assert only(diags, "syntax_error").span.line == 3  # the shared loader refuses the cycle
    assert only(errors(tmp_path, "version: 1\x07\n"), "syntax_error")


def test_unreadable_file(tmp_path):
    with pytest.raises(InputError) as info:
        load_rules(tmp_path / "missing.yaml")
    assert info.value.code == "unreadable_file"
    assert "missing.yaml" in info.value.span.file


def test_parse_rules_names_the_source():
    with pytest.raises(InputError) as info:
        parse_rules("version: 1\nrules:\n  - {id: r, class: nope, match: {role: x}, reason: y}\n",
                    "classifications/pr.yaml", today=TODAY)
    assert str(info.value.span).startswith("classifications/pr.yaml:3:")


# -- classifying -----------------------------------------------------------------------------

RULES = parse_rules("""\
version: 1
rules:
  - {id: billing, class: expected_tightening, match: {action: "billing:*"}, reason: a}
  - {id: viewer-any, class: spec_gap, match: {role: viewer}, reason: b}
  - {id: leak, class: bug, match: {direction: v2_more_permissive, relation: other_*}, reason: c}
  - {id: acme, class: expected_tightening, match: {tenant: "ent-acme"}, reason: d}
  - {id: never, class: bug, match: {role: nobody}, reason: e}
""", "rules.yaml", today=TODAY)


def test_first_match_wins_and_counts():
    r = report(
        disc("viewer", "billing:read", "own_team"),                      # billing, not viewer-any
        disc("viewer", "project:read", "own_team"),                      # viewer-any
        disc("developer", "project:export", "other_team", "v2_more_permissive"),  # leak
        disc("developer", "project:export", "own_team"),                 # nothing
        disc("developer", "project:write", "own_team", tenant="ent-acme"),  # acme
    )
    out = classify(r, RULES)
    assert [(d.classification, d.rule) for d in out.discrepancies] == [
        ("expected_tightening", "billing"), ("spec_gap", "viewer-any"), ("bug", "leak"),
        (None, None), ("expected_tightening", "acme")]
    assert out.summary.by_class == {"expected_tightening": 2, "bug": 1, "spec_gap": 1}
    assert out.summary.unclassified == 1
    assert out.stale_rules == ("never",)
    # the rest of the report is untouched
    assert out.summary.cells == r.summary.cells and out.v1 == r.v1


def test_shadowed_rule_is_not_stale():
    # viewer-any matches the billing cell too, though `billing` wins it
    out = classify(report(disc("viewer", "billing:read", "own_team")), RULES)
    assert "viewer-any" not in out.stale_rules
    assert set(out.stale_rules) == {"leak", "acme", "never"}


def test_without_rules_everything_is_unclassified():
    once = classify(report(disc("viewer", "billing:read", "own_team")), RULES)
    out = classify(once, None)
    assert [d.classification for d in out.discrepancies] == [None]
    assert out.summary.by_class == {} and out.summary.unclassified == 1
    assert out.stale_rules == ()


@settings(max_examples=60, deadline=None)
@given(rule_files(), st.lists(discrepancies, max_size=8))
def test_classification_is_the_first_matching_rule(rules, ds):
    out = classify(report(*ds), rules)
    for d in out.discrepancies:
        matching = [r for r in rules.rules if r.match.matches(d)]
        if matching:
            assert (d.rule, d.classification) == (matching[0].id, matching[0].class_)
        else:
            assert d.rule is None and d.classification is None
    assert sum(out.summary.by_class.values()) + out.summary.unclassified == len(ds)
    for rid in out.stale_rules:
        assert not any(rules.rule(rid).match.matches(d) for d in ds)
