"""Input arrays compared with array patterns (`input.path = ["api", "v1", "projects", p]`),
held against real OPA over every input of a small space (`tests/exactness.py`).

An input array the policies compare only with fixed-length array patterns is a tuple of
positions: each position a path of its own class, its length which positions it has.
The variable a pattern binds meets other input values through data (InfraBox's
`collaborators[i].project_id = project; collaborators[i].user_id = user`) as any
value does, so these compare complete and exact. An array also read as a collection
or by a builtin stays unproved, naming the rule.
"""

from __future__ import annotations

import json

import pytest
from exactness import ABSENT, check, inputs

from policydiff import load_policy
from policydiff.analysis import analyze_policies
from policydiff.matrix import Space, dimensions

DATA = {"collaborators": [{"user_id": "u1", "project_id": "p1", "role": "Owner"},
                          {"user_id": "u2", "project_id": "p1", "role": "Developer"},
                          {"user_id": "u2", "project_id": "p2", "role": "Owner"}],
        "public": ["p2"]}

HEAD = "package api\n\nimport rego.v1\n\nimport input as api\n\ndefault allow := false\n\n"

COLLABORATOR = """
collaborator([user, project]) if {
    some i
    data.collaborators[i].project_id = project
    data.collaborators[i].user_id = user
}
"""

SPACE = {
    "method": ["GET", "DELETE", ABSENT],
    "path": [["api", "projects"], ["api", "projects", "p1"], ["api", "projects", "p2"],
             ["api", "projects", "p3"], ["api", "projects", "p1", "x"], ["api", "other", "p1"],
             ["projects", "p1"], [], "api/projects/p1", {"0": "api"}, ABSENT],
    "user": ["u1", "u2", "u3", 1, ABSENT],
}


def _check(tmp_path, v1: str, v2: str, space=SPACE, data=DATA):
    (tmp_path / "v1.rego").write_text(HEAD + v1)
    (tmp_path / "v2.rego").write_text(HEAD + v2)
    (tmp_path / "data.json").write_text(json.dumps(data))
    return check(tmp_path / "v1.rego", tmp_path / "v2.rego", decision="data.api.allow",
                 dims=["action=input.method"], data=[str(tmp_path / "data.json")],
                 space=list(inputs(space)), workdir=tmp_path)


def test_positions_joined_through_data_are_decided_exactly(tmp_path):
    v1 = COLLABORATOR + """
allow if {
    api.method == "GET"
    api.path = ["api", "projects", p]
    collaborator([api.user, p])
}
"""
    v2 = v1 + """
allow if {
    api.method == "GET"
    api.path = ["api", "projects", p]
    p in data.public
}
"""
    result = _check(tmp_path, v1, v2)
    assert result.report is not None, result.refused
    assert result.report["summary"]["complete"], result.report["summary"]
    assert not result.failures, "\n".join(result.failures)
    assert result.differing > 0
    (found,) = result.report["discrepancies"]
    assert found["direction"] == "v2_more_permissive" and found["witness"]["path"][2] == "p2"


def test_patterns_of_several_lengths_and_not_equal_are_exact(tmp_path):
    # lengths 2, 3 and 4; `!=` holds on an absent path nowhere and on a string everywhere
    v1 = COLLABORATOR + """
allow if {
    api.method == "DELETE"
    api.path = ["api", "projects", p, "x"]
    collaborator([api.user, p])
}

allow if {
    api.path != ["api", "projects"]
    api.method == "GET"
}
"""
    v2 = COLLABORATOR + """
allow if {
    api.method == "DELETE"
    api.path = ["api", "projects", p]
    collaborator([api.user, p])
}

allow if {
    api.path != ["api", "projects"]
    api.path != ["projects", "p1"]
    api.method == "GET"
}
"""
    result = _check(tmp_path, v1, v2)
    assert result.report is not None, result.refused
    assert result.report["summary"]["complete"], result.report["summary"]
    assert not result.failures, "\n".join(result.failures)
    directions = {d["direction"] for d in result.report["discrepancies"]}
    assert directions == {"v2_more_permissive", "v2_more_restrictive"}


