"""compare decides relations between input values (issue 14), checked against real OPA.

Each case is a pair of policies and a small product of input values. Real OPA decides
every input with both policies: compare must be exact — every input where OPA's two
decisions differ lies in a reported discrepancy of the same direction, and every witness
differs under OPA as reported — or its report must be incomplete, name the rule and the
construct, and the gate must block. The products stay small: z3's time per query varies
a lot with the process's history, and these tests check exactness, not speed.
"""

from __future__ import annotations

import itertools

from test_compare_sound import _brute

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
