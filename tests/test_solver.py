"""compare decides string builtins, ordering and arithmetic on input values (issue 14).

Each pair below tests one value, `input.x`, with a construct the partition cannot split
on. Ground truth is real OPA over a product of values chosen here by hand (strings
around the policies' constants, numbers around their boundaries, other JSON types and
an absent value): compare must be exact — every input on which OPA's two decisions
differ lies in a reported discrepancy of the same direction, and every witness differs
under OPA as reported — or, where the README says a construct is out of reach,
unproved and blocking. The embedded OPA runs with strict builtin errors; on an input
where it halts (a builtin given a number, ...), compare follows OPA's default mode, in
which the expression is undefined: there the evaluator's default-mode answer, which
tests/test_differential.py checks against OPA, stands in.
"""

from __future__ import annotations

import functools
import itertools

import pytest
from engines import (
    OpaEngine,
    assert_exact_or_blocks,
    decision,
    default_mode_decisions,
    tenancy_differences,
)

from policydiff.diff import diff
from policydiff.matrix import dimensions
from policydiff.policy import load_policy

HEAD = "package p\nimport rego.v1\ndefault allow := false\n"
DIMS = dimensions(["action=input.action"])  # no dimension the policies read: one cell

ABSENT = object()
VALUES = [ABSENT, None, True, False, 0, 1, 2, 2.25, 2.5, 3, 4, -1, "", "a", "l", "la", "l\x00",
          "m", "ma", "z", "CN=alice", "CN=alice,O=acme", "CN=bob,O=acme", "cn=alice", "O=acme",
          "user:bob", "bob", "admin", "ADMIN", "Admin", "abc", "abcd", "ab", "xabc", "a@b",
          "@ab", "abcd@x", "a:read", "x:read", "a:write", "docs/a.txt", "docs/a/b.txt",
          "10", [], ["a"], {}, {"a": 1}]

# (v1 rule body, v2 rule body, decided): decided pairs must come out complete.
PAIRS = [
    ("input.x > 2", "input.x >= 3", True),
    ('input.x < "m"', 'input.x <= "l"', True),
    ("input.x + 1 > 3", "input.x > 2", True),
    ("input.x * 2 >= 5", "input.x > 2", True),
    ('sprintf("%s:%s", [input.x, "read"]) == "a:read"', 'concat(":", [input.x, "read"]) == "a:read"', True),
    ('trim_prefix(input.x, "user:") == "bob"', 'input.x == "user:bob"', True),
    ('indexof(input.x, "@") > 0', 'contains(input.x, "@")', True),
    ("count(input.x) > 3", 'startswith(input.x, "abc")', True),
    ('substring(input.x, 0, 3) == "abc"', 'startswith(input.x, "abc")', True),
    ('startswith(input.x, "CN=")', 'regex.match("^CN=", input.x)', True),
    ('regex.match("^[a-z]+$", input.x)', 'input.x in {"a", "ab", "abc"}', True),
    ('parts := split(input.x, ","); parts[0] == "CN=alice"', 'startswith(input.x, "CN=alice,")', True),
    # a local naming the value (`name := input.x`) is read through
    ('n := input.x; regex.match("^CN=", n)', 'startswith(input.x, "CN=")', True),
    ('n := input.x; parts := split(n, ","); parts[0] == "CN=alice"', 'startswith(input.x, "CN=alice,")', True),
    ('n := input.x; n != "abcd"; count(n) > 3', "count(input.x) > 3", True),
    # and so is a chain of locals naming it (`n := input.x; m := n`)
    ('n := input.x; m := n; regex.match("^CN=", m)', 'startswith(input.x, "CN=")', True),
    ('n := input.x; m := n; k := m; count(k) > 3', 'startswith(input.x, "abc")', True),
    ("n := input.x; m := n; m > 2", "input.x >= 3", True),
    ('n := input.x; m := n; parts := split(m, ","); parts[0] == "CN=alice"', 'startswith(input.x, "CN=alice,")', True),
    ('n := input.x; m := n; m != "abcd"; count(n) > 3', "count(input.x) > 3", True),
    ('endswith(trim_suffix(input.x, ".txt"), "a")', 'glob.match("docs/*.txt", ["/"], input.x)', False),
    ('lower(input.x) == "admin"', 'input.x == "admin"', False),
]


def _input(v):
    return {} if v is ABSENT else {"x": v}


def _engine(body: str) -> OpaEngine:
    return OpaEngine({"p.rego": HEAD + f"allow if {{\n{body.replace('; ', chr(10))}\n}}\n"})


