"""The Rego frontend: what parses into which IR, and the diagnostics for what does not."""

from __future__ import annotations

import pytest

from policydiff import PolicyError, ir, load_policy, query
from policydiff.errors import render
from policydiff.frontend.rego import parse, parse_query
from policydiff.source import Source


def _module(text: str) -> ir.Module:
    return parse(Source(name="p.rego", text=text))


def _error(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as e:
        load_policy(text)
    return e.value


def _underlined(text: str, err: PolicyError, i: int = 0) -> str:
    """The text the caret line of the i-th diagnostic points at."""
    lines = render(err.diagnostics[i], {"<text>": text}).splitlines()
    src, carets = lines[1][2:], lines[2][2:]
    start = carets.index("^")
    return src[start:start + carets.count("^")]


def test_rule_kinds_and_heads():
    m = _module(
        "package rbac.v2\n"
        "import rego.v1\n"
        "import data.lib.roles as r\n"
        "default allow := false\n"
        "allow if input.x\n"
        "deny contains msg if msg := \"no\"\n"
        "grants[role] := actions if { some role, actions in r }\n"
        "f(x) := x + 1\n"
        "g(x) if x > 1\n"
    )
    assert m.package == ("rbac", "v2")
    assert [i.path for i in m.imports] == [("rego", "v1"), ("data", "lib", "roles")]
    assert m.imports[1].alias == "r"
    kinds = [(r.name, r.kind, r.default) for r in m.rules]
    assert kinds == [("allow", "complete", True), ("allow", "complete", False), ("deny", "partial_set", False),
                     ("grants", "partial_object", False), ("f", "function", False), ("g", "function", False)]
    assert m.rules[1].value == ir.Scalar(value=True)
    assert m.rules[4].value == ir.Call(func="plus", args=(ir.Var(name="x"), ir.Scalar(value=1)))


def test_positions_do_not_decide_equality():
    a = _module("package p\nallow if input.x == 1\n")
    b = _module("package p\n\n\n   allow    if   input.x   ==   1\n")
    assert a == b
    assert a.rules[0].span.line == 2 and b.rules[0].span.line == 4


def test_else_chain_is_nested():
    m = _module("package p\nf(x) := 1 if x == 1\nelse := 2 if x == 2\nelse := 3\n")
    r = m.rules[0]
    assert r.value == ir.Scalar(value=1)
    assert r.else_.value == ir.Scalar(value=2)
    assert r.else_.else_.value == ir.Scalar(value=3) and r.else_.else_.body == ()
    assert r.else_.args == r.args


def test_operators_follow_opas_precedence():
    (lit,) = parse_query("x := 1 + 2 * 3 in {7} | {8}")
    assert isinstance(lit, ir.Assign)
    member = lit.rhs
    assert member.func == "internal.member_2"
    assert member.args[0].func == "plus" and member.args[0].args[1].func == "mul"
    assert member.args[1].func == "or"
    (lit,) = parse_query('"k", v in obj')
    assert lit.term.func == "internal.member_3"


def test_a_bracket_opening_a_line_starts_a_new_literal():
    body = parse_query("x := y\n[a] = x")
    assert len(body) == 2 and isinstance(body[1], ir.Unify) and isinstance(body[1].lhs, ir.Array)
    (same_line,) = parse_query("x := y[a]")
    assert isinstance(same_line.rhs, ir.Ref)
    body = parse_query("x := 1\n-1 < x")
    assert len(body) == 2 and body[1].term.args[0] == ir.Scalar(value=-1)


def test_comprehensions_sets_objects_and_literals():
    (lit,) = parse_query('x := [{"a": [y | y := z[_]], "s": {1, 2}, "e": {}, "t": set()}]')
    obj = lit.rhs.items[0]
    assert isinstance(obj, ir.Object)
    values = {k.value: v for k, v in obj.items}
    assert isinstance(values["a"], ir.ArrayCompr)
    assert values["s"] == ir.Set(items=(ir.Scalar(value=1), ir.Scalar(value=2)))
    assert values["e"] == ir.Object(items=()) and values["t"] == ir.Set(items=())


def test_some_every_and_not():
    body = parse_query("some x, y\nsome k, v in xs\nevery z in xs { z > 0 }\nnot p")
    assert body[0] == ir.Some(vars=("x", "y"))
    assert isinstance(body[1], ir.SomeIn) and body[1].key == ir.Var(name="k")
    assert isinstance(body[2], ir.Every) and body[2].value == "z" and len(body[2].body) == 1
    assert body[3] == ir.Expr(term=ir.Var(name="p"), negated=True)


def test_ref_heads_keep_their_path_in_the_name():
    m = _module("package p\nresponse.allow := true\ndefault masks.a.b := {}\n")
    assert [(r.name, r.default) for r in m.rules] == [("response.allow", False), ("masks.a.b", True)]


@pytest.mark.parametrize(
    "text, code, underlined",
    [
        ("package p\nallow { true }", "rego_parse_error", "{"),
        ("package p\nallow if { x := 1 = 2 }", "rego_parse_error", "="),
        ("allow if true", "rego_parse_error", "allow"),
        ("package p\nallow if {\n  y == 2\n}", "rego_unsafe_var_error", "y"),
        ("package p\nallow if { not input.xs[_] }", "rego_unsafe_var_error", "_"),
        ("package p\nallow if http.send({})", "unsupported", "http.send({})"),
        ("package p\nallow if time.now_ns() > 0", "unsupported", "time.now_ns()"),
        ("package p\nallow if { input.x with input[input.k] as 1 }", "unsupported", "with input[input.k] as 1"),
        ("package p\nallow if { count(1, 2, 3) }", "rego_type_error", "count(1, 2, 3)"),
        ("package p\nallow if undefined_fn(1)", "rego_type_error", "undefined_fn(1)"),
        ("package p\np if q\nq if p", "rego_recursion_error", "p if q"),
        # a conflict stands where OPA reports it: at the first rule of the path
        ("package p\nallow := 1\nallow contains 2", "rego_type_error", "allow := 1"),
        ("package p\np[x].y := 1 if x := 1 else := 2", "rego_parse_error", "else := 2"),
    ],
)
def test_diagnostics_name_the_code_and_underline_the_culprit(text, code, underlined):
    err = _error(text)
    assert err.code == code
    assert _underlined(text, err) == underlined


def test_parse_errors_explain_common_mistakes():
    err = _error("package p\nallow { true }")
    assert "`if` keyword is required" in err.diagnostic.message
    err = _error("package p\nallow if { x := 1 = 2 }")
    assert "`==` to compare" in (err.diagnostic.help or err.diagnostic.message)


def test_every_unsupported_construct_is_reported_at_once():
    text = "package p\nallow if { input.x with input[input.k] as 1 }\ndeny if http.send({})\n"
    err = _error(text)
    assert [d.code for d in err.diagnostics] == ["unsupported", "unsupported"]
    assert [d.span.line for d in err.diagnostics] == [2, 3]


def test_string_escapes_are_json_s_and_control_characters_stand():
    """As OPA reads a string literal: `\\x0b` is an illegal token (a parse error at the
    string, not a crash), a raw tab or control character is part of the string."""
    for text in ('package t\nx := "\\x0b"\n', 'package a["\\q"]\nx := 1\n'):
        with pytest.raises(PolicyError) as e:
            load_policy(text)
        assert e.value.code == "rego_parse_error"
    assert query(["package t\nx := \"a\tb\x01\"\n"], "y := data.t.x") == [{"y": "a\tb\x01"}]
