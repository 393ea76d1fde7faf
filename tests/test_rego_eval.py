"""Evaluation semantics, one OPA rule at a time: undefined, defaults, else, conflicts,
partial rules, value semantics, iteration, comprehensions, negation, builtins."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policydiff import UNDEFINED, PolicyError, load_policy, query


def value(body: str, input=None, data=None, ref="data.t.p"):
    policy = load_policy("package t\nimport rego.v1\n" + body, data=data)
    return policy.evaluate(input, ref)


def q(text: str, modules=(), **kw):
    return query(list(modules), text, **kw)


# ------------------------------------------------------------------ undefined and defaults


def test_undefined_propagates_and_means_deny():
    policy = load_policy("package t\nimport rego.v1\nallow if input.user.role == \"admin\"\n")
    assert policy.evaluate({"user": {}}) is UNDEFINED
    assert policy.allows({"user": {}}) is False
    assert policy.allows({}) is False and policy.allows(None) is False
    assert policy.allows({"user": {"role": "admin"}}) is True


def test_only_true_allows():
    policy = load_policy("package t\nimport rego.v1\nallow := input.v\n")
    assert [policy.allows({"v": v}) for v in (True, 1, "true", [True], False)] == [True, False, False, False, False]


def test_default_applies_only_when_no_body_holds():
    body = "default p := \"no\"\np := \"yes\" if input.x > 1\n"
    assert value(body, {"x": 2}) == "yes"
    assert value(body, {"x": 0}) == "no"
    assert value(body, {}) == "no"


def test_else_chain_takes_the_first_defined_link():
    body = ('p := "a" if input.x == 1\nelse := "b" if input.x == 2\nelse := "c"\n')
    assert [value(body, {"x": x}) for x in (1, 2, 3)] == ["a", "b", "c"]


def test_else_in_functions_and_function_defaults():
    body = ('f(x) := "small" if x < 10\nelse := "big"\n'
            'default g(_) := 0\ng(x) := x if x > 0\n'
            'p := [f(1), f(100), g(5), g(-5)]\n')
    assert value(body) == ["small", "big", 5, 0]


def test_complete_rule_conflict_is_an_error():
    with pytest.raises(PolicyError) as e:
        value("p := 1 if input.a\np := 2 if input.b\n", {"a": True, "b": True})
    assert e.value.code == "eval_conflict_error"
    assert value("p := 1 if input.a\np := 2 if input.b\n", {"a": True}) == 1
    # the same value from several bodies is no conflict
    assert value("p := 1 if input.a\np := 1 if input.b\n", {"a": True, "b": True}) == 1


def test_function_conflict_is_an_error():
    with pytest.raises(PolicyError) as e:
        value("f(x) := 1 if x > 0\nf(x) := 2 if x > 1\np := f(5)\n")
    assert e.value.code == "eval_conflict_error"


# ------------------------------------------------------------------------ partial rules


def test_partial_sets_union_every_body_and_dedup():
    body = ("p contains x if some x in input.a\np contains x if some x in input.b\n")
    assert value(body, {"a": [3, 1], "b": [1, 2]}) == [1, 2, 3]
    assert value(body, {}) == []  # a partial set is defined even when empty


def test_partial_objects_and_key_conflicts():
    body = "p[k] := v if some k, v in input.o\n"
    assert value(body, {"o": {"a": 1, "b": 2}}) == {"a": 1, "b": 2}
    with pytest.raises(PolicyError) as e:
        value("p[k] := 1 if some k in input.ks\np[k] := 2 if some k in input.ks\n", {"ks": ["a"]})
    assert e.value.code == "eval_conflict_error"


def test_package_documents_merge_rules_and_base_data():
    modules = ["package a.b\nimport rego.v1\nx := 1\ny contains 2\nf(v) := v\n"]
    assert q("data.a = v", modules, data={"a": {"c": 3}}) == [{"v": {"b": {"x": 1, "y": [2]}, "c": 3}}]


# --------------------------------------------------------------------- value semantics


def test_numbers_compare_by_value_but_booleans_are_not_numbers():
    assert q("1 == 1.0") == [{}]
    assert q("true == 1") == []
    assert q("x := {1, 1.0, 2}; n := count(x)") == [{"x": [1, 2], "n": 2}]


def test_true_is_never_taken_for_one():
    # through input: with constants OPA's type checker refuses both lookups
    assert q('x := {1: "a"}[input.t]', input={"t": True}) == []
    assert q("x := {1, 2}[input.t]", input={"t": True}) == []
    modules = ["package t\nimport rego.v1\nf(x) := \"bool\" if is_boolean(x)\nf(x) := \"num\" if is_number(x)\n"]
    assert q("a := data.t.f(true); b := data.t.f(1)", modules) == [{"a": "bool", "b": "num"}]


def test_sets_are_unordered_and_sorted_on_the_way_out():
    assert q("{3, 1} == {1, 3}") == [{}]
    assert q("x := {\"b\", \"a\", \"b\"}") == [{"x": ["a", "b"]}]
    assert q("x := {1, 2, 3} - {2}; y := {1, 2} & {2, 3}; z := {1} | {2}") == [{"x": [1, 3], "y": [2], "z": [1, 2]}]


def test_ordering_across_types_follows_opa():
    # null < boolean < number < string < array < object < set
    chain = ["null", "false", "true", "-1", "0.5", "1", '"a"', '"b"', "[]", "[1]", "{}", '{"a": 1}', "set()", "{1}"]
    for lo, hi in itertools.pairwise(chain):
        assert q(f"{lo} < {hi}") == [{}], (lo, hi)
        assert q(f"{hi} < {lo}") == [], (lo, hi)


def test_collections_iterate_in_opas_order():
    # objects by key and sets by member, whatever order the input was written in
    assert q("x := [v | some v in input.o]", input={"o": {"b": 2, "a": 1}}) == [{"x": [1, 2]}]
    assert q("x := [k | input.o[k]]", input={"o": {"b": 2, "a": 1}}) == [{"x": ["a", "b"]}]
    assert q('x := concat("/", {"b", "a", "c"})') == [{"x": "a/b/c"}]
    assert q("x := [m | some m in {3, 1, 2}]") == [{"x": [1, 2, 3]}]


def test_arithmetic_is_decimal_and_strings_follow_go():
    assert q("x := 0.1 + 0.2") == [{"x": 0.3}]
    assert q('x := upper("straße")') == [{"x": "STRAßE"}]
    assert q('x := split("abc", "")') == [{"x": ["a", "b", "c"]}]
    assert q('x := to_number("1_000")') == []


def test_objects_with_non_string_keys_print_their_keys_as_json():
    assert q("x := {1: \"a\", [1]: \"b\"}") == [{"x": {"1": "a", "[1]": "b"}}]


# ------------------------------------------------------------------ iteration and scope


def test_some_in_binds_members_keys_and_values():
    assert q("some x in [3, 4]") == [{"x": 3}, {"x": 4}]
    assert q('some k, v in {"a": 1}') == [{"k": "a", "v": 1}]
    assert q("some x in input.n", input={"n": 7}) == []  # nothing to iterate (a constant 7 is a type error)


def test_refs_with_variables_iterate_and_join():
    data = {"users": {"u1": {"team": "a"}, "u2": {"team": "b"}}, "teams": ["a"]}
    assert q("data.users[u].team == data.teams[_]", data=data) == [{"u": "u1"}]


def test_every_holds_for_all_members_and_for_an_empty_domain():
    assert q("every x in [1, 2] { x > 0 }") == [{}]
    assert q("every x in [1, -2] { x > 0 }") == []
    assert q("every x in [] { x > 0 }") == [{}]
    assert q('every k, v in {"a": 1} { k == "a"; v == 1 }') == [{}]


def test_every_domain_variables_are_bound_outside_the_every():
    modules = ["package t\nimport rego.v1\np contains k if { every x in input.o[k] { x < input.m[k] } }\n"]
    got = q("v := data.t.p", modules, input={"o": {"a": [1, 2], "b": [0, 3]}, "m": {"a": 5, "b": 1}})
    assert got == [{"v": ["a"]}]


def test_nested_bodies_have_their_own_declarations():
    # `some`/`:=` in a comprehension, and `every`'s variables, shadow the enclosing ones
    assert q("x := 5; z := [x | some x in [1, 2]]") == [{"x": 5, "z": [1, 2]}]
    assert q("x := 5; z := [x | x := 7]") == [{"x": 5, "z": [7]}]
    assert q("x := 5; every x in [1, 2] { x > 0 }") == [{"x": 5}]
    # `some x in x` declares no second `x` in OPA (it tests `x in x`, here a type error):
    # in a nested body, declined
    with pytest.raises(PolicyError) as info:
        q("x := [1, 2]; z := [x | some x in x]")
    assert info.value.code == "unsupported"


def test_comprehensions_capture_outer_variables():
    modules = [("package t\nimport rego.v1\np := [y | some y in input.ys; y > input.min]\n"
                "q := {k: n | some k, v in input.o; n := count(v)}\n")]
    got = q("x := data.t.p; o := data.t.q", modules, input={"ys": [1, 5, 7], "min": 4, "o": {"a": [1, 2]}})
    assert got == [{"x": [5, 7], "o": {"a": 2}}]


def test_unification_destructures():
    assert q("[a, b] := [1, 2]") == [{"a": 1, "b": 2}]
    assert q('{"k": v} = {"k": 3}') == [{"v": 3}]
    assert q("[x, 2] = [1, y]") == [{"x": 1, "y": 2}]
    assert q("[x, x] = [1, 2]") == []


def test_body_literals_are_reordered_for_safety():
    assert q("y == x + 1; x = 2; y = 3") == [{"x": 2, "y": 3}]


def test_assignment_declares_a_new_variable():
    for text, how in (("y == x + 1; x := 2", "referenced"), ("x := 1; x := 2", "assigned")):
        with pytest.raises(PolicyError) as e:
            q(text)
        assert e.value.code == "rego_compile_error"
        assert e.value.diagnostic.message == f"var `x` {how} above"


def test_rule_names_resolve_and_locals_shadow_them():
    modules = ["package t\nimport rego.v1\nr := 5\np if r == 5\nq if { r := 6; r == 6 }\n"]
    assert q("data.t.p = a; data.t.q = b", modules) == [{"a": True, "b": True}]


def test_imports_alias_data_and_input():
    modules = ["package lib\nimport rego.v1\nadmins := {\"alice\"}\n",
               "package t\nimport rego.v1\nimport data.lib\nimport input.user as u\np if u in lib.admins\n"]
    assert q("data.t.p = x", modules, input={"user": "alice"}) == [{"x": True}]
    assert q("data.t.p = x", modules, input={"user": "bob"}) == []


# -------------------------------------------------------------------------- negation


def test_not_holds_when_the_expression_is_undefined_or_false():
    assert q("not input.missing", input={}) == [{}]
    assert q("not false") == [{}]
    assert q("not input.x == 1", input={"x": 2}) == [{}]
    assert q("not input.x == 1", input={"x": 1}) == []


def test_not_evaluates_call_arguments_outside_the_negation_as_opa_does():
    # OPA moves references out of calls before negating: an undefined argument fails
    # the body instead of making the negation true. `==` keeps its operands inside.
    assert q('not startswith(input.missing, "a")', input={}) == []
    assert q('not input.missing in {"a"}', input={}) == []
    assert q('not input.missing == "a"', input={}) == [{}]
    assert q('not startswith(input.s, "a")', input={"s": "bc"}) == [{}]


def test_an_empty_partial_set_is_defined_so_not_fails():
    modules = ["package t\nimport rego.v1\ndeny contains 1 if false\n"]
    assert q("not data.t.deny", modules) == []
    assert q("count(data.t.deny) == 0", modules) == [{}]


# -------------------------------------------------------------------------- builtins


@pytest.mark.parametrize(
    "expr, want",
    [
        ('sprintf("%v-%s-%d", ["a", 1, 2])', "a-%!s(int64=1)-2"),  # Go's fmt: %s of a number
        ('sprintf("%v|%d|%v", [1234567.5, "7", 0.25])', "1.2345675e+06|%!d(string=7)|0.25"),
        ('sprintf("%v", [1, 2])', "1%!(EXTRA int64=2)"),
        ('sprintf("%v", [{"a": [1, true, null]}])', '{"a": [1, true, null]}'),
        ('sprintf("%v %d %.1f", [{"b", 1}, 2.0, 0.25])', "{1, \"b\"} 2 0.2"),
        ('concat(",", ["a", "b"])', "a,b"),
        ('split("a.b.c", ".")', ["a", "b", "c"]),
        ('trim_prefix("project:read", "project:")', "read"),
        ('replace("a-b-c", "-", "+")', "a+b+c"),
        ('lower("AbC")', "abc"),
        ('object.get({"a": {"b": 1}}, ["a", "b"], 0)', 1),
        ('object.get({"a": 1}, "z", 0)', 0),
        ('object.keys({"a": 1, "b": 2})', ["a", "b"]),
        ("union({{1}, {2, 3}})", [1, 2, 3]),
        ("intersection({{1, 2}, {2, 3}})", [2]),
        ("array.concat([1], [2])", [1, 2]),
        ('graph.reachable({"a": ["b"], "b": ["c"], "c": [], "d": ["a"]}, ["a"])', ["a", "b", "c"]),
        ('graph.reachable({"a": ["b", "x"], "b": []}, ["a", "y"])', ["a", "b"]),  # only the graph's nodes
        ('glob.match("project:*", [":"], "project:read")', True),
        ('glob.match("project:*", [":"], "project:read:x")', False),
        ('glob.match("a.**", [], "a.b.c")', True),
        ('regex.match("^[a-z]+-[0-9]+$", "u-17")', True),
        ("sum([1, 2.5])", 3.5),
        ("max([1, 3, 2])", 3),
        ('to_number("42")', 42),
        ("7 % 3", 1),
        ("8 / 2", 4),
        ('is_string("x")', True),
        ('count("abc")', 3),
    ],
)
def test_builtins(expr, want):
    assert q(f"x := {expr}") == [{"x": want}]


def test_builtin_errors_make_the_expression_undefined_unless_strict():
    assert q('x := 1 / 0') == []
    with pytest.raises(PolicyError) as e:
        q("x := 1 / 0", strict=True)
    assert e.value.code == "eval_builtin_error"
    assert q("x := count(input.n)", input={"n": 1}) == []


def test_patterns_re2_reads_differently_are_refused_not_guessed():
    assert q(r'x := regex.match("\\Aab", "ab")') == [{"x": True}]
    with pytest.raises(PolicyError) as e:  # a backreference: RE2 has none
        load_policy("package t\nimport rego.v1\nallow if regex.match(`(a)\\1`, input.s)\n")
    assert e.value.code == "unsupported"
    with pytest.raises(PolicyError) as e:  # known only when evaluated
        q("regex.match(input.p, \"aa\")", input={"p": "(?=a)a"})
    assert e.value.code == "unsupported"
    # what `re` reads otherwise than RE2: mid-pattern flags, `{,n}`, `\s` over a vertical
    # tab, case folding beyond ASCII; the same screening as the other `regex.*` builtins
    for pattern, value in [("a(?i)b", "aB"), ("x{,2}", "x{,2}"), ("\\s", "\v"), ("(?i)é", "É")]:
        with pytest.raises(PolicyError) as e:
            q("regex.match(input.p, input.v)", input={"p": pattern, "v": value})
        assert e.value.code == "unsupported", pattern
    assert q("x := regex.match(input.p, \"a\")", input={"p": "a{1001}"}) == []  # RE2 rejects it


def test_booleans_and_numbers_stay_apart_in_sets_and_objects():
    # Python takes `true` for 1; OPA never does (1 and 1.0 stay one number)
    assert q("x := {true, 1, 1.0}") == [{"x": [True, 1]}]
    assert q("x := {true, 2}") == [{"x": [True, 2]}]
    assert q("x := count({[false], [0], {false: 0}, {0: false}})") == [{"x": 4}]
    assert q("x := {0} == {false}") == [{"x": False}]
    assert q("x := count({false} | {0})") == [{"x": 2}]
    assert q('o := {false: "f", 0: "z"}; x := [o[false], o[0], o[0.0]]')[0]["x"] == ["f", "z", "z"]
    assert q("s := {true, 1}; x := [1 in s, true in s, 0 in s, false in s]")[0]["x"] == [True, True, False, False]


def test_globs_with_classes_and_alternatives():
    assert q('x := glob.match("a.{b,c}.*", [], "a.c.d")') == [{"x": True}]
    assert q('x := glob.match("[!a]*", [], "bc")') == [{"x": True}]
    assert q('x := glob.match("*", null, "a.b")') == [{"x": True}]
    assert q('x := glob.match("*", [], "a.b")') == [{"x": False}]


# ---------------------------------------------------------------------- explain and API


def test_explain_names_the_bodies_that_produced_the_value():
    text = ("package t\nimport rego.v1\ndefault allow := false\n"
            "allow if input.role == \"admin\"\n"
            "allow if input.role in {\"admin\", \"dev\"}\n")
    policy = load_policy(text)
    assert policy.explain({"role": "admin"}) == (True, ("<text>:4", "<text>:5"))
    assert policy.explain({"role": "dev"}) == (True, ("<text>:5",))
    assert policy.explain({"role": "x"}) == (False, ("<text>:3",))


def test_decision_defaults_to_allow_in_the_first_package_and_can_be_chosen():
    policy = load_policy("package rbac.v2\nimport rego.v1\nallow := 1\nok := 2\n")
    assert policy.decision == "data.rbac.v2.allow"
    assert load_policy(policy.sources["<text>"], decision="data.rbac.v2.ok").evaluate({}) == 2
    assert policy.evaluate({}, "data.rbac.v2.ok") == 2


def test_several_modules_and_data_load_together(tmp_path):
    lib = tmp_path / "lib.rego"
    lib.write_text("package lib\nimport rego.v1\nis_admin(u) if u in data.admins\n")
    main = tmp_path / "main.rego"
    main.write_text("package app\nimport rego.v1\nallow if data.lib.is_admin(input.user)\n")
    policy = load_policy([main, str(lib)], data={"admins": ["ann"]})
    assert policy.decision == "data.app.allow"
    assert policy.allows({"user": "ann"}) and not policy.allows({"user": "bob"})
    assert set(policy.sources) == {str(main), str(lib)}


def test_rules_that_read_no_input_are_computed_once_per_policy():
    policy = load_policy("package t\nimport rego.v1\ntable := {r: n | some r in data.roles; n := count(r)}\n"
                         "allow if table[input.role] > 3\n", data={"roles": ["admin", "dev"]})
    assert policy.allows({"role": "admin"}) is True
    assert policy.allows({"role": "dev"}) is False
    rule = policy.program.rules[("t", "table")]
    assert rule.static and not policy.program.rules[("t", "allow")].static


# ------------------------------------------------------------------------- properties


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text("ab", max_size=2))


@settings(max_examples=60, deadline=None)
@given(xs=st.lists(scalars, max_size=5), x=scalars)
def test_membership_agrees_with_value_equality(xs, x):
    import json

    want = any(type(x) is type(y) and x == y for y in xs)
    got = q(f"{json.dumps(x)} in {json.dumps(xs)}") == [{}]
    assert got == want


@settings(max_examples=60, deadline=None)
@given(a=scalars, b=scalars)
def test_ordering_is_total_and_antisymmetric(a, b):
    import json

    lt = q(f"{json.dumps(a)} < {json.dumps(b)}") == [{}]
    gt = q(f"{json.dumps(a)} > {json.dumps(b)}") == [{}]
    eq = q(f"{json.dumps(a)} == {json.dumps(b)}") == [{}]
    assert [lt, gt, eq].count(True) == 1


# ------------------------------------------------------------------ numbers as OPA holds them


def test_modulo_takes_an_integral_float_and_refuses_a_fraction():
    assert q("x := input.n % 3", input={"n": 7.0}) == [{"x": 1}]
    assert q("x := input.n % input.d", input={"n": -7.0, "d": 3.0}) == [{"x": -1}]
    assert q("x := input.n % 3", input={"n": 7.5}) == []
    with pytest.raises(PolicyError) as e:
        q("x := input.n % 3", input={"n": 7.5}, strict=True)
    assert e.value.code == "eval_builtin_error"
    assert q("x := input.n % 3", input={"n": 1e20}) == [{"x": 1}]  # the text 1e+20, exactly


def test_sum_and_product_compute_in_decimals_as_plus_does():
    assert q("x := sum([0.1, 0.2])") == [{"x": 0.3}]  # binary floats say 0.30000000000000004
    assert q("x := sum({0.1, 0.2}) == 0.1 + 0.2") == [{"x": True}]
    assert q("x := product([0.1, 3])") == [{"x": 0.30000000000000004}]  # OPA's product keeps 53 bits
    assert q("x := [sum([]), product([]), sum([1, 2]), product([2, 3])]") == [{"x": [0, 1, 3, 6]}]
    assert q("x := sum([0.5, 0.5])") == [{"x": 1}]
    assert q("x := sum([1, input.s])", input={"s": "2"}) == []


def test_numbers_beyond_a_doubles_range():
    # OPA's numbers have no range: integral ones add and multiply exactly, others go
    # through 64-bit floats whose exponent has no practical bound, and literals beyond
    # a double (1e309, 2.5e-400) are kept as written.
    assert q("x := [1e308 * 10, 1.0e308 + 1.0e308, sum([1e308, 1e308]), input.n / 4, input.n * 1.5]",
             input={"n": 10**400}) == [{"x": [10**309, 2 * 10**308, 2 * 10**308, 25 * 10**398, 15 * 10**399]}]
    assert q("x := [1e309 > 1e308, -1e309 < -1e308, 2.5e-400 > 0, 5e-324 < 1e-323]") == [{"x": [True] * 4}]
    assert q("x := [0e400, 1e308, -2.5e-300 < 0]") == [{"x": [0, 1e308, True]}]
    assert q('x := sprintf("%v", [[1e-200 * 1e-200, 1e-300 / 1e300, -1e309]])') == \
        [{"x": "[1.0000000000000000001e-400, 9.9999999999999999994e-601, -1e309]"}]
    with pytest.raises(PolicyError) as e:  # OPA's parser: "number too big"
        load_policy("package t\nimport rego.v1\nallow if input.n < 1e40000\n")
    assert e.value.code == "rego_parse_error"


def test_rounding_builtins_read_a_huge_integer_as_a_64_bit_float():
    # OPA's round, floor, ceil and abs go through a float of 64 significant bits
    n = 3 * 2**64 + 1
    assert q("x := [round(input.n), floor(input.n), ceil(input.n)]", input={"n": n}) == [{"x": [3 * 2**64] * 3}]
    assert q("x := [abs(input.n), input.n * 1]", input={"n": -n}) == [{"x": [55340232221128654850, -n]}]
    assert q("x := [round(2.5), round(-2.5), round(0.49999999999999994), abs(-7), floor(-2.5)]") == \
        [{"x": [3, -3, 0, 7, -3]}]


def test_a_whole_result_beyond_int64_stays_an_exact_integer():
    # a double would print 2.5e+19 and lose the 1; OPA keeps 25000000000000000001
    assert q("x := input.n / 4 + 1", input={"n": 1e20}) == [{"x": 25000000000000000001}]
    assert q('x := sprintf("%v", [input.n / 4])', input={"n": 1e20}) == [{"x": "25000000000000000000"}]
    assert q("x := [123456789012345678 * 1000.0, 1e20 * 1]") == [{"x": [123456789012345678000, 10**20]}]
    # whole once rounded to 64 bits, and then written in full digits
    assert q("x := [1e20 / 3, 1e20 + 0.5]") == [{"x": [33333333333333333334, 10**20]}]


@pytest.mark.parametrize(("data", "module"), [
    ({"a": {"f": 1}}, "package a\nf(x) := 1\n"),  # a function at a path the data holds
    ({"a": {"b": {"k": 1}}}, "package a\nb.k := 2\n"),  # a ref head onto a base value
    ({"a": {"b": {"k": 1}}}, "package a\nb.j := 2\n"),  # a key the data lacks: merged
    ({"a": {"b": None}}, "package a.b\nc := 2\n"),  # under a base value that is not an object
    ({"a": {"b": [1]}}, "package a.b\nc := 2\n"),
    ({"a": {}}, "package a.b\nc := 2\n"),
    ({"a": {"p": 1}}, "package a\ndefault p := 1\n"),
])
def test_rules_over_base_documents_conflict_as_in_opa(data, module):
    import opa_bindings

    engine = opa_bindings.OpaEngine()
    try:
        engine.add_data(data)
        engine.add_policy("x.rego", module)
        theirs = ("value", engine.eval_query("x := data.a"))
    except opa_bindings.OpaError as e:
        theirs = ("error", "rego_compile_error" if "rego_compile_error" in e.message else e.message)
    finally:
        engine.close()
    try:
        ours = ("value", query([module], "x := data.a", data=data))
    except PolicyError as e:
        ours = ("error", e.code)
    assert ours == theirs


def test_a_package_without_rules_is_an_empty_document():
    assert q("x := data.a.b", modules=["package a.b\n", "package a\np := 1\n"]) == [{"x": {}}]