def _policy(body: str):
    return load_policy(HEAD + f"allow if {{\n{body.replace('; ', chr(10))}\n}}\n", decision="data.p.allow")


@pytest.mark.parametrize("v1, v2, decided", PAIRS, ids=[p[0] for p in PAIRS])
def test_compare_is_exact_against_opa_brute_force(v1, v2, decided):
    report = diff(_policy(v1), _policy(v2), dims=DIMS)
    engines = (_engine(v1), _policy(v1)), (_engine(v2), _policy(v2))

    opa = functools.partial(default_mode_decisions, engines)

    if decided:
        assert report.summary.complete, report.summary.incomplete_reasons
    assert_exact_or_blocks(report, opa, [_input(v) for v in VALUES])


def test_a_pair_that_agrees_everywhere_is_proved_equal():
    report = diff(_policy('sprintf("%s:%s", [input.x, "read"]) == "a:read"'),
                  _policy('concat(":", [input.x, "read"]) == "a:read"'), dims=DIMS)
    assert report.summary.complete and report.discrepancies == () and report.gate.passed


def test_the_boundary_between_gt_and_gte_is_found():
    report = diff(_policy("input.x > 2"), _policy("input.x >= 3"), dims=DIMS)
    (d,) = report.discrepancies
    assert d.direction == "v2_more_restrictive" and 2 < d.witness["x"] < 3


def test_ordering_on_the_runbook_model_is_decided_with_a_witness():
    head = "package p\nimport rego.v1\ndefault allow := false\n"
    v1 = load_policy(head + 'allow if input.resource.id < "m"', decision="data.p.allow")
    v2 = load_policy(head + 'allow if input.resource.id <= "l"', decision="data.p.allow")
    report = diff(v1, v2)
    assert report.summary.complete
    assert report.discrepancies
    o1 = OpaEngine({"a.rego": head + 'allow if input.resource.id < "m"'})
    o2 = OpaEngine({"b.rego": head + 'allow if input.resource.id <= "l"'})
    for d in report.discrepancies:
        assert "l" < d.witness["resource"]["id"] < "m"
        assert (decision(o1.evaluate("data.p.allow", d.witness)),
                decision(o2.evaluate("data.p.allow", d.witness))) == (True, False)