def test_a_position_bound_twice_and_arrays_longer_than_every_pattern(tmp_path):
    # `[x, x]` ties two positions; [a, b, c] is longer than every pattern of v1
    v1 = 'allow if {\n    api.path = [x, x]\n}\n'
    v2 = 'allow if {\n    api.path = [x, x]\n}\n\nallow if {\n    api.path = [_, _, "c"]\n}\n'
    space = {"path": [["a", "a"], ["a", "b"], ["a", "a", "c"], ["c", "c", "c"], ["a"], ABSENT, "aa"]}
    result = _check(tmp_path, v1, v2, space=space)
    assert result.report is not None, result.refused
    assert result.report["summary"]["complete"], result.report["summary"]
    assert not result.failures, "\n".join(result.failures)
    (found,) = result.report["discrepancies"]
    assert found["witness"]["path"][2] == "c" and len(found["witness"]["path"]) == 3


@pytest.mark.parametrize("use,construct", [
    ("some x in api.path\n    x == \"p9\"", "collection"),
    ("count(api.path) > 3", "`count`"),
])
def test_an_array_also_read_otherwise_stays_unproved(tmp_path, use, construct):
    v1 = COLLABORATOR + """
allow if {
    api.path = ["api", "projects", p]
    collaborator([api.user, p])
}
"""
    v2 = v1 + f"\nallow if {{\n    {use}\n}}\n"
    result = _check(tmp_path, v1, v2)
    assert result.report is not None, result.refused
    summary = result.report["summary"]
    assert not summary["complete"] and not result.report["gate"]["passed"]
    assert any(construct in r for r in summary["incomplete_reasons"]), summary["incomplete_reasons"]
    assert not result.failures, "\n".join(result.failures)


def test_the_analysis_keeps_each_position_apart(tmp_path):
    (tmp_path / "p.rego").write_text(HEAD + COLLABORATOR + """
allow if {
    api.path = ["api", "projects", p]
    collaborator([api.user, p])
}
""")
    (tmp_path / "data.json").write_text(json.dumps(DATA))
    policy = load_policy([str(tmp_path / "p.rego"), str(tmp_path / "data.json")], decision="data.api.allow")
    analysis = analyze_policies(policy)
    assert analysis.arrays == ((("path",), 3),)
    consts = {c.paths: c.constants for c in analysis.classes}
    assert consts[(("path", "[0]"),)] == ("api",)
    assert consts[(("path", "[2]"),)] == ("p1", "p2")
    assert consts[(("user",),)] == ("u1", "u2")  # not merged with the project's position
    assert analysis.only_patterns == ((("path",), (((True, "api"), (True, "projects"), (False, None)),)),)
    assert not analysis.incomplete


def test_an_array_no_literal_can_match_is_kept_once(tmp_path):
    # read only by `["a", "b"]`: absent, a string, [], ["a"], [fresh], ["a", "b"],
    # ["a", fresh] and ["a", "b", fresh] (longer than every literal) stand for all
    (tmp_path / "p.rego").write_text(HEAD + 'allow if api.path = ["a", "b"]\n')
    policy = load_policy([str(tmp_path / "p.rego")], decision="data.api.allow")
    shapes = [inp.get("path", "(absent)") for _, inp in Space(analyze_policies(policy), dimensions(["action=input.method"])).representatives()]
    assert len(shapes) == 8 and shapes.count("(absent)") == 1, shapes
    arrays = sorted(len(s) for s in shapes if isinstance(s, list))
    assert arrays == [0, 1, 1, 2, 2, 3], shapes
    # read at position 0 too: every first position is kept, and [fresh, b] and
    # [fresh, fresh] as well ([], ["a"], [fresh], ["a", "b"], ["a", fresh], ["a", "b", fresh])
    (tmp_path / "q.rego").write_text(HEAD + 'allow if api.path = ["a", "b"]\n\nallow if api.path[0] == "a"\n')
    policy = load_policy([str(tmp_path / "q.rego")], decision="data.api.allow")
    analysis = analyze_policies(policy)
    assert analysis.only_patterns == ((("path",), (((False, None),), ((True, "a"), (True, "b")))),)
    assert len(list(Space(analysis, dimensions(["action=input.method"])).representatives())) == 10
    # read by a builtin: no shape is dropped (13: absent, a string, and every array of
    # up to three members whose first two are a constant or fresh)
    (tmp_path / "r.rego").write_text(HEAD + 'allow if api.path = ["a", "b"]\n\nallow if count(api.path) > 2\n')
    policy = load_policy([str(tmp_path / "r.rego")], decision="data.api.allow")
    analysis = analyze_policies(policy)
    assert analysis.arrays == ((("path",), 2),) and analysis.only_patterns == ()
    assert len(list(Space(analysis, dimensions(["action=input.method"])).representatives())) >= 13


