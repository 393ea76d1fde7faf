"""A policy function called on one input value is an atom of that value (issue 14).

`is_consumer(input.principal)` with `is_consumer(x) if regex.match(".*-consumer", x)`
tests one value; when every clause of the function reads only its parameter and
constants, the call is evaluated on candidate values like any other atom. The solver
encodes it as the disjunction of its clauses when each has the value `true`, no `else`
and an encodable body; otherwise witnesses come from the seeded search and the compare
stays unproved (the gate blocks) unless every combination is realised. Ground truth is real
OPA over a product of values, as in tests/test_solver.py: every witness differs under
OPA as reported, and a complete report covers every input on which OPA's decisions
differ.
"""

from __future__ import annotations

import functools

import pytest
from engines import OpaEngine, assert_exact_or_blocks, default_mode_decisions

from policydiff import atoms, formulas
from policydiff.diff import diff
from policydiff.matrix import dimensions
from policydiff.policy import load_policy

HEAD = "package p\nimport rego.v1\ndefault allow := false\n"
DIMS = dimensions(["action=input.action"])
ABSENT = object()
VALUES = [ABSENT, None, True, 0, 2, 3, 3.5, 4, "", "a", "ab", "abc", "abcd", "b", "-consumer",
          "a-consumer", "a-consumerx", "consumer", "svc-consumer", "CN=a", "admin", "Admin", "ADMIN", 1, [], {}]

# (v1, v2): whole rules, one per line after "; "
PAIRS = [
    ('is_consumer(x) if regex.match(".*-consumer", x); allow if is_consumer(input.x)',
     'allow if endswith(input.x, "-consumer")'),
    # several clauses: the function is their disjunction
    ('f(x) if startswith(x, "ab"); f(x) if x > 3; allow if f(input.x)', "allow if input.x >= 3"),
    # the same name, another body in each policy: two atoms, not one
    ('f(x) if count(x) > 2; allow if f(input.x)', 'f(x) if count(x) > 3; allow if f(input.x)'),
    ('f(x) if { n := count(x); n > 3 }; allow if { input.x != "abcd"; not f(input.x) }',
     'allow if { input.x != "abcd"; count(input.x) <= 3 }'),
    ('f(x) := "yes" if count(x) > 2 else := false; allow if f(input.x)', 'allow if startswith(input.x, "abc")'),
    ('f(x) if startswith(x, "ab"); f(x) if x > 3; allow if { not f(input.x); input.x != 1 }',
     "allow if input.x < 3"),
    ('f(x) if x > 2; allow if { n := input.x; m := n; f(m) }', "allow if input.x >= 3"),
    # a value other than `true`, an `else` chain: encoded as a derived rule's value
    ('f(x) := "admin" if regex.match("^a", x) else := "user"; allow if f(input.x) == "admin"',
     'allow if startswith(input.x, "a")'),
    ('f(x) := "admin" if regex.match("^a", x) else := "user" if x > 2; allow if f(input.x) != "admin"',
     "allow if input.x > 2"),
    # several definitions of one value, a constant parameter
    ('f(x) := "a" if x > 2; f(x) := "a" if regex.match("^b", x); allow if f(input.x) == "a"',
     "allow if input.x > 2"),
    ('f("a") := true; f(x) if x < 2; allow if f(input.x)', "allow if input.x < 2"),
    # the parameter itself as a value, `false` as a value
    ('u(x) := x if regex.match("b$", x) else := "z"; allow if startswith(u(input.x), "a")',
     'allow if { startswith(input.x, "a"); endswith(input.x, "b") }'),
    ("v(x) := false if x > 2 else := true; allow if { v(input.x); input.x != 0 }", "allow if input.x < 2"),
    # several parameters, one given the input value and the others constants
    ("in_range(x, lo, hi) if { x >= lo; x <= hi }; allow if in_range(input.x, 1, 4)",
     "allow if { input.x >= 1; input.x < 4 }"),
    ('has(x, p) if { count(x) > 1; startswith(x, p) }; allow if has(input.x, "ab")',
     'allow if startswith(input.x, "ab")'),
    ("f(x, n) if count(x) > n; allow if f(input.x, 2)", "f(x, n) if count(x) > n; allow if f(input.x, 3)"),
    ("f(n, x) := x > n; allow if f(2, input.x)", "allow if input.x > 2"),
    # `lower` is not encoded: witnesses from the search, the rest unproved
    ('f(x) if lower(x) == "admin"; allow if f(input.x)', 'allow if input.x == "admin"'),
    # not a function of its parameter only: left to the value-flow analysis
    ("f(x) if x == input.y; allow if f(input.x)", "allow if input.x == 3"),
    ("f(x) if x > limit; limit := 2; allow if f(input.x)", "allow if input.x > 2"),
    ('f(x) if g(x); g(x) if startswith(x, "a"); allow if f(input.x)', 'allow if startswith(input.x, "a")'),
]


