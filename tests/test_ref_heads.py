"""General reference heads (`roles[t][u] := true`, `p[x].q contains y`, `p["k"] := v`)
against real OPA: values, prefix queries, references from other rules, conflicts at
evaluation and at compile time, mixing with plain rules and `default`.

OPA's answer is computed here, never written down: policydiff must give the same value,
fail where OPA fails (with OPA's error code), or refuse the module as `unsupported`.
A hypothesis generator draws small sets of such rules over a random input.
"""

from __future__ import annotations

import re

import pytest
from engines import UNDEFINED, EngineError, OpaEngine, PolicydiffEngine, Refused
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SOLUTIONS = (
    "roles[t][u] := true if {\n\tsome t, us in input.members\n\tsome u in us\n}\n"
)

CASES = {
    "ground-key-beside-set": (
        'conditions["tenant"] := input.tenant\nconditions.or contains "x" if input.flag',
        ["data.ok.conditions", "data.ok.conditions.or", "data.ok"],
        [{"tenant": "a", "flag": True}, {}],
    ),
    "two-variable-keys": (
        SOLUTIONS,
        ["data.ok.roles", "data.ok.roles.acme", "data.ok.roles.acme.alice", "data.ok.roles.none", "data.ok"],
        [{"members": {"acme": ["alice", "bob"], "umbrella": ["carol"]}}, {}],
    ),
    "variable-then-constant": (
        'p[x].q := 1 if some x in input.xs\np.b := 2',
        ["data.ok.p", "data.ok.p.a", "data.ok.p.b"],
        [{"xs": ["a"]}, {"xs": ["b"]}, {"xs": [1, "c"]}],
    ),
    "constant-then-variable-beside-deeper": (
        'p.q[x] := 1 if some x in input.xs\np.q[y].s := 4 if some y in input.ys',
        ["data.ok.p", "data.ok.p.q"],
        [{"xs": ["a"], "ys": ["b"]}, {"xs": ["a"], "ys": ["a"]}],
    ),
    "conflict-at-one-path": (
        'p[x][y] := 1 if {some x in input.xs; y := "c"}\np[x][y] := 2 if {some x in input.ys; y := "c"}',
        ["data.ok.p", "data.ok.p.a", "data.ok.p.b"],
        [{"xs": ["a", "b"], "ys": ["b"]}, {"xs": ["a"], "ys": ["b"]}],
    ),
    "value-where-another-goes-deeper": (
        'p[x] := {"q": 1} if some x in input.xs\np.a.r := 2',
        ["data.ok.p", "data.ok.p.b"],
        [{"xs": ["a"]}, {"xs": ["b"]}],
    ),
    "sets-at-one-path": (
        'p[x] contains y if {some x in input.xs; y := input.y}\np.b contains 3',
        ["data.ok.p", "data.ok.p.b"],
        [{"xs": ["b"], "y": 2}, {"xs": ["c"], "y": 2}, {}],
    ),
    # a set where another rule's head goes deeper: a conflict for the whole, not below
    "set-above-a-deeper-rule": (
        ('p[x] contains 1 if some x in input.xs\np.b.c := 1\np.d[y].e contains y if some y in input.xs\n'
        "q := p[input.k].c\nr := [v | v := p.d[_].e[_]]"),
        ["data.ok.p", "data.ok.p.b", "data.ok.p.b.c", "data.ok.q", "data.ok.r", "data.ok.p.d"],
        [{"xs": ["b"], "k": "b"}, {"xs": ["a", "d"], "k": "b"}],
    ),
    "set-value-beside-plain-set": (
        'p.b contains 4\np[x] := input.v if some x in input.xs',
        ["data.ok.p"],
        [{"xs": ["b"], "v": [3]}, {"xs": ["b"], "v": 5}, {"xs": ["c"], "v": 5}],
    ),
    "references-from-rules": (
        SOLUTIONS + "allow if roles[input.t][input.u]\nf(t) := count(roles[t])\nn := f(\"acme\")\n"
        "ts := {t | some t, _ in roles}\nacme := roles.acme",
        ["data.ok.allow", "data.ok.n", "data.ok.ts", "data.ok.acme"],
        [{"members": {"acme": ["alice"]}, "t": "acme", "u": "alice"}, {"members": {}, "t": "x", "u": "y"}],
    ),
    # a partial object is a head with one variable: a lookup meets only its key
    "partial-object-lookups": (
        ('p[k] := 1 if some k in input.ks\np[k] := 2 if some k in input.js\n'
        'o[k] := upper(k) if some k in input.ks\nq := p.a\nr := p[input.k]\ns := o.a'),
        ["data.ok.p", "data.ok.p.a", "data.ok.q", "data.ok.r", "data.ok.o", "data.ok.s"],
        [{"ks": ["a", "b", 1], "js": ["b"], "k": "a"}, {"ks": ["a"], "js": ["a"], "k": "b"}],
    ),
    # a tree that reads no input: its whole object once, the path alone where that fails
    "static-tree-by-input-keys": (
        ('g[r][a] := true if {some r, acts in {"dev": ["read"], "adm": ["read", "write"]}; some a in acts}\n'
        'h[r].v := 1 if some r in ["x", "y"]\nh[r].v := 2 if some r in ["y"]\n'
        "allow if g[input.r][input.a]\nhx := h[input.r].v"),
        ["data.ok.allow", "data.ok.hx", "data.ok.g.adm", "data.ok.h"],
        [{"r": "adm", "a": "write"}, {"r": "dev", "a": "write"}, {"r": "x"}, {"r": "y"}],
    ),
    "conflict-elsewhere-does-not-show": (
        ('r[x][y] := 1 if {x := "a"; y := "b"}\nr[x][y] := 2 if {x := "c"; y := "b"}\n'
        'r[x][y] := 3 if {x := "c"; y := "b"}\nq1 := r.a\nq2 := r[input.k]'),
        ["data.ok.q1", "data.ok.q2", "data.ok.r.a.b", "data.ok.r.c"],
        [{"k": "a"}, {"k": "c"}, {}],
    ),
    # OPA binds the keys asked for before the body: a builtin error on another path
    # (strict mode, as these engines run) shows only when the whole tree is asked for
    "error-on-another-path": (
        ('p[x].b := y if {some x in input.xs; y := upper(x)}\nq := p.a\nr := p[input.k]\n'
        's[x][z] := y if {x := input.x; z := "q"; y := upper(x)}\nt := s.a'),
        ["data.ok.p", "data.ok.p.a", "data.ok.q", "data.ok.r", "data.ok.s", "data.ok.s.a", "data.ok.t"],
        [{"xs": ["a", 1], "k": "a", "x": 1}, {"xs": ["a"], "k": "b", "x": "a"}],
    ),
    "typed-leaves-beside-others": (
        ('p[x].q := 2 if x := input.x\np.b := "s"\np.r[y] := {y} if y := input.y\n'
        'v := p.a.q + 1\nw := p.r.c | {"d"}'),
        ["data.ok.v", "data.ok.w", "data.ok.p"],
        [{"x": "a", "y": "c"}, {}],
    ),
    # OPA 1.20 leaves out a default inside a tree, even where nothing else is
    "default-inside-the-tree": (
        ("default p.a := 5\np.a := 7 if input.q\np[x] := 1 if x := input.x\nr := p.a\n"
        "default s.q.a := 5\ns.q[x] := 1 if x := input.x"),
        ["data.ok.p", "data.ok.p.a", "data.ok.r", "data.ok.s", "data.ok.s.q.a"],
        [{"q": True}, {"q": False}, {"x": "a"}, {}],
    ),
    "default-beside-the-tree": (
        'default p.a := 5\np.b[x] := 1 if some x in input.xs',
        ["data.ok.p", "data.ok.p.a", "data.ok.p.b"],
        [{"xs": ["z"]}, {}],
    ),
    "plain-rules-reading-the-tree": (
        'p.a := 1\np.b := p.a + 1\np[x] := 5 if some x in input.xs',
        ["data.ok.p", "data.ok.p.b"],
        [{"xs": ["c"]}, {"xs": ["b"]}],
    ),
    "number-keys": (
        'p[1] := 2\np[x] := 3 if some x in input.xs',
        ["data.ok.p"],
        [{"xs": [2]}, {"xs": [1]}],
    ),
    "default-ref-with-a-string-key": ('default p["a"] := 1\np.b := 2 if input.x', ["data.ok.p"], [{}, {"x": 1}]),
}