def test_every_combination_realised_by_the_solver_is_checked_by_the_evaluator():
    # a value that makes each of three atoms true or false independently: 8 cases
    from policydiff.analysis import analyze_policies
    from policydiff.matrix import Space

    p = _policy('input.x > 1; input.x < 10; input.x * 2 != 10')
    space = Space(analyze_policies(p), DIMS)
    (cs,) = [c for c in space.classes if c.atoms]
    sigs = {t.sig for t in cs.templates} | {cs.signature(v) for v in cs.fixed}
    numbers = [v for v in [t.make(0) for t in cs.templates] + cs.fixed
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert not space.incomplete
    for v in numbers:
        assert cs.signature(v) in sigs
    expect = {tuple(f(v) for f in (lambda x: x > 1, lambda x: x < 10, lambda x: x * 2 != 10))
              for v in itertools.chain(range(-3, 14), [1.5, 9.5])}
    assert expect <= {cs.signature(v) for v in numbers}


GRANTS = {"grants": {"viewer": ["project:read"], "developer": ["project:read", "project:write"],
                     "admin": ["project:read", "project:write", "project:delete", "settings:write"]},
          "restricted_kinds": ["secret"]}
DATA_DRIVEN = ("package authz\nimport rego.v1\ndefault allow := false\nallow if {\n"
               "  input.action in data.grants[input.subject.role]\n"
               "  not input.resource.kind in data.restricted_kinds\n}\n")


def test_a_data_driven_policy_is_decided_in_tenancy_mode_exactly():
    # issue 14, outcome 2: refused before as comparing input.action with attributes
    from policydiff.tenancy import Enterprise, Resource, Tenancy, User

    loosened = {"grants": dict(GRANTS["grants"], viewer=["project:read", "project:write"]),
                "restricted_kinds": []}
    t = Tenancy(enterprises=(Enterprise(id="e1", teams=("t1",)),),
                users=tuple(User(id=f"u-{r}", enterprise="e1", role=r, teams=("t1",))
                            for r in ("viewer", "developer", "admin")),
                resources=(Resource(id="r1", kind="project", enterprise="e1", team="t1"),
                           Resource(id="r2", kind="secret", enterprise="e1", team="t1")),
                actions=("project:read", "project:write", "project:delete", "settings:write"))
    p1 = load_policy(DATA_DRIVEN, data=GRANTS, decision="data.authz.allow")
    p2 = load_policy(DATA_DRIVEN, data=loosened, decision="data.authz.allow")
    report = diff(p1, p2, tenancy=t)
    assert report.summary.complete
    reported = {((d.tenant, d.role, d.action, d.relation), d.direction) for d in report.discrepancies}
    o1, o2 = OpaEngine({"a.rego": DATA_DRIVEN}, GRANTS), OpaEngine({"b.rego": DATA_DRIVEN}, loosened)
    differing = tenancy_differences(t, o1, o2, "data.authz.allow")
    assert differing and differing == reported
    symbolic = diff(p1, p2)
    assert symbolic.summary.complete and symbolic.summary.v2_more_permissive > 0


def test_membership_of_many_constants_in_an_input_array_is_decided_not_refused():
    # issue 14, outcome 2: 20 constants may be members of input.path; no matrix_too_large,
    # and no "searched only": one boolean per constant (policydiff.search)
    segs = [f"s{i}" for i in range(20)]
    rules = [f'allow if {{ input.method == "GET"; "{s}" in input.path }}' for s in segs[:10]]
    rules += [f'allow if {{ input.method == "POST"; input.path[_] == "{s}" }}' for s in segs[10:]]
    v1 = HEAD + "\n".join(rules) + "\n"
    v2 = v1 + 'allow if { input.method == "PUT"; "s3" in input.path }\n'
    report = diff(load_policy(v1, decision="data.p.allow"), load_policy(v2, decision="data.p.allow"),
                  dims=dimensions(["action=input.method"]))
    assert report.summary.complete, report.summary.incomplete_reasons
    (d,) = report.discrepancies
    o1, o2 = OpaEngine({"a.rego": v1}), OpaEngine({"b.rego": v2})
    assert d.direction == "v2_more_permissive" and d.witness["method"] == "PUT"
    assert not decision(o1.evaluate("data.p.allow", d.witness))
    assert decision(o2.evaluate("data.p.allow", d.witness))
    # the other cells: GET and POST allow some paths and not others, under both
    verdicts = {c.action: (c.v1, c.v2) for c in report.cells}
    assert verdicts["GET"] == verdicts["POST"] == ("mixed", "mixed")
    for method, seg in (("GET", "s9"), ("POST", "s19")):
        for path, allowed in (([seg, "x"], True), (["x", "s30"], False)):
            inp = {"method": method, "path": path}
            assert decision(o1.evaluate("data.p.allow", inp)) is allowed


# Relations between two input values (policydiff.relations), against OPA on every pair
# of these values.
PAIR_VALUES = [ABSENT, None, True, False, 0, 1, 2, 2.5, 3, "", "a", "ab", "abc", "b", "m", "ma", "x",
               "xa", "ax", "z", [], [1], {}, {"a": 1}]
RELATIONS = [
    ("input.a < input.b", "input.a <= input.b"),
    ("startswith(input.a, input.b)", "input.a == input.b"),
    ('input.a < input.b; input.a > "m"', 'input.b > "m"; input.a > "m"'),
    ("input.a > input.b", "input.b < input.a"),
    ("a := input.a; a < input.b", "input.a <= input.b"),
    ('b := input.b; startswith(input.a, b); b != "a"', "startswith(input.a, input.b)"),
    ("not endswith(input.a, input.b)", 'input.a != "x"'),
    ('contains(input.a, input.b); startswith(input.b, "a")', 'startswith(input.a, "a")'),
]


@pytest.mark.parametrize("v1, v2", RELATIONS, ids=[r[0] for r in RELATIONS])
def test_relations_between_two_values_are_exact_against_opa_brute_force(v1, v2):
    report = diff(_policy(v1), _policy(v2), dims=DIMS)
    assert report.summary.complete, report.summary.incomplete_reasons
    engines = (_engine(v1), _policy(v1)), (_engine(v2), _policy(v2))

    opa = functools.partial(default_mode_decisions, engines)

    reported = {d.direction for d in report.discrepancies}
    for d in report.discrepancies:
        assert opa(d.witness) == (d.v1 == "allow", d.v2 == "allow"), d.witness
    for a, b in itertools.product(PAIR_VALUES, repeat=2):
        inp = {k: v for k, v in (("a", a), ("b", b)) if v is not ABSENT}
        a1, a2 = opa(inp)
        if a1 != a2:
            assert ("v2_more_permissive" if a2 else "v2_more_restrictive") in reported, inp


# A relation between two values of a class of three: the third meets them by equality
# (or constants) only. OPA on every triple of these values.
TRIPLE_VALUES = [ABSENT, None, 1, 2, 2.5, "", "a", "ab", "b", "m", "x", [1]]
THIRD_VALUES = [ABSENT, 1, 2, "a", "ab", "m", "x"]
TRIPLES = [
    ("input.a < input.b; input.b == input.c", 'input.c == input.b; input.a < input.b; input.c != "x"'),
    ("input.a < input.b; input.c != input.a", "input.a < input.b"),
    ('startswith(input.a, input.b); input.c == input.a; input.c != "ab"', "startswith(input.a, input.b)"),
    ('input.a <= input.b; input.c in {"m", input.b}', 'input.a < input.b; input.c == "m"'),
]


@pytest.mark.parametrize("v1, v2", TRIPLES, ids=[t[0] for t in TRIPLES])
def test_a_relation_in_a_class_of_three_values_is_exact_against_opa_brute_force(v1, v2):
    report = diff(_policy(v1), _policy(v2), dims=DIMS)
    assert report.summary.complete, report.summary.incomplete_reasons
    engines = (_engine(v1), _policy(v1)), (_engine(v2), _policy(v2))

    opa = functools.partial(default_mode_decisions, engines)

    reported = {d.direction for d in report.discrepancies}
    for d in report.discrepancies:
        assert opa(d.witness) == (d.v1 == "allow", d.v2 == "allow"), d.witness
    for a, b, c in itertools.product(TRIPLE_VALUES, TRIPLE_VALUES, THIRD_VALUES):
        inp = {k: v for k, v in (("a", a), ("b", b), ("c", c)) if v is not ABSENT}
        a1, a2 = opa(inp)
        if a1 != a2:
            assert ("v2_more_permissive" if a2 else "v2_more_restrictive") in reported, inp


def test_a_relation_is_decided_over_a_tenancy_exactly():
    # related values are grouped only with equal values: every request's verdicts stand
    from policydiff.tenancy import Enterprise, Resource, Tenancy, User

    head = "package p\nimport rego.v1\ndefault allow := false\n"
    v1 = head + 'allow if { input.action == "read"; startswith(input.resource.id, input.subject.id) }\n'
    v2 = head + 'allow if { input.action == "read"; input.resource.id == input.subject.id }\n'
    t = Tenancy(enterprises=(Enterprise(id="e1", teams=("t1",)),),
                users=(User(id="u1", enterprise="e1", role="viewer"), User(id="u", enterprise="e1", role="viewer"),
                       User(id="u1-doc", enterprise="e1", role="admin")),
                resources=(Resource(id="u1-doc", kind="project", enterprise="e1"),
                           Resource(id="u1", kind="project", enterprise="e1")),
                actions=("read", "write"))
    p1, p2 = load_policy(v1, decision="data.p.allow"), load_policy(v2, decision="data.p.allow")
    report = diff(p1, p2, tenancy=t)
    assert report.summary.complete, report.summary.incomplete_reasons
    reported = {((d.tenant, d.role, d.action, d.relation), d.direction) for d in report.discrepancies}
    o1, o2 = OpaEngine({"a.rego": v1}), OpaEngine({"b.rego": v2})
    differing = tenancy_differences(t, o1, o2, "data.p.allow")
    assert differing and differing == reported


def test_an_atom_that_does_not_compile_raises_rather_than_reads_false():
    # `truth` answers false for an evaluation error (undefined, as OPA's default mode), but an
    # atom whose query cannot be compiled is a defect: reading it as false would hide it
    import msgspec

    from policydiff import solver
    from policydiff.analysis import analyze_policies
    from policydiff.errors import PolicydiffError
    from policydiff.matrix import Space

    space = Space(analyze_policies(_policy("input.x > 1")), DIMS)
    (atom,) = [a for c in space.classes for a in c.atoms]
    assert solver.truth(atom, 2) is True and solver.truth(atom, 1) is False
    assert solver.truth(atom, "s") is True  # strings order after numbers, as in OPA
    assert solver.truth(atom, None) is False and solver.truth(atom, None, absent=True) is False
    from policydiff.frontend.rego import parse_query

    broken = msgspec.structs.replace(atom, body=parse_query("nowhere.f(input.x)"),
                                     key=atom.key + "+broken")
    with pytest.raises(PolicydiffError):
        solver.truth(broken, 2)
