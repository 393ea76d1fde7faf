"""The evaluator's speedups give the answers of the plain evaluation, and OPA's.

`compile.memo` remembers values across evaluations, keyed by what a rule reads;
`compile.prefixes` the solutions of a body's opening literals; `compile.dispatch` looks
up the bodies of a many-bodied rule whose opening tests hold; `compile.inline` runs a
rule of comparisons in place. Each is checked against the same policy compiled without
inlining and with the rest switched off (`general`), on policies drawn to exercise
them (bodies opening with tests of `input.role` and `input.action`, joins over a
constant table, helper rules and functions over those paths, tails reading more of the
input, a rule that conflicts for one role, builtins that fail on the wrong type), over
sequences of inputs evaluated one after the other on one policy, so that a value
remembered from an earlier input would show. OPA answers the same sequences.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from engines import UNDEFINED, EngineError, OpaEngine, normalize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policydiff import UNDEFINED as NO_VALUE
from policydiff import PolicyError, load_policy
from policydiff.compile.program import Program
from policydiff.compile.rule import CompiledRule
from policydiff.compile.speedups import memo

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HEADER = "package s\n\nimport rego.v1\n\n"
HELPERS = """
is_ab if input.role in {"a", "b"}

is_one if input.role == 1

fn_ok(x) if x == "a"

fn_ok(x) if x == true

val := 1 if input.role == "c"

val := 2 if input.role == "c"

val := 1 if input.role == "a"

two if input.role == input.other

