"""The analysis (what each input path is compared with) and the class space built on it."""

from __future__ import annotations

import itertools

import pytest

from policydiff import load_policy
from policydiff.analysis import ELEM, Pattern, analyze_policies
from policydiff.errors import InputError
from policydiff.matrix import OTHER, Space, dimensions, matches, parse_path


def _policy(body: str, data: dict | None = None):
    return load_policy("package t\n\nimport rego.v1\n\n" + body, data=data)


def _classes(*policies):
    a = analyze_policies(*policies)
    return a, {p: c for c in a.classes for p in c.paths}


def test_constants_follow_helpers_functions_and_local_variables():
    p = _policy(
        """
is_ops if input.subject.role in {"ops", "sre"}

kind_ok(k) if k == "project"

allow if {
    is_ops
    r := input.resource
    kind_ok(r.kind)
    act := input.action
    act != "delete"
}
"""
    )
    a, by_path = _classes(p)
    assert set(by_path[("subject", "role")].constants) >= {"ops", "sre"}
    assert "project" in by_path[("resource", "kind")].constants
    assert "delete" in by_path[("action",)].constants
    assert "ops" not in by_path[("action",)].constants
    assert a.incomplete == ()


def test_data_keys_become_constants_of_the_path_that_indexes_them():
    p = _policy(
        "allow if input.action in data.grants[input.subject.role]",
        data={"grants": {"admin": ["a:write", "a:read"], "viewer": ["a:read"]}},
    )
    _, by_path = _classes(p)
    assert set(by_path[("subject", "role")].constants) >= {"admin", "viewer"}
    assert set(by_path[("action",)].constants) >= {"a:write", "a:read"}


def test_path_to_path_equality_and_membership_share_a_class():
    p = _policy(
        """
allow if {
    input.subject.enterprise == input.resource.enterprise
    input.resource.team in input.subject.teams
}
"""
    )
    _, by_path = _classes(p)
    assert by_path[("subject", "enterprise")] is by_path[("resource", "enterprise")]
    assert by_path[("resource", "team")] is by_path[("subject", "teams", ELEM)]
    assert by_path[("resource", "team")] is not by_path[("subject", "enterprise")]


def test_string_patterns_are_recorded():
    p = _policy(
        """
allow if startswith(input.action, "project:")
allow if glob.match("billing:*", [":"], input.action)
"""
    )
    _, by_path = _classes(p)
    pats = set(by_path[("action",)].patterns)
    assert Pattern(kind="prefix", text="project:") in pats
    assert Pattern(kind="glob", text="billing:*", delimiters=(":",)) in pats


@pytest.mark.parametrize(
    "body, why",
    [
        ('allow if input.action == concat(":", [input.subject.role, "read"])', "concat"),
        ('allow if startswith(input.action, concat("", [input.subject.role, "ject"]))', "prefix"),
    ],
)
def test_uses_the_classes_cannot_capture_make_the_analysis_incomplete(body, why):
    a = analyze_policies(_policy(body))
    assert a.incomplete, body
    assert any(why in r for r in a.incomplete)
    assert all(":" in r.split(" ")[0] for r in a.incomplete)  # file:line first


@pytest.mark.parametrize(
    "body, path, why",
    [
        ('allow if regex.match("^a.*", input.action)', ("action",), "regex.match"),
        ('allow if sprintf("%s", [input.action]) == "x"', ("action",), "sprintf"),
        ("allow if count(input.subject.teams) > 1", ("subject", "teams"), "count"),
        ('allow if lower(input.subject.role) == "admin"', ("subject", "role"), "lower"),
    ],
)
def test_tests_on_one_input_value_go_to_the_solver_as_atoms(body, path, why):
    a = analyze_policies(_policy(body))
    atoms = [t for c in a.classes for t in c.atoms]
    assert [t.path for t in atoms] == [path]
    assert why in atoms[0].construct and atoms[0].where.startswith("<text>:")


@pytest.mark.parametrize("body", [
    'allow if input.action == concat(":", ["project", "read"])',
    'allow if startswith("project:read", concat("", ["project", ":"]))\nallow if input.action in {"project:read"}',
    'allow if input.action in {"project:read", "x"} - {"x"}',
    'allow if input.action in split("project:read,x", ",")',
])
def test_constants_computed_from_constants_are_folded(body):
    a = analyze_policies(_policy(body))
    assert a.incomplete == ()
    assert "project:read" in a.class_of(("action",)).constants


