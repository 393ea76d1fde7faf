"""A builtin on a member met by iteration is an atom of the members (issue 14).

`some t in input.teams; regex.match("^a", t)` holds when some member passes the tests
on `t`: each test is a function of one member, an atom of `input.teams[]`, and the
classes decide which combinations of truths the members of a collection realise.
Ground truth is real OPA over a product of collections, as in
tests/test_function_atoms.py: every witness differs under OPA as reported, and a
complete report covers every input on which OPA's decisions differ; an incomplete one
blocks the gate.
"""

from __future__ import annotations

import functools

import pytest
from engines import OpaEngine, assert_exact_or_blocks, default_mode_decisions, tenancy_differences

from policydiff import atoms
from policydiff.diff import diff
from policydiff.matrix import dimensions
from policydiff.policy import load_policy

HEAD = "package p\nimport rego.v1\ndefault allow := false\n"
DIMS = dimensions(["action=input.action"])
ABSENT = object()
TEAMS = [ABSENT, None, "a", 3, [], ["a"], ["ab"], ["b"], ["az"], ["abz"], ["a", "b"], ["b", "az"], ["b", "abc"],
         ["abcd"], ["xyz"], [1], [[]], [{}], ["abc", 3], [None, "a"], {"k": "a"}, {"k": "b", "l": "abz"}, {}]

# (v1, v2): whole rules, one per line after "; "; the pairs in DECIDED must come out complete
PAIRS = [
    ('allow if { some t in input.teams; regex.match("^a", t) }',
     'allow if { some t in input.teams; startswith(t, "a") }'),
    ('allow if { some t in input.teams; regex.match("^a", t) }',
     'allow if { some t in input.teams; startswith(t, "ab") }'),
    ('allow if { some t in input.teams; regex.match("^a", t); endswith(t, "z") }',
     'allow if { some t in input.teams; startswith(t, "a") }'),
    ('allow if { some t in input.teams; count(t) > 2 }', 'allow if { some t in input.teams; count(t) >= 3 }'),
    ('allow if { some t in input.teams; count(t) > 2 }', 'allow if { some t in input.teams; count(t) >= 4 }'),
    # through a local naming the collection, and a local computed from the member
    ('allow if { ts := input.teams; some t in ts; n := upper(t); n == "AB" }',
     'allow if "ab" in input.teams'),
    # the iteration written in the test (`input.teams[_]`)
    ('allow if regex.match("^a", input.teams[_])', 'allow if { some t in input.teams; startswith(t, "a") }'),
    ('allow if { count(input.teams[_]) > 3; input.name != "x" }', 'allow if { some t in input.teams; count(t) > 2 }'),
    # not one member's function: the value flow decides, or leaves it unproved
    ('allow if { some i, t in input.teams; regex.match("^a", t); i > 0 }',
     'allow if { some t in input.teams; startswith(t, "a") }'),
    ('allow if { some t in input.teams; regex.match(t, input.name) }', 'allow if "a" in input.teams'),
    # the iteration written in the test, against a policy allowing otherwise: a member
    # equal to no constant passes it (once proved complete while v1 never allowed)
    ('allow if regex.match("^a", input.teams[_])', 'allow if { some t in input.teams; startswith(t, "b") }'),
    ('allow if count(input.teams[_]) >= 0', 'allow if "b" in input.teams'),
]

DECIDED = {PAIRS[i] for i in (0, 1, 6, 10, 11)}


def _text(rules: str) -> str:
    return HEAD + rules.replace("; ", "\n") + "\n"


def _input(teams):
    return {"name": "abc"} if teams is ABSENT else {"teams": teams, "name": "abc"}


@pytest.mark.parametrize("v1, v2", PAIRS, ids=[p[0] for p in PAIRS])
def test_compare_with_a_member_atom_is_exact_or_blocks(v1, v2):
    p1, p2 = (load_policy(_text(v), decision="data.p.allow") for v in (v1, v2))
    report = diff(p1, p2, dims=DIMS)
    engines = (OpaEngine({"a.rego": _text(v1)}), p1), (OpaEngine({"b.rego": _text(v2)}), p2)
    opa = functools.partial(default_mode_decisions, engines)

    assert report.summary.complete or (v1, v2) not in DECIDED, report.summary.incomplete_reasons
    assert_exact_or_blocks(report, opa, [_input(teams) for teams in TEAMS], named=lambda r: ":" in r or "`" in r)


def _atoms(rules: str) -> list[atoms.Atom]:
    (module,) = load_policy(_text(rules), decision="data.p.allow").modules
    out = []
    for rule in module.rules:
        if rule.name == "allow":
            out += atoms.find(rule, {"input": ()}, lambda f: False)[1]
    return out


def test_a_test_on_a_member_is_an_atom_of_the_members():
    (a,) = _atoms('allow if { some t in input.teams; regex.match("^a", t) }')
    assert a.path == ("teams", "[]") and a.other is None
    assert '"some_in"' not in atoms.body_key(a.body)  # the member is the atom's value, `input.x`


def test_a_test_on_an_iterated_reference_is_an_atom_of_the_members():
    (a,) = _atoms('allow if regex.match("^a", input.teams[_])')
    assert a.path == ("teams", "[]") and a.other is None


@pytest.mark.parametrize("rules", [
    'allow if { some i, t in input.teams; regex.match("^a", t); i > 0 }',  # the key is read
    'allow if regex.match(input.name, input.teams[_])',  # another input value
    'allow if regex.match("^a", input.teams[_][_])',  # two iterations
    'allow if regex.match("^a", input.teams[_].name)',  # inside the members
    'allow if { some t in input.teams; some u in input.names; startswith(t, u) }',  # two collections
    'allow if { some t in [input.a, input.b]; regex.match("^a", t) }',  # not an input collection
])
def test_iteration_of_anything_else_gives_no_member_atom(rules):
    assert not any(a.path[-1:] == ("[]",) and a.other is None for a in _atoms(rules))


@pytest.mark.parametrize("v1, v2", [
    ('allow if { some t in input.subject.teams; regex.match("^eng-", t) }',
     'allow if { some t in input.subject.teams; startswith(t, "eng") }'),
    ('name := lower(input.subject.id); allow if { input.action == "read"; startswith(name, "u") }',
     'allow if { input.action == "read"; startswith(input.subject.id, "u") }'),
])
def test_member_and_derived_atoms_over_a_tenancy_match_opa(v1, v2):
    from policydiff.tenancy import Enterprise, Resource, Tenancy, User

    t = Tenancy(enterprises=(Enterprise(id="e1", teams=("eng-a", "engine", "ops")),),
                users=(User(id="u1", enterprise="e1", role="viewer", teams=("eng-a",)),
                       User(id="U2", enterprise="e1", role="viewer", teams=("engine", "ops")),
                       User(id="x3", enterprise="e1", role="admin", teams=("ops",)),
                       User(id="u4", enterprise="e1", role="admin", teams=())),
                resources=(Resource(id="r1", kind="project", enterprise="e1", team="ops"),),
                actions=("read", "write"))
    p1, p2 = (load_policy(_text(v), decision="data.p.allow") for v in (v1, v2))
    report = diff(p1, p2, tenancy=t)
    o1, o2 = OpaEngine({"a.rego": _text(v1)}), OpaEngine({"b.rego": _text(v2)})
    differing = tenancy_differences(t, o1, o2, "data.p.allow")
    reported = {((d.tenant, d.role, d.action, d.relation), d.direction) for d in report.discrepancies}
    assert differing and differing <= reported, (differing, reported)
    if report.summary.complete:
        assert differing == reported
    else:
        assert not report.gate.passed