def test_constant_positions_are_positions_of_the_tuple(tmp_path):
    # `input.path[2]` reads the third position: undefined on a shorter array, a string
    # or an absent path, beside the patterns of the same array
    v1 = COLLABORATOR + """
allow if {
    api.path = ["api", "projects", p]
    collaborator([api.user, p])
}
"""
    v2 = v1 + """
allow if {
    api.path[0] == "api"
    api.path[2] in data.public
}
"""
    result = _check(tmp_path, v1, v2)
    assert result.report is not None, result.refused
    assert result.report["summary"]["complete"], result.report["summary"]
    assert not result.failures, "\n".join(result.failures)
    assert {d["direction"] for d in result.report["discrepancies"]} == {"v2_more_permissive"}


def test_a_computed_index_stays_unproved(tmp_path):
    v1 = 'allow if {\n    api.path = ["api", x]\n    x == "p1"\n}\n'
    v2 = v1 + '\nallow if {\n    some i\n    api.path[i] == "p2"\n}\n'
    result = _check(tmp_path, v1, v2)
    assert result.report is not None, result.refused
    summary = result.report["summary"]
    assert not summary["complete"] and not result.report["gate"]["passed"]
    assert not result.failures, "\n".join(result.failures)


def test_an_absent_array_is_not_an_empty_object(tmp_path):
    # the two differ only where the path is absent (`!=` is undefined there, `not ==` holds)
    v1 = 'allow if api.path != ["api", "projects"]\n'
    v2 = 'allow if not api.path == ["api", "projects"]\n'
    result = _check(tmp_path, v1, v2)
    assert result.report is not None, result.refused
    assert result.report["summary"]["complete"], result.report["summary"]
    assert not result.failures, "\n".join(result.failures)
    (found,) = result.report["discrepancies"]
    assert "path" not in found["witness"] and found["direction"] == "v2_more_permissive"


def test_positions_before_the_one_read_are_filled(tmp_path):
    # only the third position is read: arrays must still reach it
    v1 = 'allow if api.path[2] == "p1"\n'
    v2 = 'allow if api.path[2] in {"p1", "p2"}\n'
    result = _check(tmp_path, v1, v2)
    assert result.report is not None, result.refused
    assert result.report["summary"]["complete"], result.report["summary"]
    assert not result.failures, "\n".join(result.failures)
    (found,) = result.report["discrepancies"]
    assert found["witness"]["path"][2] == "p2"


def test_an_array_read_past_its_sixteenth_position_stays_unproved(tmp_path):
    v1 = 'allow if api.path[2] == "p1"\n'
    v2 = v1 + '\nallow if api.path[16] == "p2"\n'
    result = _check(tmp_path, v1, v2)
    assert result.report is not None, result.refused
    summary = result.report["summary"]
    assert not summary["complete"] and not result.report["gate"]["passed"]
    assert any("indexes an input array by position" in r for r in summary["incomplete_reasons"])


def test_an_array_the_request_model_holds_as_a_collection_stays_unproved(tmp_path):
    # the runbook's request model holds `subject.teams` as a list of teams, members
    # and all: a pattern on it is not read as a tuple of positions
    from policydiff.diff import diff

    for name, body in (("v1", '["a", x]'), ("v2", '["a", "b"]')):
        (tmp_path / f"{name}.rego").write_text(
            f"package rbac\n\nimport rego.v1\n\ndefault allow := false\n\nallow if input.subject.teams = {body}\n")
    p1, p2 = (load_policy([str(tmp_path / f"{n}.rego")], decision="data.rbac.allow") for n in ("v1", "v2"))
    report = diff(p1, p2, dims=dimensions([]))
    assert not report.summary.complete
    assert any("`input.subject.teams` compared with array patterns" in r for r in report.summary.incomplete_reasons)
