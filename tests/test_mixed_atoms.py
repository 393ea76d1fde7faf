"""Member atoms, derived rule values and array patterns mixed, held against real OPA.

Each of these made compare prove more cells complete, which is where an unsound pass
would hide. Hypothesis draws two small modules from templates mixing them with each
other and with what was there (`not`, `else`, defaults, helper rules, partial sets,
functions, `every`, a dimension), compares them, and checks the answer against OPA
over every input of a small space holding absent, wrongly typed and other-length
values: every witness differs under OPA as reported, and when the report says
complete every input OPA decides differently lies in a reported cell of its
direction and no input contradicts its cell's verdicts; an incomplete report blocks.
A refusal (`unsupported`, `matrix_too_large`, a conflict) is honest and proves nothing.
Found this way: `count(input.teams[_]) >= 0` compared complete while no member of
`input.teams` equal to no constant was ever tried (tests/test_member_atoms.py).
"""

from __future__ import annotations

import itertools
import json

import pytest
from engines import EngineError, OpaEngine, default_mode_decisions
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from policydiff import PolicyError
from policydiff.analysis import analyze_policies
from policydiff.diff import diff
from policydiff.errors import InputError
from policydiff.matrix import Space, dimensions
from policydiff.policy import load_policy

HEAD = "package p\nimport rego.v1\ndefault allow := false\n"
DIMS = dimensions(["action=input.action"])
ABSENT = object()
VALUES = {
    "x": [ABSENT, None, 1, "", "a", "ab", "b", "x", "a-c", "CN=a-c", "CN=b", "abc", ["a"]],
    "teams": [ABSENT, "a", [], ["a"], ["ab"], ["b"], ["a", "b"], ["b", "abc"], [1], ["abc", 3], {"k": "a"},
              [["a"]], ["a-c"]],
    "path": [ABSENT, [], ["api"], ["api", "v1"], ["api", "v1", "x"], ["api", "v1", "a"], ["api", "x"],
             ["api", "v1", "x", "z"], "api", [1, "v1"], {"0": "api"}, ["api", 1], ["x"]],
    "action": [ABSENT, "read", "write"],
}
WORDS = ("a", "ab", "b", "x", "api", "v1", "a-c")


def _q(s) -> str:
    return json.dumps(s)


@st.composite
def _test(draw, e: str) -> str:
    """A test on one string value `e`."""
    w = _q(draw(st.sampled_from(WORDS)))
    pre = _q(draw(st.sampled_from(["a", "ab", "b", "CN=", "-c"])))
    form = draw(st.sampled_from([
        f"startswith({e}, {pre})", f"endswith({e}, {pre})", f"{e} == {w}", f"{e} != {w}",
        f'regex.match("^a.*c$", {e})', f'regex.match("^b|^x", {e})', f"contains({e}, \"-\")",
        f"count({e}) > {draw(st.integers(0, 2))}", f"count({e}) >= 0", f'upper({e}) == "AB"',
    ]))
    return f"not {form}" if draw(st.integers(0, 4)) == 0 else form


@st.composite
def _body(draw, rules: list[str], n: int) -> list[str]:
    """The literals of one body (with the rules they need appended to `rules`)."""
    t, p, u = f"t{n}", f"p{n}", f"u{n}"
    kind = draw(st.sampled_from(["member", "member_ref", "every", "array", "array_at", "derived",
                                 "set", "func", "helper", "plain"]))
    match kind:
        case "member":
            body = [f"some {t} in input.teams", draw(_test(t))]
        case "member_ref":
            body = [draw(_test("input.teams[_]")).removeprefix("not ")]
        case "every":
            body = [f"every {t} in input.teams {{ {draw(_test(t))} }}"]
        case "array":
            pattern = draw(st.sampled_from([f'["api", "v1", {p}]', f'["api", {p}]', f"[_, {p}]"]))
            body = [f"input.path = {pattern}", draw(_test(p))]
        case "array_at":
            body = [draw(st.sampled_from([f"input.path[{draw(st.integers(0, 2))}] == {_q(draw(st.sampled_from(WORDS)))}",
                                          'not input.path = ["api", "v1", "x"]',
                                          'input.path == ["api", "x"]']))]
        case "derived":
            rules += draw(st.sampled_from([
                [f'{u} := substring(input.x, 3, -1) if startswith(input.x, "CN=") else := input.x'],
                [f'{u} := lower(input.x) if {{ {draw(_test("input.x"))} }} else := "none"'],
                [f'default {u} := "d"', f'{u} := trim(input.x, "-") if {draw(_test("input.x"))}'],
                [f'{u} := split(input.x, "-")[0]'],
            ]))
            body = [draw(_test(u))]
        case "set":
            rules.append(f"s{n} contains {t} if {{ some {t} in input.teams; {draw(_test(t))} }}")
            body = [draw(st.sampled_from([f"count(s{n}) > 0", f'"ab" in s{n}', f"not count(s{n}) == 0"]))]
        case "func":
            rules += [f"f{n}(s) if {draw(_test('s'))}", f"f{n}(s) if {draw(_test('s'))}"]
            body = [f"f{n}({draw(st.sampled_from(['input.x', 'input.teams[_]']))})"]
        case "helper":
            inner = draw(_body(rules, n + 100))
            rules.append(f"h{n} if {{ {'; '.join(inner)} }}")
            body = [draw(st.sampled_from([f"h{n}", f"not h{n}"]))]
        case _:
            body = [draw(_test("input.x"))]
    if draw(st.integers(0, 3)) == 0:
        body.append(f"input.action == {_q(draw(st.sampled_from(['read', 'write'])))}")
    return body