# Modules OPA refuses at compile time: policydiff must refuse them too, with OPA's code.
COMPILE_ERRORS = {
    "multi-and-single-value-at-one-node": 'p[x] contains 3 if x := "b"\np[y] := 4 if y := "c"',
    "single-and-multi-under-one-variable": 'p[x].a := 3 if x := "b"\np[x].b contains 4 if x := "c"',
    "rule-above-ref-heads": 'default p := 5\np[x] := 1 if x := input.x',
    "rule-with-rules-below": 'p["a"] := 1\np.a.b := 2',
    "function-in-the-tree": 'p[x] := 1 if x := "a"\np.f(y) := 2',
    "set-with-ref-heads-below": 'p.q contains 3\np.q[y].s := 4 if y := "c"',
    "recursive-through-the-tree": 'p.a := 1\np[x] := 5 if {x := "c"; p.a == 1}',
    "else-with-variables-in-head": "p[x] := 1 if {x := input.x} else := 2",
    "unsafe-head-variable": 'p[x].y := 1 if input.z',
    "default-with-a-variable": "default p[x] := 1",
    # OPA types the object a tree builds: what its heads lead to, and what they put there
    "boolean-leaf-added": "roles[t][u] := true if {t := input.t; u := input.u}\nx := roles.a.b + 1",
    "key-into-a-number-leaf": "p[x] := 1 if x := input.x\ny := p.b.c",
    "set-leaf-added": "p[x] contains 2 if x := input.x\nz := p.a + 1",
}
# Open departure, not pinned as a test: OPA's checker also knows the constant keys of the
# objects a tree builds (`p[x].d := 1` and `p.a[x].e := 1` make `p.a.e` an object), where
# policydiff's types know keys only by kind; such a module OPA refuses may load here.

