"""A rule whose value is derived from one input value is read by atoms (issue 14).

`username := cn[0] if { name := input.principal; startswith(name, "CN=");
cn := split(name, ".") } else := input.principal` is a function of one input value: a
test on it (`regex.match(".*-consumer", username)`, `username == "localhost"`) is an
atom of that value, and the rule's clauses travel with the atom to the evaluator. When
only atoms read the rule, its own builtins leave nothing unproved. Ground truth is real
OPA over a product of values, as in tests/test_function_atoms.py: every witness differs
under OPA as reported, and a complete report covers every input on which OPA's
decisions differ; an incomplete one blocks the gate.
"""

from __future__ import annotations

import functools
import itertools

import pytest
from engines import OpaEngine, assert_exact_or_blocks, default_mode_decisions

from policydiff import atoms
from policydiff.diff import diff
from policydiff.matrix import dimensions
from policydiff.policy import load_policy

HEAD = "package p\nimport rego.v1\ndefault allow := false\n"
DIMS = dimensions(["action=input.action"])
ABSENT = object()
XS = [ABSENT, None, True, 0, 2, 3, 3.5, "", "a", "ab", "abc", "abcd", "A", "Admin", "admin", "none",
      "-consumer", "a-consumer", "a-consumerx", "CN=", "CN=a", "CN=a-consumer", "CN=a.b-consumer",
      "CN=a-consumer.b", "CN=admin", "CN=a,O=b", "CN=a,CN=b", "localhost", "CN=localhost", [], ["a"], {}]
YS = [ABSENT, "a", "ab", "a-consumer"]

# (v1, v2): whole rules, one per line after "; "; the pairs in DECIDED must come out complete
PAIRS = [
    # the Kafka authorizer's shape: `else` gives the value itself
    (('name := substring(input.x, 3, -1) if startswith(input.x, "CN=") else := input.x; '
     'allow if regex.match(".*-consumer", name)'), 'allow if endswith(input.x, "-consumer")'),
    ('name := substring(input.x, 3, -1) if startswith(input.x, "CN=") else := input.x; allow if name == "admin"',
     'allow if input.x in {"admin", "CN=admin"}'),
    (('name := substring(input.x, 3, -1) if startswith(input.x, "CN=") else := input.x; '
      'allow if regex.match("-consumer$", name)'),
     'allow if { endswith(input.x, "-consumer"); not startswith(input.x, "CN=") }'),
    ('u := input.x if startswith(input.x, "a") else := "none"; allow if u == "none"',
     'allow if not startswith(input.x, "a")'),
    ('default u := 0; u := count(input.x); allow if u > 2', "allow if count(input.x) >= 3"),
    ('u := trim(input.x, "-") if true; allow if { startswith(u, "a"); not endswith(u, "x") }',
     'allow if startswith(input.x, "a")'),
    # a local naming the rule's value, and a test by `not`
    ('u := lower(input.x); allow if { v := u; v == "admin" }', 'allow if input.x == "admin"'),
    ('u := lower(input.x); allow if { input.x != 0; not u == "admin" }', 'allow if input.x != "admin"'),
    # a boolean rule read as a test
    ('ok := regex.match("^a", input.x); allow if ok', 'allow if startswith(input.x, "a")'),
    # the decision itself derived: it stays a value the classes follow
    ('allow := regex.match("^a", input.x)', 'allow if startswith(input.x, "a")'),
    # the Kafka parse: an object comprehension in a function the rule calls
    (('parse(s) := {k: v | some p in split(s, ","); [k, v] := split(p, "=")}; '
     'user := parse(input.x).CN if startswith(input.x, "CN=") else := input.x; '
     'allow if regex.match(".*-consumer", user)'), 'allow if endswith(input.x, "-consumer")'),
    # not derived from one value, or read by more than atoms: the value flow decides
    ('u := concat("", [input.x, input.y]); allow if startswith(u, "ab")', 'allow if startswith(input.x, "ab")'),
    ('u := trim(input.x, "-"); allow if u == input.y', "allow if input.x == input.y"),
    ('u := upper(input.x); v := u; allow if v == "A"', 'allow if input.x == "a"'),
    ('u := 1 if input.x == "a"; u := 1 if input.x == "ab"; allow if u == 1', 'allow if input.x == "a"'),
]

# `substring` and `regex.match` (z3 is slow to prove "-consumer" anywhere in a suffix,
# PAIRS[0], on a loaded machine), `count` and a default, a boolean rule
DECIDED = {PAIRS[i][0] for i in (1, 2, 4, 8)}


def _text(rules: str) -> str:
    return HEAD + rules.replace("; ", "\n") + "\n"


def _input(x, y):
    return {k: v for k, v in (("x", x), ("y", y)) if v is not ABSENT}


@pytest.mark.parametrize("v1, v2", PAIRS, ids=[p[0] for p in PAIRS])
def test_compare_with_a_derived_value_is_exact_or_blocks(v1, v2):
    p1, p2 = (load_policy(_text(v), decision="data.p.allow") for v in (v1, v2))
    report = diff(p1, p2, dims=DIMS)
    engines = (OpaEngine({"a.rego": _text(v1)}), p1), (OpaEngine({"b.rego": _text(v2)}), p2)
    opa = functools.partial(default_mode_decisions, engines)

    ys = YS if "input.y" in v1 + v2 else [ABSENT]
    assert report.summary.complete or v1 not in DECIDED, report.summary.incomplete_reasons
    assert_exact_or_blocks(report, opa, [_input(x, y) for x, y in itertools.product(XS, ys)])


