"""`with` in the evaluator answers as OPA; in the symbolic compare it makes the report
incomplete, naming where, instead of being analysed as if it were absent."""

from __future__ import annotations

from pathlib import Path

import pytest
from engines import UNDEFINED, OpaEngine, PolicydiffEngine, Refused

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


# A builtin out of scope by design (the clock, the network, the environment) replaced by
# `with`: evaluated as OPA evaluates it where every call reached is replaced; refused,
# naming the builtin, where an evaluation reaches the real one.
CLOCK = """package c
import rego.v1

at_call := y if y := time.now_ns() with time.now_ns as 1700000000000000000
late if time.now_ns() > 1000
outer if late with time.now_ns as 2000
early if late with time.now_ns as 10
after(x) if time.now_ns() > x
through_function if after(5) with time.now_ns as 6
not_after if not after(7) with time.now_ns as 6
pass_resp := {"body": {"roles": ["admin"]}}
mock_send(req) := pass_resp if req.body.name == "alice"
else := {"body": {"roles": []}}
roles_of(who) := http.send({"method": "GET", "url": "https://x.example", "body": {"name": who}}).body.roles
admin if "admin" in roles_of(input.name)
mocked_admin if admin with http.send as mock_send
env := y if y := opa.runtime() with opa.runtime as {"env": {"HOME": "/"}}
"""
REPLACED = ["data.c.at_call", "data.c.outer", "data.c.early", "data.c.through_function", "data.c.not_after",
            "data.c.mocked_admin", "data.c.env"]


@pytest.mark.parametrize("ref", REPLACED)
@pytest.mark.parametrize("inp", [None, {"name": "alice"}, {"name": "bob"}])
def test_a_replaced_clock_network_or_environment_builtin_answers_as_opa(ref, inp):
    modules = {"c.rego": CLOCK}
    ours = PolicydiffEngine(modules).evaluate(ref, inp)
    assert ours == OpaEngine(modules).evaluate(ref, inp)
    # undefined only where the replacement says so (the clock at 10, bob not an admin)
    assert (ours is UNDEFINED) == (ref == "data.c.early" or (ref == "data.c.mocked_admin" and inp != {"name": "alice"}))


@pytest.mark.parametrize("ref", ["data.c.late", "data.c.admin"])
def test_reaching_the_real_builtin_is_refused_naming_it(ref):
    """`late` and `admin` unreplaced: OPA answers from the clock or the network; the
    evaluator refuses instead of guessing (or calling them undefined)."""
    engine = PolicydiffEngine({"c.rego": CLOCK})
    with pytest.raises(Refused) as info:
        engine.evaluate(ref, {"name": "alice"})
    assert info.value.code == "unsupported"
    builtin = "time.now_ns" if ref == "data.c.late" else "http.send"
    assert f"builtin `{builtin}` is not supported" in str(info.value)
    assert "without a `with` replacing it" in str(info.value)


def test_a_rule_evaluated_with_and_without_the_replacement_is_refused():
    """OPA's `q with time.now_ns as f; not q`: the second `q` reads the real clock."""
    from policydiff import PolicyError, query

    module = CLOCK + "both if { late with time.now_ns as 2000; not late }\n"
    with pytest.raises(PolicyError) as info:
        query([module], "x = data.c.both")
    assert info.value.code == "unsupported" and "time.now_ns" in str(info.value)
    assert query([module], "x = data.c.outer") == [{"x": True}]


def test_a_builtin_no_with_replaces_is_still_refused_at_load():
    from policydiff import PolicyError

    for text in ("package n\nlate if time.now_ns() > 1\n",
                 # replaced somewhere, but not this builtin
                 "package n\nlate if time.now_ns() > 1\nx if late with http.send as 1\n"):
        with pytest.raises(PolicyError) as info:
            load_policy(text)
        assert info.value.code == "unsupported"
        assert "builtin `time.now_ns` is not supported" in str(info.value)


def test_a_query_replacing_a_builtin_it_calls_itself():
    from policydiff import PolicyError, query

    assert query([], "x := time.now_ns() with time.now_ns as 3") == [{"x": 3}]
    assert query([], 'x := http.send({"url": "u"}) with http.send as {"status_code": 200}') == [
        {"x": {"status_code": 200}}]
    for q in ("x := time.now_ns()", "x := time.now_ns() with count as 1"):
        with pytest.raises(PolicyError) as info:
            query([], q)
        assert info.value.code == "unsupported"


def test_check_warns_of_each_call_kept_only_under_a_with(tmp_path, capsys):
    from policydiff.cli import main

    f = tmp_path / "c.rego"
    f.write_text(CLOCK)
    assert main(["check", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    warned = [line for line in out if ": warning: " in line]
    assert [w.split(": warning: ")[1].split("`")[1] for w in warned] == ["time.now_ns"] * 3 + [
        "http.send", "opa.runtime"]
    assert warned[1].startswith(f"{f}:5:") and "refused" in warned[1]


def test_compare_refuses_where_a_decision_reaches_the_real_builtin():
    """A v2 whose decision reaches the real clock for some cells: compare stops with
    `unsupported` (naming the builtin) instead of reporting a result for them."""
    from policydiff import PolicyError

    text = (POLICIES / "rbac_v1.rego").read_text()
    v1 = load_policy(text)
    v2 = load_policy(text + '\nallow if { input.subject.role == "viewer"; time.now_ns() > 1 }\n'
                            "probe if allow with time.now_ns as 1\n")
    with pytest.raises(PolicyError) as info:
        diff(v1, v2)
    assert info.value.code == "unsupported" and "time.now_ns" in str(info.value)


def test_compare_decides_a_clock_replaced_under_every_path_as_the_evaluator():
    """The decision reaches the clock only under `with`: compare finds what the same
    policy with the replacement written in (no clock at all) gives, cell for cell."""
    text = (POLICIES / "rbac_v1.rego").read_text()
    v1 = load_policy(text)
    grant = '\nallow if { input.subject.role == "viewer"; fresh }\n'
    clocked = diff(v1, load_policy(text + grant + "stamp if time.now_ns() > 5\nfresh if stamp with time.now_ns as 9\n"))
    plain = diff(v1, load_policy(text + grant + "fresh if 9 > 5\n"))
    assert clocked.summary.v2_more_permissive == plain.summary.v2_more_permissive
    assert clocked.summary.discrepancies == plain.summary.discrepancies
    assert clocked.summary.complete == plain.summary.complete
    assert plain.summary.discrepancies  # the grant loosens v1: the comparison is not vacuous