# Valid Rego policydiff declines: it must say so at load with `unsupported`.
UNSUPPORTED = {
    "else-on-a-key-that-is-not-a-name": "p[1] := 2 if input.x else := 3",
}


def _modules(rules: str) -> dict[str, str]:
    return {"ok.rego": f"package ok\n\nimport rego.v1\n\n{rules}\n"}


def _code(e: Exception) -> str:
    m = re.search(r"(rego_\w+_error|eval_\w+_error)", str(e))
    return m.group(1) if m else str(e)


def _check(opa: OpaEngine, ours: PolicydiffEngine, ref: str, inp) -> None:
    try:
        expected = opa.evaluate(ref, inp)
    except EngineError as e:
        if "prepare_error" in str(e) and _code(e) == "rego_type_error":
            # Open departure: OPA type-checks the query too and refuses a reference
            # below a scalar a tree holds (`data.ok.p.b.c` where `p[x] := 1`);
            # `Policy.evaluate` does not type-check the reference it is given and
            # answers undefined there.
            try:
                assert ours.evaluate(ref, inp) is UNDEFINED, (ref, inp, str(e))
            except Refused:
                pass  # policydiff failed (a conflict in the tree): no answer either
            return
        with pytest.raises(Refused) as got:
            ours.evaluate(ref, inp)
        assert got.value.code in ("unsupported", _code(e)), (ref, inp, str(e), str(got.value))
        return
    try:
        got = ours.evaluate(ref, inp)
    except Refused as e:
        assert e.code == "unsupported", (ref, inp, str(e))
        return
    assert got == expected, (ref, inp)


@pytest.mark.parametrize("case", sorted(CASES))
def test_ref_heads_evaluate_as_opa(case):
    rules, refs, inputs = CASES[case]
    modules = _modules(rules)
    opa = OpaEngine(modules)
    ours = PolicydiffEngine(modules)  # loads: every case is inside the subset
    for inp in inputs:
        for ref in refs:
            _check(opa, ours, ref, inp)
    opa.close()


def test_the_cases_meet_both_answers_and_conflicts():
    """The corpus above is not vacuous: OPA answers most queries and fails some."""
    outcomes = set()
    for rules, refs, inputs in CASES.values():
        opa = OpaEngine(_modules(rules))
        for inp in inputs:
            for ref in refs:
                try:
                    opa.evaluate(ref, inp)
                    outcomes.add("value")
                except EngineError as e:
                    outcomes.add(_code(e))
        opa.close()
    assert outcomes == {"value", "eval_conflict_error", "eval_type_error"}


@pytest.mark.parametrize("case", sorted(COMPILE_ERRORS))
def test_modules_opa_refuses_are_refused_with_its_code(case):
    modules = _modules(COMPILE_ERRORS[case])
    with pytest.raises(EngineError) as opa:
        OpaEngine(modules)
    with pytest.raises(Refused) as ours:
        PolicydiffEngine(modules)
    assert ours.value.code == _code(opa.value), (str(opa.value), str(ours.value))


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_what_policydiff_declines_is_refused_at_load(case):
    modules = _modules(UNSUPPORTED[case])
    OpaEngine(modules).close()  # valid Rego
    with pytest.raises(Refused) as e:
        PolicydiffEngine(modules)
    assert e.value.code == "unsupported"
    assert "`else`" in str(e.value) and ":5:" in str(e.value)