def test_reading_input_only_through_equality_is_complete():
    a = analyze_policies(_policy('allow if input.subject.role == "admin"'))
    assert a.incomplete == ()


def test_glob_matching_follows_opa_delimiters():
    g = Pattern(kind="glob", text="project:*", delimiters=(":",))
    assert matches(g, "project:read")
    assert not matches(g, "project:read:all")
    # `[]` in the policy: OPA's default delimiter `.`
    assert matches(Pattern(kind="glob", text="*.github.com", delimiters=(".",)), "api.github.com")
    assert not matches(Pattern(kind="glob", text="*.github.com", delimiters=(".",)), "a.b.github.com")
    assert matches(Pattern(kind="glob", text="api.**.com", delimiters=(".",)), "api.a.b.com")
    # `null` in the policy: no delimiters at all, `*` crosses `.`
    assert matches(Pattern(kind="glob", text="*.github.com", delimiters=()), "a.b.github.com")


@pytest.mark.parametrize("delims, crosses", [("null", True), ("[]", False), ('["."]', False)])
def test_glob_delimiters_are_read_as_the_evaluator_reads_them(delims, crosses):
    p = _policy(f'allow if glob.match("*e*", {delims}, input.action)')
    [pattern] = [pt for c in analyze_policies(p).classes for pt in c.patterns]
    assert matches(pattern, "x.e.y") is crosses
    assert p.allows({"action": "x.e.y"}) is crosses


def test_pattern_classes_get_representatives_that_match_and_that_do_not():
    p = _policy('allow if glob.match("project:*", [":"], input.action)')
    space = Space(analyze_policies(p))
    actions = {cell[2] for cell, _ in space.representatives()}
    assert OTHER in actions
    matching = [a for a in actions if a != OTHER]
    assert matching and all(a.startswith("project:") for a in matching)
    # and the policy really tells them apart
    decisions = {p.allows(inp) for cell, inp in space.representatives() if cell[2] in matching}
    assert decisions == {True}


def test_every_runbook_cell_exists_and_its_representatives_realise_its_relation():
    p1 = load_policy("policies/rbac_v1.rego")
    p2 = load_policy("policies/rbac_v2.rego")
    space = Space(analyze_policies(p1, p2))
    reps = list(space.representatives())
    cells = {cell for cell, _ in reps}
    roles = {c[1] for c in cells}
    actions = {c[2] for c in cells}
    assert {"admin", "team_admin", "developer", "viewer", "system", OTHER} <= roles
    assert {"project:read", "billing:read", OTHER} <= actions
    assert cells == set(itertools.product(["*"], roles, actions,
                                          ["own_team", "other_team", "enterprise", "other_enterprise"]))
    for (_, role, action, rel), inp in reps:
        s, r = inp["subject"], inp["resource"]
        assert space.class_of[("subject", "role")].describe(s["role"]) == role
        assert space.class_of[("action",)].describe(inp["action"]) == action
        same = s["enterprise"] == r["enterprise"]
        assert rel == ("other_enterprise" if not same else "enterprise" if r["team"] is None
                       else "own_team" if r["team"] in s["teams"] else "other_team")


def test_dimension_flags_parse_and_reject_bad_names():
    d = dimensions(["role=input.user.role", "tenant=input.tenant"])
    assert d.role == ("user", "role") and d.tenant == ("tenant",) and not d.runbook
    assert parse_path('input.a["b"]') == ("a", "b")
    with pytest.raises(InputError) as e:
        dimensions(["colour=input.x"])
    assert e.value.code == "bad_dimension"
    with pytest.raises(InputError):
        dimensions(["role"])