@st.composite
def modules(draw, stem: int) -> str:
    rules: list[str] = []
    allows = [draw(_body(rules, stem + i)) for i in range(draw(st.integers(1, 2)))]
    text = [f"allow if {{\n  {chr(10).join('  ' + lit for lit in body).strip()}\n}}" for body in allows]
    if len(text) == 1 and draw(st.integers(0, 4)) == 0:  # two clauses and an `else` conflict
        text[-1] += ' else := false if input.action == "read"'
    return HEAD + "\n".join(rules + text) + "\n"


def _inputs(text: str):
    space = {k: v for k, v in VALUES.items() if f"input.{k}" in text or k == "action"}
    for combo in itertools.product(*space.values()):
        yield {k: v for k, v in zip(space, combo) if v is not ABSENT}


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(v1=modules(0), v2=modules(10))
@example(v1=HEAD + 'allow if { not startswith(input.x, "a") }\nallow if { count(input.teams[_]) > 0; input.action == "read" }\n',
         v2=HEAD + "h10 if { count(input.teams[_]) >= 0 }\nallow if h10\n")  # found by this test
def test_mixed_atoms_are_exact_or_block(v1, v2):
    _exact(v1, v2, DIMS)


@pytest.mark.parametrize("v1, v2", [
    ('allow if "a" in input.teams', 'allow if "b" in input.teams'),
    ('allow if regex.match("^a", input.teams[_])', 'allow if { some t in input.teams; startswith(t, "ab") }'),
])
def test_a_dimension_read_as_a_collection_is_not_proved(v1, v2):
    """Each collection is a cell of its own: the few compare tried are not all of them
    (`["b", "abc"]` was a cell of its own where v2 allowed more, unreported, complete)."""
    dims = dimensions(["role=input.teams"])
    report = diff(load_policy(HEAD + v1, decision="data.p.allow"), load_policy(HEAD + v2, decision="data.p.allow"),
                  dims=dims)
    assert "dimension `input.teams` is not a single value" in report.summary.incomplete_reasons
    assert not report.gate.passed
    _exact(HEAD + v1 + "\n", HEAD + v2 + "\n", dims)


def _exact(v1: str, v2: str, dims) -> None:
    """Compare `v1` with `v2` and hold the answer against OPA over `VALUES`."""
    try:
        p1, p2 = (load_policy(v, decision="data.p.allow") for v in (v1, v2))
        report = diff(p1, p2, dims=dims)
    except (PolicyError, InputError):  # refused, or a conflict: nothing passed
        return
    try:
        engines = (OpaEngine({"a.rego": v1}), p1), (OpaEngine({"b.rego": v2}), p2)
    except EngineError as e:  # OPA rejects what policydiff loaded: a gap of its own kind
        raise AssertionError(f"OPA rejects a module policydiff loads: {e}") from None
    try:
        opa = lambda inp: default_mode_decisions(engines, inp)
        for d in report.discrepancies:  # every witness differs under OPA as reported
            assert opa(d.witness) == (d.v1 == "allow", d.v2 == "allow"), d.witness
        if not report.summary.complete:
            assert not report.gate.passed
            return
        cells = Space(analyze_policies(p1, p2), dims)
        reported = {((d.tenant, d.role, d.action, d.relation), d.direction) for d in report.discrepancies}
        verdicts = {(c.tenant, c.role, c.action, c.relation): (c.v1, c.v2) for c in report.cells}
        for inp in _inputs(v1 + v2):
            try:
                got = opa(inp)
            except AssertionError as e:  # OPA halts on a conflict: compare cannot have proved it
                raise AssertionError(f"complete, yet OPA halts on {inp}: {e}") from None
            key = cells.cell_of(inp)
            verdict = verdicts.get(tuple(key)) if key is not None else None
            if verdict is not None:
                assert all(v == "mixed" or (v == "allow") == a for v, a in zip(verdict, got)), (inp, key, verdict)
            if got[0] != got[1]:
                direction = "v2_more_permissive" if got[1] else "v2_more_restrictive"
                assert key is not None and (tuple(key), direction) in reported, (inp, key, direction)
    finally:
        for engine, _ in engines:
            engine.close()