roles := {r | some r in ["a", "b", "c"]}
"""

OPENING = (  # tests that read input.role or input.action only
    'input.role == "a"', 'input.role != "b"', 'input.role in {"a", "c"}', "is_ab", "is_one",
    'input.action == "r"', 'input.action in {"r", "w"}', 'startswith(input.action, "w")',
    "fn_ok(input.role)", 'not input.role == "a"', "input.role in roles", "count(input.role) > 0",
    "input.role == true", "val == 1", "not is_ab",
)
TAIL = (  # tests that read more, or bind variables
    "input.n > 1", "input.flag", "two", "val == 1", 'some {v} in input.xs; {v} == "a"', "input.n == 2",
    'input.role == "a"', "not two",
)
VALUES = ("a", "b", "c", "r", "w", 1, 1.0, True, False, None, 0, ["a"], {"k": "a"})
MISSING = object()


@st.composite
def policies(draw) -> str:
    bodies = []
    for _ in range(draw(st.integers(3, 7))):
        lits = draw(st.lists(st.sampled_from(OPENING), max_size=3))
        lits += [t.format(v=f"x{i}") for i, t in enumerate(draw(st.lists(st.sampled_from(TAIL), max_size=2)))]
        bodies.append("allow if {\n\t" + "\n\t".join(lits or ["true"]) + "\n}")
    default = draw(st.sampled_from(["default allow := false\n\n", ""]))
    return HEADER + default + "\n\n".join(bodies) + "\n" + HELPERS


@st.composite
def inputs(draw) -> dict:
    out: dict[str, Any] = {}
    for key, values in (("role", VALUES), ("action", VALUES), ("other", ("a", 1, True)),
                        ("n", (0, 1, 2, 2.0, "2")), ("flag", (True, False, 1)), ("xs", (["a"], ["b"], []))):
        v = draw(st.sampled_from((MISSING,) + tuple(values)))
        if v is not MISSING:
            out[key] = v
    return out


def plain(policy):
    """The same policy with every memo, dispatch table and clause index switched off."""
    for r in policy.program.rules.values():
        r.value, r.remembered = r.cached, False  # back to the value cached per evaluation
        r.select = None
        r.memos = None
        r.static = False
        r.by_first = None
        for chain in r.chains:
            for d in chain:
                d.run = getattr(d.run, "plain", d.run)  # no remembered openings
        r.flat_runs = [(d, d.run) for d in r.flat]
    policy._decide = None
    return policy


def general(text: str):
    """The policy compiled without inlining rules, and with every speedup off."""
    inlinable = Program.inlinable
    Program.inlinable = lambda self, t: None
    try:
        return plain(load_policy(text))
    finally:
        Program.inlinable = inlinable


def outcome(policy, inp, strict: bool):
    try:
        v = policy.evaluate(inp, strict=strict)
    except PolicyError as e:
        return ("error", e.code)
    return ("value", UNDEFINED if v is NO_VALUE else normalize(v))


def explained(policy, inp):
    try:
        return policy.explain(inp)
    except PolicyError as e:
        return ("error", e.code)


def allowed(policy, inp):
    try:
        return policy.allows(inp)
    except PolicyError as e:
        return ("error", e.code)


@SETTINGS
@given(text=policies(), seq=st.lists(inputs(), min_size=2, max_size=8), strict=st.booleans())
def test_memos_and_dispatch_answer_as_the_plain_evaluation(text, seq, strict):
    fast, slow = load_policy(text), general(text)
    for inp in seq + seq[::-1]:  # again in reverse: now from what earlier inputs left behind
        assert outcome(fast, inp, strict) == outcome(slow, inp, strict), (inp, text)
        assert explained(fast, inp) == explained(slow, inp)
        assert allowed(fast, inp) == allowed(slow, inp)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=policies(), seq=st.lists(inputs(), min_size=2, max_size=6))
def test_memos_and_dispatch_answer_as_opa(text, seq):
    try:
        opa = OpaEngine({"s.rego": text})
    except EngineError:
        return  # not a policy OPA takes (none expected, but the check is OPA's)
    ours = load_policy(text)
    for inp in seq:
        mine = outcome(ours, inp, strict=True)
        if mine == ("error", "unsupported"):
            continue  # refused where OPA's answer depends on its rule index
        try:
            assert mine == ("value", opa.evaluate("data.s.allow", inp)), (inp, text)
        except EngineError:
            assert mine[0] == "error", (inp, text)
    opa.close()


def test_a_rule_reading_one_path_is_remembered_per_value_and_type():
    policy = load_policy(HEADER + "kind := k if { k := type_name(input.role) }\n\n"
                         "allow if kind == \"number\"\n")
    kind = policy.program.rules[("s", "kind")]
    answers = [policy.allows({"role": v}) for v in (1, True, "1", None, 1, 1.0, True, 1)]
    assert answers == [True, False, False, False, True, True, False, True]
    assert [policy.evaluate({"role": v}, "data.s.kind") for v in (True, 1, None)] == ["boolean", "number", "null"]
    assert policy.evaluate({}, "data.s.allow") is NO_VALUE  # no role: undefined, remembered too
    assert policy.evaluate({"role": 0}, "data.s.allow") is True
    keys = set(kind.value.memos[False])
    assert {(int, 1), (bool, True), "1", (type(None), None)} <= keys  # 1.0 is no key


def test_an_error_is_never_remembered():
    policy = load_policy(HEADER + 'v := 1 if input.role == "c"\n\nv := 2 if input.role == "c"\n\n'
                         "allow if v == 1\n")
    for _ in range(3):
        with pytest.raises(PolicyError) as e:
            policy.evaluate({"role": "c"})
        assert e.value.code == "eval_conflict_error"
        assert policy.evaluate({"role": "a"}) is NO_VALUE


def test_a_value_remembered_without_strict_errors_is_not_used_with_them():
    policy = load_policy(HEADER + "n := count(input.role)\n\nallow if n > 0\n")
    assert policy.evaluate({"role": 5}) is NO_VALUE  # count(5): undefined without strict errors
    with pytest.raises(PolicyError) as e:
        policy.evaluate({"role": 5}, strict=True)
    assert e.value.code == "eval_type_error"
    assert policy.evaluate({"role": "ab"}, strict=True) is True
    assert policy.evaluate({"role": "ab"}) is True


def test_dispatch_runs_only_bodies_whose_opening_tests_hold():
    text = HEADER + "\n".join(f'allow if {{\n\tinput.role == "r{i}"\n\tinput.action == "a{i}"\n\tinput.ok == input.sure\n}}\n'
                              for i in range(50))
    policy = load_policy(text)
    allow = policy.program.rules[("s", "allow")]
    chosen = allow.select(_ctx({"role": "r7", "action": "a7"}))
    assert [d.span.line for d, _ in chosen] == [allow.flat[7].span.line]
    assert allow.select(_ctx({"role": "r7", "action": "a8"})) == []
    assert policy.allows({"role": "r7", "action": "a7", "ok": 1, "sure": 1})
    assert not policy.allows({"role": "r7", "action": "a7", "ok": 1, "sure": True})
    assert not policy.allows({"role": "r7", "action": "a8", "ok": 1, "sure": 1})
    # a float is no key: every body is tried, and 7.0 is not "r7" anyway
    assert len(allow.select(_ctx({"role": 7.0, "action": "a7"}))) == 50


def test_memos_stay_bounded():
    policy = load_policy(HEADER + 'tag := t if t := concat("-", ["x", input.role])\n\nallow if tag == "x-r5"\n')
    tag = policy.program.rules[("s", "tag")]
    for i in range(memo.LIMIT + 10):
        assert policy.allows({"role": f"r{i}"}) is (i == 5)
    sizes = [len(m) for m in tag.value.memos]
    assert 0 < max(sizes) <= memo.LIMIT


def _ctx(inp):
    from policydiff.compile import Ctx

    return Ctx(inp)


# ------------------------------------------------------------------- prefix memos

TABLE = """
grants := {
\t"a": [{"action": "r", "scope": "x"}, {"action": "*", "scope": "y"}],
\t"b": [{"action": "w", "scope": "x"}, {"action": "r", "scope": "z"}],
\t"c": [],
\t"1": [{"action": 1, "scope": "x"}],
}