def test_a_path_read_as_value_and_as_object_gets_both_shapes():
    p = _policy(
        """
t := object.get(input, ["tenant", "name"], input.tenant)

allow if t == "acme"
"""
    )
    space = Space(analyze_policies(p), dimensions(["tenant=input.tenant"]))
    shapes = {type(inp.get("tenant")).__name__ for _, inp in space.representatives()}
    assert shapes == {"dict", "str"}
    allowed = [inp for _, inp in space.representatives() if p.allows(inp)]
    assert {"tenant": "acme"} in [{"tenant": i["tenant"]} for i in allowed]
    assert {"tenant": {"name": "acme"}} in [{"tenant": i["tenant"]} for i in allowed]


def _team_lists(body: str) -> set[int]:
    space = Space(analyze_policies(_policy(body)))
    return {len(inp["subject"]["teams"]) for _, inp in space.representatives()}


def test_elements_beyond_the_class_values_only_when_the_collection_is_iterated():
    # membership alone: a team list holds at most the resource's team
    assert _team_lists("allow if input.resource.team in input.subject.teams") == {0, 1}
    # `some t in teams; t != team` is true with any other team: those lists are needed
    assert _team_lists("allow if {\n some t in input.subject.teams\n t != input.resource.team\n}") == {0, 1, 2}


def test_strings_matching_several_patterns_get_a_class_of_their_own():
    v1 = _policy('allow if startswith(input.action, "project:")')
    v2 = _policy('allow if glob.match("*:read", [":"], input.action)')
    space = Space(analyze_policies(v1, v2))
    decided = {(v1.allows(inp), v2.allows(inp)) for _, inp in space.representatives()}
    assert decided == {(False, False), (True, False), (False, True), (True, True)}
    action = space.class_of[("action",)]
    assert action.describe("project:read") == "project:read"  # the only string in both
    assert action.describe("project:write") != action.describe("audit:read")


def test_a_matrix_too_large_to_enumerate_is_refused_before_it_is_built():
    roles = ", ".join(f'"r{i}"' for i in range(24))
    tests = "\n".join(f" input.{k} in {{{roles}}}" for k in ("subject.role", "action", "resource.kind", "resource.id"))
    p = _policy(f"allow if {{\n{tests}\n}}")
    with pytest.raises(InputError) as e:
        list(Space(analyze_policies(p)).representatives())
    assert e.value.code == "matrix_too_large"


def test_members_compared_only_with_a_value_of_their_class_are_not_every_subset():
    # the members of `input.subject.teams` meet the 24 roles only through the role's
    # value: the team list holds the role or not, not any of 2^24 subsets
    roles = ", ".join(f'"r{i}"' for i in range(24))
    p = _policy(f"allow if {{\n input.subject.role in {{{roles}}}\n input.subject.role in input.subject.teams\n}}")
    space = Space(analyze_policies(p))
    assert len(list(space.representatives())) < 20_000 and not space.incomplete


def test_constant_lookups_into_documents_keyed_by_input():
    p = _policy(
        """
granted[input.subject.role] := true if input.action == "read"

allow if granted.admin
"""
    )
    _, by_path = _classes(p)
    assert "admin" in by_path[("subject", "role")].constants


def test_a_value_is_labelled_by_its_class():
    from policydiff.matrix.classes import Composite, Constant, Fresh

    p = _policy('allow if startswith(input.action, "project:")\nallow if input.action == 1')
    cs = Space(analyze_policies(p)).class_of[("action",)]
    one = cs.label(1)
    assert isinstance(one, Constant)
    assert cs.label(1.0) == one  # one number, as OPA compares
    assert cs.label(True) != one  # a boolean is never a number
    a, b, c = cs.label("project:a"), cs.label("project:b"), cs.label("team:a")
    assert isinstance(a, Fresh) and a == b and a != c
    assert a.sig == (True,) and c.sig == (False,)
    assert cs.label(["project:a"]) == Composite("list")


def test_a_described_value_keeps_its_type_once_remembered():
    """`describe` remembers scalars per type and value: true is not the constant 1,
    whichever of the two is described first."""
    from policydiff.analysis import InputClass
    from policydiff.matrix.classes import ClassSpace

    cs = ClassSpace(InputClass(paths=(("role",),), constants=(1, "a")), [("role",)], [], set(), {}, set())
    assert [cs.describe(v) for v in (True, 1, True, 1.0, "a", "b", None, 1)] == \
        [OTHER, "1", OTHER, "1", "a", OTHER, OTHER, "1"]