# ------------------------------------------------------------------------- generated

_KEYS = st.sampled_from(["a", "b", "c"])
_HEADS = st.sampled_from([
    "p[x]", "p[x].d", "p[x][y]", "p.a[x]", "p.a[x].e", "p[x].a", "p.a", "p.b.c", "p[x].b[y]", 'p["c"]',
    "p.a[y][x]",
])


@st.composite
def _rule(draw):
    head = draw(_HEADS)
    contains = draw(st.booleans())
    # `x` as the value only where the head binds it: a constant head with two values
    # is a plain complete rule's conflict, not a reference head's
    value = draw(st.sampled_from(["1", "2", "input.v"] + (["x"] if "x" in head else [])))
    lits = []
    if "x" in head or value == "x":
        lits.append("some x in input.xs")
    if "y" in head:
        lits.append(f'y := "{draw(_KEYS)}"')
    if draw(st.booleans()):
        lits.append("input.flag")
    body = " if {" + "; ".join(lits) + "}" if lits else ""
    if contains:
        return f"{head} contains {value}{body}"
    return f"{head} := {value}{body}"


_INPUTS = st.fixed_dictionaries({
    "xs": st.lists(_KEYS, max_size=3),
    "v": st.sampled_from([1, 2, [1], "a"]),
    "flag": st.booleans(),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=st.lists(st.one_of(_rule(), _rule(), st.sampled_from(["default p.a := 3", "default p.b.c := 4"])),
                      min_size=1, max_size=3), inputs=st.lists(_INPUTS, min_size=1, max_size=3),
       extra=st.sampled_from(["", "q := p.a\n", "q := p[input.xs[0]]\n", "q := {k | some k, _ in p}\n"]))
def test_generated_ref_head_rules_agree_with_opa(rules, inputs, extra):
    if extra.startswith("q := p[") and not any(r.startswith("p[x") for r in rules):
        # `p` is then a package, not a tree: a key computed at evaluation makes policydiff
        # build the whole package (an open departure of packages when a rule conflicts)
        extra = ""
    text = "\n".join(rules) + "\n" + extra
    modules = _modules(text)
    try:
        opa = OpaEngine(modules)
    except EngineError as e:
        try:
            PolicydiffEngine(modules)
        except Refused as ours:
            assert ours.code in ("unsupported", _code(e)), (text, str(e), str(ours))
            return
        pytest.fail(f"OPA refuses, policydiff loads:\n{text}\n{e}")
    try:
        ours = PolicydiffEngine(modules)
    except Refused as e:
        assert e.code == "unsupported", f"{e}\n{text}"
        return
    refs = ["data.ok.p", "data.ok.p.a", "data.ok.p.b.c"] + (["data.ok.q"] if extra else [])
    for inp in inputs:
        for ref in refs:
            _check(opa, ours, ref, inp)
    opa.close()


# ------------------------------------------------------------------------ the compare

# The symbolic diff reads a tree's values through the name its heads start with: the
# keys a head takes from the input or from data split the input's classes like any
# document indexed by them. `_check` (test_soundness) holds the diff to brute force.
REF_HEAD_V2 = """package gen

import rego.v1

default allow := false

grants[role][action] := true if {
	some role in ["admin", "developer"]
	some action in ["project:read", "deploy:run"]
}

grants.viewer["project:read"] := true

conditions["team_role"] := "team_admin"

conditions.kinds contains "project"

allow if grants[input.subject.role][input.action]

allow if {
	input.subject.role == conditions.team_role
	input.resource.kind in conditions.kinds
	input.resource.team in input.subject.teams
}
"""

PLAIN_V1 = """package gen

import rego.v1

default allow := false

allow if input.subject.role == "admin"

allow if {
	input.subject.role == "viewer"
	input.action == "project:read"
}
"""


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tenancy=st.deferred(lambda: _soundness().tenancies(max_enterprises=2)))
def test_compare_with_ref_heads_agrees_with_every_request(tenancy):
    soundness = _soundness()
    p1 = soundness.load_policy(PLAIN_V1, data=soundness.DATA)
    p2 = soundness.load_policy(REF_HEAD_V2, data=soundness.DATA)
    assert soundness.diff(p1, p2).summary.complete
    soundness._check(p1, p2, tenancy)


def _soundness():
    import test_soundness

    return test_soundness
