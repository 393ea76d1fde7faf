"""`with` in the evaluator answers as OPA; in the symbolic compare it makes the report
incomplete, naming where, instead of being analysed as if it were absent."""

from __future__ import annotations

from pathlib import Path

import pytest
from engines import OpaEngine, PolicydiffEngine

from policydiff import load_policy
from policydiff.diff import diff

POLICIES = Path(__file__).resolve().parents[1] / "policies"

MODULE = """package w
import rego.v1

admin if input.subject.role == "admin"
allow if admin with input.subject.role as "admin"
double(x) := x * 2
n := y if y := double(3) with double as triple
triple(x) := x * 3
c := y if y := count([1, 2]) with count as 7
roles := y if y := data.roles.admin with data.roles as {"admin": ["*"]}
seen contains r if some r in data.roles.viewer with data.roles.viewer as ["read"]
"""


@pytest.mark.parametrize("ref", ["data.w.allow", "data.w.n", "data.w.c", "data.w.roles", "data.w.seen",
                                 "data.w.admin"])
@pytest.mark.parametrize("inp", [None, {"subject": {"role": "viewer"}}])
def test_with_answers_as_opa(ref, inp):
    modules, data = {"w.rego": MODULE}, {"roles": {"viewer": ["list"]}}
    assert PolicydiffEngine(modules, data).evaluate(ref, inp) == OpaEngine(modules, data).evaluate(ref, inp)


def test_compare_reports_a_rule_with_with_as_incomplete():
    v1 = load_policy(str(POLICIES / "rbac_v1.rego"))
    text = (POLICIES / "rbac_v1.rego").read_text()
    v2 = load_policy(text + '\nprobe if allow with input.subject.role as "admin"\n')
    report = diff(v1, v2)
    assert not report.summary.complete
    assert any("`with`" in why for why in report.summary.incomplete_reasons), report.summary.incomplete_reasons


def test_a_query_replacing_what_no_rule_replaces_is_refused():
    """The rules are compiled without looking for a replacement no `with` of theirs
    makes: a query's `with count as …` or `with data.… as …` would be ignored."""
    from policydiff import PolicyError, query

    module = "package t\nf(_) := 7\nq := count([1, 2])\nr := data.d.x\n"
    for q in ("x = data.t.q with count as data.t.f", "x = data.t.r with data.d.x as 5"):
        with pytest.raises(PolicyError) as info:
            query([module], q, data={"d": {"x": 1}})
        assert info.value.code == "unsupported"
    assert query([module], "x = input with input as 1") == [{"x": 1}]
