"""Separators between literals and around references, as OPA requires them (issue #13).

OPA refuses two body literals on one line with nothing between them (`rego_parse_error:
... expected \\n or ; or }`), reads a `[` or `(` that follows a term after a blank as a
new term (not an index or a call), and takes no blank around a reference's `.`; rules,
imports and the package may share a line. Every case below goes through real OPA and
through both of policydiff's parsers (the fast path and lark's loop): policydiff
refuses with a positioned `rego_parse_error` exactly the texts OPA refuses at parse
time. The hypothesis test joins valid literals with `;`, a line break or a blank and
compares the verdict with OPA's.
"""

from __future__ import annotations

import re

import pytest
from engines import EngineError, OpaEngine
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policydiff.cli import main
from policydiff.errors import PolicyError
from policydiff.frontend import rego
from policydiff.source import Source

# (module text, line of the refusal); OPA refuses each one at parse time.
OPA_REFUSES = {
    "two-trues": ("package p\nallow if { true true }", 2),
    "two-comparisons": ("package p\nallow if { input.x == 1 input.y == 2 }", 2),
    "glued-in": ("package p\nallow if { input.x in1 }", 2),
    "array-comprehension": ("package p\nr := [x | x := 1 y := 2]", 2),
    "set-comprehension": ("package p\nr := {x | some x in [1] x > 0}", 2),
    "object-comprehension": ("package p\nr := {x: 1 | some x in [1] x > 0}", 2),
    "else-body": ("package p\nr := 1 if { false } else := 2 if { true true }", 2),
    "some-in": ("package p\nallow if { some x in [1] x }", 2),
    "some-kv-in": ("package p\nallow if { some x, y in [1] true }", 2),
    "some-decl": ("package p\nallow if { some x y := 1 }", 2),
    "every-body": ("package p\nallow if { every x in [1] { x x } }", 2),
    "after-every": ("package p\nallow if { every x in [1] { x } true }", 2),
    "not": ("package p\nallow if { not false true }", 2),
    "with": ("package p\nallow if { x := 1 with input as 1 true }", 2),
    "function-body": ("package p\nf(x) := 1 if { x == 1 true }", 2),
    "later-line": ("package p\nallow if {\n\tinput.x\n\tinput.y == 1 input.z\n}", 4),
    "raw-string-across-lines": ("package p\nallow if { x := `a\nb` true }", 3),
    "blank-before-index": ("package p\nallow if { input.a [0] }", 2),
    "tab-before-index": ("package p\nallow if { input.a\t[0] }", 2),
    "blank-before-index-of-array": ("package p\nallow if { x := [1, 2] [0] }", 2),
    "blank-before-index-of-set": ("package p\nallow if { x := {1} [0] }", 2),
    "blank-before-index-in-head": ("package p\nx := input.a [0]", 2),
    "blank-before-call": ("package p\nallow if { count ([1]) }", 2),
    "blank-before-call-in-head": ("package p\nx := count ([1])", 2),
    "blank-before-parenthesis": ("package p\nallow if { count([1]) == 1 (1) }", 2),
    "blank-before-args-in-head": ("package p\nf (x) := 1", 2),
    "blank-in-ref-head": ('package p\na.b [c] := 1 if { c := "x" }', 2),
    "blank-in-import": ('package p\nimport data.x ["y"]', 2),
    "blank-before-dot": ("package p\nallow if { input .a }", 2),
    "blank-after-dot": ("package p\nallow if { input. a }", 2),
    "dot-opens-line": ("package p\nallow if { x := input\n.a }", 3),
    "blank-before-dot-in-package": ("package a .b", 1),
    "blank-after-dot-in-package": ("package a. b", 1),
    "blank-before-dot-in-import": ("package p\nimport data .x", 2),
    "blank-after-dot-in-import": ("package p\nimport data. x", 2),
    "trailing-semicolon": ("package p\nallow if { true; }", 2),
    "two-semicolons": ("package p\nallow if { true;; true }", 2),
    "object-comprehension-assignments": ("package p\nr := {k: v | k := 1 v := 2}", 2),
}

# OPA compiles each of these.
OPA_ACCEPTS = {
    "semicolon": "package p\nallow if { true; true }",
    "semicolon-with-blanks": "package p\nallow if { x := 1 ; y := 2; x < y }",
    "line-break": "package p\nallow if { true\ntrue }",
    "comment-then-line-break": "package p\nallow if { input.x == 1 # c\ninput.y }",
    "index-opens-line": "package p\nallow if { input.a\n\t[0] }",
    "blanks-inside-index": "package p\nallow if { input.a[ 0 ] }",
    "comprehension-semicolons": "package p\nr := [x | x := 1; y := 2; x < y]",
    "every-semicolon": "package p\nallow if { every x in [1] { x; x } }",
    "binary-minus-after-blank": "package p\nallow if { 1 -1 }",
    "assign-minus": "package p\nallow if { x := 1 -1; x == 0 }",
    "rules-on-one-line": "package p\np := 1 q := 2",
    "package-and-import": "package p import rego.v1",
    "imports-on-one-line": "package p\nimport input.x import input.y",
    "bodies-on-one-line": "package p\nallow if { true } deny if { true }",
    "package-and-rule": "package p allow := 1",
    "single-bodies-on-one-line": "package p\nallow if true deny if true",
    "default-and-rule": "package p\ndefault allow := false allow if true",
    "contains-and-rule": "package p\nallow contains 1 if true x := 2",
    "else-on-one-line": "package p\nallow if { false } else := 1",
    "index-of-array": "package p\nallow if { [1][0] == 1 }",
    "operator-opens-line": "package p\nallow if { input.x\n== 1 }",
    "union-opens-line": "package p\nallow if { input.x\n| input.y }",
    "comment-line-break-semicolon": "package p\nallow if { x := 1 # c\n; true }",
    "with-opens-line": "package p\nallow if { input.x with input as 1\nwith data.y as 2 }",
}