def _atoms(rules: str) -> list[atoms.Atom]:
    (module,) = load_policy(_text(rules), decision="data.p.allow").modules
    clauses = {r.name: tuple(c for c in module.rules if c.name == r.name) for r in module.rules}
    out = []
    for rule in module.rules:
        if rule.name == "allow":
            out += atoms.find(rule, {"input": ()}, lambda f: f in clauses and clauses[f][0].kind == "function",
                              clauses.get)[1]
    return out


def test_a_test_on_a_derived_value_is_an_atom_carrying_the_rule():
    (a,) = _atoms('name := substring(input.p.n, 3, -1) if startswith(input.p.n, "CN=") else := input.p.n; '
                  'allow if name == "admin"')
    assert a.path == ("p", "n")
    (rule,) = a.functions
    assert rule.name == "name" and rule.else_ is not None
    assert "input.p" not in atoms.body_key((rule,)) and '"x"' in atoms.body_key((rule,))


@pytest.mark.parametrize("rules", [
    'u := concat("", [input.x, input.y]); allow if startswith(u, "ab")',  # two input values
    'u := 1 if input.x == "a"; u := 1 if input.x == "ab"; allow if u == 1',  # two definitions
    'u := v if { some v in split(input.x, ",") }; allow if u == "a"',  # iteration: may conflict
    'u := lower(input.x) if input.x != limit; limit := "b"; allow if u == "a"',  # reads a rule
    'u := lower(input.x); allow if { some u in ["a"]; u == "a" }',  # a local of the same name
])
def test_a_rule_reading_more_than_one_value_is_no_derived_value(rules):
    assert not any(r.kind == "complete" for a in _atoms(rules) for r in a.functions)


def test_the_solver_encodes_a_derived_value_and_its_else_chain():
    v1, v2 = PAIRS[2]  # `regex.match("-consumer$", name)`, `name` the CN or the value itself
    report = diff(*(load_policy(_text(v), decision="data.p.allow") for v in (v1, v2)), dims=DIMS)
    # v1 alone allows a CN ending in "-consumer"; the other combinations (a value v1
    # allows and v2 does not, other than by its "CN=") are proved impossible
    (d,) = report.discrepancies
    assert d.direction == "v2_more_restrictive"
    assert d.witness["x"].startswith("CN=") and d.witness["x"].endswith("-consumer")
    assert report.summary.complete and report.summary.incomplete_reasons == ()


def test_a_rule_read_only_by_atoms_leaves_nothing_unproved():
    v1 = 'u := trim(input.x, "-") if true; allow if { startswith(u, "a"); not endswith(u, "x") }'
    report = diff(*(load_policy(_text(v), decision="data.p.allow") for v in (
        v1, 'allow if startswith(input.x, "a")')), dims=DIMS)
    assert not any("`trim` on a value read from input" in r for r in report.summary.incomplete_reasons)
    # read by a relation too: the rule is followed by the value flow, and its `trim` is named
    report = diff(*(load_policy(_text(v), decision="data.p.allow") for v in (
        'u := trim(input.x, "-"); allow if u == input.y', "allow if input.x == input.y")), dims=DIMS)
    assert any("`trim` on a value read from input" in r for r in report.summary.incomplete_reasons)
    assert not report.gate.passed


def test_an_object_built_by_a_comprehension_is_never_proved():
    v1 = ('parse(s) := {k: v | some p in split(s, ","); [k, v] := split(p, "=")}; '
          'user := parse(input.x).CN if startswith(input.x, "CN=") else := input.x; '
          'allow if regex.match(".*-consumer", user)')
    report = diff(*(load_policy(_text(v), decision="data.p.allow") for v in (
        v1, v1.replace("-consumer", "-producer"))), dims=DIMS)
    assert not report.summary.complete and not report.gate.passed
    assert any("conflict" in r for r in report.summary.incomplete_reasons), report.summary.incomplete_reasons
    # a number is never "CN=...": the first clause fails before the comprehension, and
    # the `else` gives the number itself, which `regex.match` does not take
    assert not any("number values" in r for r in report.summary.incomplete_reasons)


@pytest.mark.parametrize("rules", [
    'u := lower(input.x); allow if u == "admin"; v if data.p.u == "admin"',  # read through `data`
    'u := lower(input.x); allow if u == "admin"; v := u',  # read as a value
    'u := lower(input.x); allow if u == "admin"; v if { allow with input.x as "ADMIN" }',  # `with`
    'u := lower(input.x); allow if { u == "admin"; count([1 | u == "b"]) == 0 }',  # in a comprehension
])
def test_a_derived_rule_read_beyond_atoms_keeps_its_reason(rules):
    report = diff(*(load_policy(_text(v), decision="data.p.allow") for v in (
        rules, 'allow if input.x == "admin"')), dims=DIMS)
    assert any("`lower` on a value read from input" in r for r in report.summary.incomplete_reasons), \
        report.summary.incomplete_reasons
    assert not report.gate.passed