# pairs whose compare must come out complete (the solver proves every cell)
DECIDED = {PAIRS[i][0] for i in (0, 1, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)}


def _text(rules: str) -> str:
    return HEAD + rules.replace("; ", "\n") + "\n"


def _input(v):
    return {} if v is ABSENT else {"x": v}


@pytest.mark.parametrize("v1, v2", PAIRS, ids=[p[0] for p in PAIRS])
def test_compare_with_a_function_atom_is_exact_or_blocks(v1, v2):
    p1, p2 = (load_policy(_text(v), decision="data.p.allow") for v in (v1, v2))
    report = diff(p1, p2, dims=DIMS)
    engines = (OpaEngine({"a.rego": _text(v1)}), p1), (OpaEngine({"b.rego": _text(v2)}), p2)

    opa = functools.partial(default_mode_decisions, engines)
    assert report.summary.complete or v1 not in DECIDED, report.summary.incomplete_reasons
    assert_exact_or_blocks(report, opa, [_input(v) for v in VALUES])


def _atoms(rules: str) -> list[atoms.Atom]:
    (module,) = load_policy(_text(rules), data={"xs": [1]}, decision="data.p.allow").modules
    clauses = {r.name: tuple(c for c in module.rules if c.name == r.name) for r in module.rules}
    out = []
    for rule in module.rules:
        if rule.name == "allow":
            out += atoms.find(rule, {"input": ()}, lambda f: clauses.get(f, (None,))[0] is not None
                              and clauses[f][0].kind == "function", clauses.get)[1]
    return out


def test_a_pure_function_call_on_input_is_an_atom_carrying_its_clauses():
    (a,) = _atoms('f(x) if startswith(x, "ab"); f(x) if x > 3; allow if f(input.x)')
    assert a.path == ("x",) and len(a.functions) == 2 and all(r.name == "f" for r in a.functions)
    report = diff(*(load_policy(_text(v), decision="data.p.allow") for v in (
        'f(x) if startswith(x, "ab"); f(x) if x > 3; allow if f(input.x)', "allow if input.x >= 3")), dims=DIMS)
    # the solver finds the one value v2 alone allows (a string is above every number),
    # and proves there is no other: the clauses are encoded as their disjunction
    (d,) = report.discrepancies
    assert d.direction == "v2_more_permissive" and d.witness == {"x": 3}
    assert report.summary.complete


def test_a_function_the_solver_cannot_encode_is_searched_and_blocks():
    v1, v2 = 'f(x) if lower(x) == "admin"; allow if f(input.x)', 'allow if input.x == "admin"'
    report = diff(*(load_policy(_text(v), decision="data.p.allow") for v in (v1, v2)), dims=DIMS)
    assert not report.summary.complete and not report.gate.passed
    assert any("`f`" in r for r in report.summary.incomplete_reasons), report.summary.incomplete_reasons


@pytest.mark.parametrize("rules", [
    "f(x) if x == input.y; allow if f(input.x)",  # reads other input
    "f(x) if x > limit; limit := 2; allow if f(input.x)",  # reads a rule
    "f(x) if x in data.xs; allow if f(input.x)",  # reads data
    'f(x) if g(x); g(x) if startswith(x, "a"); allow if f(input.x)',  # calls another function
    "f(x) if x > 1; allow if { f(input.x, y); y }",  # the output argument
    "f(x, y) if x > y; allow if f(input.x, input.y)",  # two input values
    "f(x, y) := x > y; allow if { f(input.x, 2, z); z }",  # the output argument
    'f(x) if startswith(x, "a"); f(x) if x == "b"; allow if f(input.x)',  # the partition splits on these
    "f(x) if x > 1; f(x) if x == input.y; allow if f(input.x)",  # one clause reads other input
    'f(x) if x > 1 else := input.y; allow if f(input.x)',  # its `else` does
    "f(x) if count([y | some y in input.z]) > 1; allow if f(input.x)",  # a comprehension reading input
    "f(x) if count([y | some y in x; y > limit]) > 1; limit := 2; allow if f(input.x)",  # ... or a rule
])
def test_a_function_reading_anything_but_its_parameter_is_no_atom(rules):
    assert not any(a.functions for a in _atoms(rules))