def _opa_parse_refusal(text: str) -> int | None:
    """The line OPA refuses `text` at with `rego_parse_error`, or None when it parses
    it (it may still refuse it later, for a type or safety error)."""
    try:
        OpaEngine({"t.rego": text}).close()
    except EngineError as e:
        found = re.search(r"t\.rego:(\d+): rego_parse_error\b", str(e))
        return int(found.group(1)) if found else None
    return None


def _our_parse_refusals(text: str, fast: bool):
    """Our `rego_parse_error` diagnostics for `text` (fast path or lark's loop)."""
    _, diags = rego.parse_collecting(Source(name="t.rego", text=text), fast=fast)
    return [d for d in diags if d.code == "rego_parse_error"]


@pytest.mark.parametrize("case", sorted(OPA_REFUSES))
def test_what_opa_refuses_is_refused_at_its_line(case):
    text, line = OPA_REFUSES[case]
    assert _opa_parse_refusal(text) == line, "OPA no longer refuses this text here"
    fast, slow = _our_parse_refusals(text, True), _our_parse_refusals(text, False)
    assert fast, "policydiff parses a text OPA refuses"
    assert fast == slow
    assert fast[0].span.line == line
    assert fast[0].span.col > 0


@pytest.mark.parametrize("case", sorted(OPA_ACCEPTS))
def test_what_opa_accepts_is_parsed(case):
    text = OPA_ACCEPTS[case]
    OpaEngine({"t.rego": text}).close()  # OPA compiles it
    assert _our_parse_refusals(text, True) == []
    assert _our_parse_refusals(text, False) == []


def test_the_refusal_points_at_the_second_literal():
    text = "package p\nallow if {\n\tinput.x == 1 input.y == 2\n}\n"
    (d,) = _our_parse_refusals(text, True)
    assert (d.span.line, d.span.col, d.span.end_col) == (3, 15, 20)
    assert d.message == "unexpected `input`: expected a line break or `;` before it"


def test_check_exits_2_with_the_position_and_no_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.rego"
    bad.write_text("package bad\nallow if { true true }\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2:17: rego_parse_error: unexpected `true`" in err
    assert "Traceback" not in err
    dotted = tmp_path / "dotted.rego"
    dotted.write_text("package bad\nx := input. a\n")
    assert main(["check", str(dotted)]) == 2
    err = capsys.readouterr().err
    assert f"{dotted}:2:" in err and "rego_parse_error" in err
    assert "takes no blank before or after it" in err
    assert "Traceback" not in err


def test_queries_need_separators_too():
    with pytest.raises(PolicyError) as info:
        rego.parse_query("true true")
    assert [(d.code, d.span.col) for d in info.value.diagnostics] == [("rego_parse_error", 6)]
    assert len(rego.parse_query("true; true")) == 2
    assert len(rego.parse_query("true\ntrue")) == 2


# Literals that parse on their own, some of which change meaning or stop parsing when
# glued to the one before (`-1 …` continues a subtraction, `[…]` and `(…)` start terms).
LITERALS = [
    "true", "input.x == 1", "count(input.xs) > 0", "not input.y", 'input.a[0] == "b"',
    "some v in input.xs", "[1, 2][0] == 1", "-1 < 0", "(1 + 2) == 3", "x := 1",
    "every v in [1] { v > 0 }", "input.s == `raw`", "input.m[input.k]", '{"a": 1}.a == 1',
    'y := {1, "b"}', "z := (2)", "input.a.b", "null != input.c", "w := [v | some v in input.xs]",
]
JOINERS = ["; ", ";", "\n", "\n\t", " # note\n", " ", "\t"]
CONTEXTS = [
    "allow if {{ {} }}",
    "r := [1 | {}]",
    "allow if {{ every w in [1] {{ {} }} }}",
    "r := 1 if {{ false }} else := 2 if {{ {} }}",
]


@st.composite
def _bodies(draw):
    lits = draw(st.lists(st.sampled_from(LITERALS), min_size=2, max_size=4))
    body = lits[0]
    for lit in lits[1:]:
        body += draw(st.sampled_from(JOINERS)) + lit
    return "package p\n" + draw(st.sampled_from(CONTEXTS)).format(body) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_bodies())
def test_joined_literals_are_refused_exactly_when_opa_refuses_them(text):
    opa = _opa_parse_refusal(text)
    event("OPA refuses" if opa else "OPA parses")
    fast, slow = _our_parse_refusals(text, True), _our_parse_refusals(text, False)
    assert fast == slow
    if opa is None:
        assert fast == [], f"policydiff refuses a text OPA parses: {fast}"
    else:
        assert fast, "policydiff parses a text OPA refuses"
        assert fast[0].span.line == opa
