"""compare decides relations between input values (issue 14), checked against real OPA.

Each case is a pair of policies and a small product of input values. Real OPA decides
every input with both policies: compare must be exact — every input where OPA's two
decisions differ lies in a reported discrepancy of the same direction, and every witness
differs under OPA as reported — or its report must be incomplete, name the rule and the
construct, and the gate must block. The products stay small: z3's time per query varies
a lot with the process's history, and these tests check exactness, not speed.
"""

from __future__ import annotations

import functools
import itertools

import pytest
from engines import OpaEngine, default_mode_decisions
from test_compare_sound import _brute

from policydiff import load_policy
from policydiff.diff import diff
from policydiff.matrix import dimensions

NAMES = ", ".join(f'"u{i}"' for i in range(10))


def _requests(ids, team_lists, teams):
    for sid, mine, team in itertools.product(ids, team_lists, teams):
        yield None, {"subject": {"id": sid, "enterprise": "e1", "role": "viewer", "teams": list(mine)},
                     "action": "read",
                     "resource": {"id": "r1", "kind": "k", "enterprise": "e1", "team": team}}


def test_classes_merged_for_the_relation_keep_what_members_are_compared_with():
    # The relation merges `input.resource.team` (4 constants) with the members of
    # `input.subject.teams` (in the class of `input.subject.id`, 10 constants, none
    # compared with a member). The merge lost `member_constants`: every one of the 14
    # constants became a possible member, and the compare was unproved ("14 values
    # may be its members").
    v1 = (f"allow if {{\n\tinput.subject.id in {{{NAMES}}}\n\tinput.subject.id in input.subject.teams\n"
          '\tinput.resource.team in {"a", "b", "c"}\n}\n')
    v2 = v1 + 'allow if {\n\tinput.subject.id == "u3"\n\tinput.resource.team == "q"\n}\n'
    subsets = [s for r in range(3) for s in itertools.combinations(("u3", "u0", "a", "q"), r)]
    report, missed = _brute(v1, v2, _requests(("u3", "u0", "zz"), subsets, ("a", "q", None, "zz")))
    assert report.summary.complete, report.summary.incomplete_reasons
    assert not missed
    assert {d.direction for d in report.discrepancies} == {"v2_more_permissive"}


# Relations between up to MAX_RELATED = 4 values of a class (policydiff.relations),
# against OPA on every tuple of a few values of each JSON type.
HEAD = "package p\nimport rego.v1\ndefault allow := false\n"
DIMS = dimensions(["action=input.action"])  # no dimension the policies read: one cell
ABSENT = object()


def _module(body: str) -> str:
    return HEAD + f"allow if {{\n{body.replace('; ', chr(10))}\n}}\n"


def _exact(v1: str, v2: str, space: dict):
    """The report of `v1` against `v2`, checked against OPA on every input of `space`
    (path -> values, ABSENT leaves the path out): exact when complete, blocking when not."""
    report = diff(load_policy(_module(v1), decision="data.p.allow"),
                  load_policy(_module(v2), decision="data.p.allow"), dims=DIMS)
    engines = [(OpaEngine({"p.rego": _module(b)}), load_policy(_module(b), decision="data.p.allow"))
               for b in (v1, v2)]

    opa = functools.partial(default_mode_decisions, engines)

    for d in report.discrepancies:  # every witness differs under OPA as reported
        assert opa(d.witness) == (d.v1 == "allow", d.v2 == "allow"), d.witness
    reported = {d.direction for d in report.discrepancies}
    missed = []
    for values in itertools.product(*space.values()):
        inp = {k: v for k, v in zip(space, values) if v is not ABSENT}
        a1, a2 = opa(inp)
        if a1 != a2 and ("v2_more_permissive" if a2 else "v2_more_restrictive") not in reported:
            missed.append(inp)
    if report.summary.complete:
        assert not missed, missed[:3]
    else:
        assert not report.gate.passed
        assert all(r.startswith(("<text>:", "`input.")) for r in report.summary.incomplete_reasons)
    return report


MIXED = [ABSENT, None, 1, 2, 2.5, "", "a", "ab", "b", [1]]
SMALL = [ABSENT, 1, 2, "a", "ab", "b", [1]]
CHAINS = [
    ("input.a < input.b; input.b <= input.c", "input.a < input.c"),
    ("input.a < input.b; input.b < input.c", 'input.a < input.b; input.c > input.b; input.c != "ab"'),
    ("startswith(input.a, input.b); startswith(input.b, input.c)", "startswith(input.a, input.c)"),
    ('input.a < input.b; input.b < input.c; input.b == "ab"', 'input.a < "ab"; "ab" <= input.c; input.b == "ab"'),
    ("input.a > input.b; input.c >= input.a", "input.c > input.b"),
]