@pytest.mark.parametrize("rules", [p[0] for p in PAIRS[:18]] + [
    "f(x) if count([y | some y in x]) > 1; allow if f(input.x)",  # a comprehension's own variables
])
def test_the_pure_functions_above_are_atoms(rules):
    assert any(a.functions for a in _atoms(rules))


@pytest.mark.parametrize("domain", ["string", "number"])
def test_definitions_of_different_values_are_not_encoded(domain):
    # `f(3.5)` is both 1 and 2: OPA's conflict error, which no formula stands for
    (a,) = _atoms("f(x) := 1 if x > 2; f(x) := 2 if x > 3; allow if f(input.x) == 1")
    assert formulas.Encoder(domain).atom(a) is None
    (a,) = _atoms("f(x) := 1 if x > 2; f(x) := 1 if x > 3; allow if f(input.x) == 1")
    assert formulas.Encoder(domain).atom(a) is not None


# a function of another package, imported (`import data.lib.util`) or named in full
LIB = "package lib.util\nimport rego.v1\n"
LIB_HEAD = "package p\nimport rego.v1\nimport data.lib.util\ndefault allow := false\n"
LIB_PAIRS = [  # (lib, v1, v2), whole rules one per line after "; "
    ('is_admin(x) if regex.match("^adm", x)', "allow if util.is_admin(input.x)", 'allow if startswith(input.x, "ad")'),
    ("in_range(x, lo, hi) if { x >= lo; x <= hi }", "allow if util.in_range(input.x, 1, 4)",
     "allow if { input.x >= 1; input.x < 4 }"),
    ('role(x) := "admin" if regex.match("^a", x) else := "user"', 'allow if data.lib.util.role(input.x) == "admin"',
     'allow if startswith(input.x, "a")'),
    # reading more than its parameters: left to the value flow
    ('is_admin(x) if regex.match(prefix, x); prefix := "^adm"', "allow if util.is_admin(input.x)",
     'allow if startswith(input.x, "adm")'),
    ('is_admin(x) if g(x); g(x) if regex.match("^adm", x)', "allow if util.is_admin(input.x)",
     'allow if startswith(input.x, "adm")'),
    ("f(x) if x > input.y", "allow if util.f(input.x)", "allow if input.x > 2"),
]
LIB_DECIDED = {LIB_PAIRS[i][1] + LIB_PAIRS[i][0] for i in (0, 1, 2)}


def _lib_texts(lib: str, rules: str) -> dict[str, str]:
    return {"a.rego": LIB_HEAD + rules.replace("; ", "\n") + "\n", "lib.rego": LIB + lib.replace("; ", "\n") + "\n"}


@pytest.mark.parametrize("lib, v1, v2", LIB_PAIRS, ids=[p[0] for p in LIB_PAIRS])
def test_a_function_of_another_package_is_an_atom_when_it_reads_only_its_parameters(lib, v1, v2):
    policies = [load_policy(list(_lib_texts(lib, v).values()), decision="data.p.allow") for v in (v1, v2)]
    report = diff(*policies, dims=DIMS)
    engines = tuple((OpaEngine(_lib_texts(lib, v)), p) for v, p in zip((v1, v2), policies))
    opa = functools.partial(default_mode_decisions, engines)
    assert report.summary.complete or v1 + lib not in LIB_DECIDED, report.summary.incomplete_reasons
    assert_exact_or_blocks(report, opa, [_input(v) | {"y": 2} for v in VALUES])


def test_a_function_of_another_package_reading_its_rules_is_unproved():
    lib, v1, v2 = LIB_PAIRS[3]
    report = diff(*(load_policy(list(_lib_texts(lib, v).values()), decision="data.p.allow") for v in (v1, v2)),
                  dims=DIMS)
    assert not report.summary.complete and not report.gate.passed


def test_a_function_whose_definitions_may_conflict_is_never_proved():
    # "abz" makes `f` both 1 and 2: OPA halts with a conflict, which the values tried
    # need not meet, so the compare names it and blocks
    v1 = 'f(x) := 1 if regex.match("^a", x); f(x) := 2 if regex.match("^ab.*z$", x); allow if f(input.x) == 1'
    report = diff(*(load_policy(_text(v), decision="data.p.allow") for v in (
        v1, 'allow if regex.match("^a", input.x)')), dims=DIMS)
    assert not report.summary.complete and not report.gate.passed
    assert any("definitions of different values" in r for r in report.summary.incomplete_reasons), \
        report.summary.incomplete_reasons