inherits := {"a": ["b"], "b": ["c"], "c": []}

reach := graph.reachable(inherits, {input.role})

matches("*", _)

matches(p, a) if p == a
"""

OPENERS = (  # binds `g`, reading input.role (and input.action) only
    "some g in grants[input.role]",
    "some r in reach\n\tsome g in grants[r]",
    "some k, gs in grants\n\tk == input.role\n\tsome g in gs",
    'some g in grants[input.role]\n\tcount(input.role) > 0',
)
FILTERS = ("matches(g.action, input.action)", "g.action == input.action", 'g.action != "w"', "true")
TAILS = ("g.scope == input.scope", "g.scope in input.scopes", "input.n > 1", "true",
         'startswith(g.scope, input.scope)')
HEADS = ("allow if", "scopes contains g.scope if", "first := g.scope if", "by_action[g.action] := g.scope if",
         "count_of := n if")


@st.composite
def joining_policies(draw) -> str:
    rules = []
    for _ in range(draw(st.integers(1, 4))):
        head = draw(st.sampled_from(HEADS))
        lits = [draw(st.sampled_from(OPENERS)), draw(st.sampled_from(FILTERS)), draw(st.sampled_from(TAILS))]
        if head.startswith("count_of"):
            lits.append("n := count(grants[input.role])")
        rules.append(head + " {\n\t" + "\n\t".join(lits) + "\n}")
    return HEADER + "\n\n".join(rules) + "\n" + TABLE


@st.composite
def joining_inputs(draw) -> dict:
    out: dict[str, Any] = {}
    for key, values in (("role", ("a", "b", "c", "d", 1, True, None)), ("action", ("r", "w", "*", 1, None)),
                        ("scope", ("x", "y", "", 2)), ("scopes", (["x"], ["y", "z"], [], "x")),
                        ("n", (0, 2, "2"))):
        v = draw(st.sampled_from((MISSING,) + values))
        if v is not MISSING:
            out[key] = v
    return out


def refs_of(text: str) -> list[str]:
    names = {"allow": "allow if", "scopes": "scopes contains", "first": "first :=",
             "by_action": "by_action[", "count_of": "count_of :="}
    return [f"data.s.{n}" for n, head in names.items() if head in text]


def evaluated(policy, inp, ref, strict):
    try:
        v = policy.evaluate(inp, ref, strict=strict)
    except PolicyError as e:
        return ("error", e.code)
    return ("value", UNDEFINED if v is NO_VALUE else normalize(v))


@SETTINGS
@given(text=joining_policies(), seq=st.lists(joining_inputs(), min_size=2, max_size=8), strict=st.booleans())
def test_remembered_openings_answer_as_the_plain_evaluation(text, seq, strict):
    fast, slow = load_policy(text), general(text)
    for inp in seq + seq[::-1]:
        for ref in refs_of(text):
            assert evaluated(fast, inp, ref, strict) == evaluated(slow, inp, ref, strict), (inp, ref, text)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=joining_policies(), seq=st.lists(joining_inputs(), min_size=2, max_size=6))
def test_remembered_openings_answer_as_opa(text, seq):
    opa = OpaEngine({"s.rego": text})
    ours = load_policy(text)
    for inp in seq:
        for ref in refs_of(text):
            mine = evaluated(ours, inp, ref, strict=True)
            if mine == ("error", "unsupported"):
                continue
            try:
                assert mine == ("value", opa.evaluate(ref, inp)), (inp, ref, text)
            except EngineError:
                assert mine[0] == "error", (inp, ref, text)
    opa.close()


def test_a_few_tests_of_the_input_are_not_remembered():
    policy = load_policy(HEADER + "same if input.a == input.b\n\nallow if same\n")
    assert not policy.program.rules[("s", "same")].remembered  # computed: cheaper than a lookup
    assert [policy.allows(x) for x in ({"a": 1, "b": 1}, {"a": 1, "b": True}, {})] == [True, False, False]


def test_plain_switches_every_speedup_off():
    policy = load_policy(HEADER + "allow if {\n\tsome g in grants[input.role]\n\tinput.n > g.action\n"
                         "\tinput.m > 1\n\tinput.k > 1\n}\n" + TABLE)
    (d,) = policy.program.rules[("s", "allow")].flat
    assert hasattr(d.run, "tables")
    plain(policy)
    assert not hasattr(d.run, "tables")
    reach = policy.program.rules[("s", "reach")]
    assert not reach.remembered and reach.value.__func__ is CompiledRule.cached


def test_an_opening_is_solved_once_per_key():
    policy = load_policy(HEADER + "allow if {\n\tsome g in grants[input.role]\n\tmatches(g.action, input.action)\n"
                         "\tg.scope == input.scope\n\tinput.n > 1\n}\n" + TABLE)
    (d,) = policy.program.rules[("s", "allow")].flat
    assert policy.allows({"role": "a", "action": "w", "scope": "y", "n": 2})  # through the "*" grant
    assert not policy.allows({"role": "a", "action": "w", "scope": "x", "n": 2})
    assert policy.allows({"role": "b", "action": "r", "scope": "z", "n": 2})
    assert not policy.allows({"role": "b", "action": "r", "scope": "z", "n": 1})
    (table, _) = d.run.tables
    # the opening is the first three literals: they read three paths (key order: action, role, scope)
    assert {k: len(v) for k, v in table.items()} == {("w", "a", "y"): 1, ("w", "a", "x"): 0, ("r", "b", "z"): 1}


def test_a_key_whose_opening_test_raises_is_evaluated_plainly():
    bodies = "\n".join(f'allow if {{\n\tinput.role == "{r}"\n\tinput.n > 1\n}}\n' for r in ("a", "b"))
    policy = load_policy(HEADER + bodies + 'allow if {\n\tval == 1\n\tinput.n > 1\n}\n' + HELPERS)
    allow = policy.program.rules[("s", "allow")]
    ctx = _ctx({"role": "c", "n": 2})
    assert allow.select(ctx) == allow.flat_runs  # `val` conflicts for "c": every body, in order
    assert len(allow.select(_ctx({"role": "a", "n": 2}))) == 2  # the "a" body and the `val` body
    assert outcome(policy, {"role": "a", "n": 2}, strict=False) == ("value", True)
    assert outcome(policy, {"role": "c", "n": 2}, strict=False) == outcome(plain(load_policy(
        HEADER + bodies + 'allow if {\n\tval == 1\n\tinput.n > 1\n}\n' + HELPERS)), {"role": "c", "n": 2}, False)


def test_a_rule_of_comparisons_is_tested_in_place():
    text = HEADER + ("default same := false\n\nsame if input.a == input.b\n\n"
                     "near if {\n\tsame\n\tinput.c in {1, 2}\n}\n\n"
                     "truthy := true\n\ndefault lenient := true\n\nlenient if input.a == 1\n\n"
                     "allow if {\n\tnear\n\tnot lenient\n}\n\nallow if {\n\tlenient\n\tinput.d\n}\n")
    policy = load_policy(text)
    program = policy.program
    same, near = (program.rules[("s", n)] for n in ("same", "near"))
    assert program.inlinable(_ref("same"))[0] is same and program.inlinable(_ref("near"))[0] is near
    assert program.inlinable(_ref("lenient")) is None  # its default is true: not only its tests
    slow = general(text)
    for inp in ({"a": 1, "b": 1, "c": 2}, {"a": 2, "b": 2, "c": 1}, {"a": 2, "b": 2, "c": 3, "d": True},
                {"a": 1, "b": True, "c": 1}, {"c": 1}, {"a": 3, "d": 1}):
        assert outcome(policy, inp, True) == outcome(slow, inp, True), inp
        assert explained(policy, inp) == explained(slow, inp), inp


def test_rules_that_reach_each_other_are_not_inlined_and_still_recursive():
    with pytest.raises(PolicyError) as e:
        load_policy(HEADER + "a if b\n\nb if a\n\nallow if a\n")
    assert e.value.code == "rego_recursion_error"


def _ref(name: str):
    from policydiff import ir

    return ir.Ref(head=ir.Var(name="data"), path=(ir.Scalar(value="s"), ir.Scalar(value=name)))


def test_a_large_role_table_decides_as_without_dispatch():
    helpers = ("same_enterprise", "in_team")
    text = HEADER + "default allow := false\n\n" + (
        "same_enterprise if input.subject.enterprise == input.resource.enterprise\n\n"
        "in_team if {\n\tsame_enterprise\n\tinput.resource.team in input.subject.teams\n}\n\n") + "\n".join(
        f'allow if {{\n\tinput.subject.role == "role{i % 7}"\n\tinput.action == "dom{i // 7}:verb{i % 5}"\n'
        f"\t{helpers[i % 2]}\n}}\n" for i in range(80))
    fast, slow = load_policy(text), general(text)
    assert fast.program.rules[("s", "allow")].select is not None
    rng = random.Random(5)
    for _ in range(300):
        ent = rng.choice(["e1", "e2"])
        inp = {"subject": {"role": f"role{rng.randrange(8)}", "enterprise": ent, "teams": rng.sample(["t1", "t2"], 1)},
               "action": f"dom{rng.randrange(13)}:verb{rng.randrange(6)}",
               "resource": {"enterprise": rng.choice(["e1", "e2"]), "team": rng.choice(["t1", "t2", None])}}
        assert fast.allows(inp) is slow.allows(inp), inp
        assert explained(fast, inp) == explained(slow, inp), inp


def test_memo_keys_read_directly_are_the_keys_of_the_values_read():
    for paths in ([("action",), ("subject", "role")], [("subject", "role")], [("action",)],
                  [("action",), ("subject",), ("subject", "role")]):
        _check_reader(paths)


def _check_reader(paths):
    from policydiff.compile.values.access import input_path

    read = memo.reader(paths)
    for raw in ({"action": "r", "subject": {"role": "a"}}, {"action": "r", "subject": {"role": 1}},
                {"action": True, "subject": {"role": "a"}}, {"action": "r", "subject": ["role"]},
                {"action": "r"}, {"subject": {"role": "a"}}, ["action"], "x", {"action": 1.5, "subject": {}}):
        ctx = _ctx(raw)
        values = [input_path(p)((ctx,)) for p in paths]
        keys = [v if type(v) is str else memo.key_of(v) for v in values]
        want = memo.MISS if memo.MISS in keys else tuple(keys) if len(keys) > 1 else keys[0]
        assert read(ctx) == want, (paths, raw)


def test_an_array_of_strings_is_a_memo_key_and_other_arrays_are_not():
    """`input.path` (an array of strings) keys an opening; `[1]` and `[true]` would be
    the same Python key, so an array holding anything but strings keys nothing."""
    policy = load_policy(HEADER + "allow if {\n\tinput.path == [\"a\", x]\n\tinput.method == \"GET\"\n"
                         "\tsome g in grants[x]\n\tg.scope == input.scope\n}\n"
                         "grants := {\"b\": [{\"scope\": \"y\"}], \"1\": [{\"scope\": \"y\"}]}\n")
    answers = [policy.allows({"path": p, "method": "GET", "scope": "y"})
               for p in (["a", "b"], ["a", "b"], ["a", "c"], ["a", 1], ["a", True], ["a", "1"])]
    assert answers == [True, True, False, False, False, True]
    assert memo.key_of(("a", "b")) == (tuple, ("a", "b"))
    assert memo.key_of(("a", 1)) is memo.MISS and memo.key_of(("a", True)) is memo.MISS


def test_an_array_read_many_times_is_frozen_once_per_evaluation():
    from policydiff.compile.values.access import input_path

    read = input_path(("path",))
    ctx = _ctx({"path": ["a", "b"]})
    first = read((ctx,))
    assert first == ("a", "b") and read((ctx,)) is first
    assert read((_ctx({"path": ["a", "c"]}),)) == ("a", "c")  # another evaluation reads its own