@pytest.mark.parametrize("v1, v2", CHAINS, ids=[c[0] for c in CHAINS])
def test_a_chain_of_three_related_values_is_exact_against_opa_brute_force(v1, v2):
    report = _exact(v1, v2, {"a": MIXED, "b": MIXED, "c": MIXED})
    assert report.summary.complete, report.summary.incomplete_reasons
    assert report.discrepancies


FOURS = [
    ("input.a < input.b; input.b < input.c; input.c < input.d", "input.a < input.d"),
    ("input.a < input.b; input.c <= input.d; input.b == input.c", "input.a < input.d; input.b == input.c"),
]


@pytest.mark.parametrize("v1, v2", FOURS, ids=[c[0] for c in FOURS])
def test_four_related_values_are_exact_against_opa_brute_force(v1, v2):
    report = _exact(v1, v2, {"a": SMALL, "b": SMALL, "c": SMALL, "d": SMALL})
    assert report.summary.complete, report.summary.incomplete_reasons
    assert report.discrepancies


def test_five_related_values_stay_unproved_and_block():
    v1 = "input.a < input.b; input.b < input.c; input.c < input.d; input.d < input.e"
    report = _exact(v1, "input.a < input.e", {k: [1, 2, "a"] for k in "abcde"})
    assert not report.summary.complete and not report.gate.passed
    assert any("relates 5 input values" in r for r in report.summary.incomplete_reasons)


def test_a_relation_in_a_class_holding_a_collection_is_decided_for_plain_values():
    report = _exact("input.a < input.b; input.a in input.c", 'input.a < input.b; input.a in input.c; input.b != "b"',
                    {"a": SMALL, "b": SMALL, "c": [ABSENT, [], ["a"], [1, "ab"], ["b", "a"]]})
    assert report.summary.complete, report.summary.incomplete_reasons
    assert {d.direction for d in report.discrepancies} == {"v2_more_restrictive"}


def test_a_relation_on_members_of_a_collection_blocks_as_unproved():
    report = _exact("some t in input.c; t < input.b", "some t in input.c; t <= input.b",
                    {"b": SMALL, "c": [ABSENT, [], ["a"], [1, "ab"], ["b"]]})
    assert not report.summary.complete and not report.gate.passed


NUMBERS = [ABSENT, None, True, 0, 0.25, 0.5, 1, 1.5, 2, 3, -1, "", "a", "1", [1], {}]
ARITHMETIC = [
    ("input.a + 1 < input.b", "input.a < input.b"),
    ("1 + input.a == input.b", "input.b > input.a; input.b <= input.a + 1"),
    ("input.b - 0.5 > input.a", "input.b > input.a"),
    ("input.a * 2 <= input.b; input.b < 3", "input.a <= input.b; input.b < 3"),
    ("input.a - 1 != input.b", "input.a != input.b"),
    ("b := input.b; input.a + 1 <= b", "input.a < input.b"),
    # no value tried before z3 is 0.1 apart: z3 finds the difference
    ("input.a + 0.25 == input.b", "input.b > input.a; input.b < input.a + 0.5"),
]


@pytest.mark.parametrize("v1, v2", ARITHMETIC, ids=[c[0] for c in ARITHMETIC])
def test_arithmetic_relations_are_exact_against_opa_brute_force(v1, v2):
    report = _exact(v1, v2, {"a": NUMBERS, "b": NUMBERS})
    assert report.summary.complete, report.summary.incomplete_reasons
    assert report.discrepancies


def test_arithmetic_relations_in_a_chain_are_exact_against_opa_brute_force():
    report = _exact("input.a + 1 < input.b; input.b <= input.c - 1", "input.a < input.c",
                    {k: [ABSENT, None, 0, 0.5, 1, 2, 3, "a"] for k in "abc"})
    assert report.summary.complete, report.summary.incomplete_reasons
    assert {d.direction for d in report.discrepancies} == {"v2_more_permissive"}


def test_a_product_of_two_input_values_stays_unproved_and_blocks():
    report = _exact("input.a * input.b > 2", "input.a > 2", {"a": NUMBERS, "b": NUMBERS})
    assert not report.summary.complete and not report.gate.passed
    assert any("`mul`" in r for r in report.summary.incomplete_reasons), report.summary.incomplete_reasons


def test_a_relation_on_a_value_also_read_as_a_collection_blocks_as_unproved():
    # `input.c` is related whole to `input.b`, and its members are another class's
    # choice (`input.a in input.c`): the pair's value for c and the members' list were
    # two choices for one path, and v1 allowing a = "b", b = [], c = ["b"] where v2
    # denies passed the gate (on main too)
    lists = [ABSENT, [], ["a"], ["b"], ["a", "b"], "x", 1]
    report = _exact("input.b < input.c; input.a in input.c", 'input.b < input.c; input.a in input.c; input.a != "b"',
                    {"a": ["a", "b", ABSENT], "b": lists, "c": lists})
    assert not report.summary.complete and not report.gate.passed
    assert any("also read as an object or collection" in r for r in report.summary.incomplete_reasons)
