"""The solver's budget is in z3's resource units, in a context of each class's own.

A proof must not depend on the machine's load or on what the process solved before
(same commit, same verdict): z3's answer to a query depends on what its context
answered before, and a wall-clock timeout turned proofs into "unknown" on a loaded CI
machine. Out of budget, a cell is unproved and the gate blocks: never a proof.
"""

from __future__ import annotations

import z3

from policydiff import relations, solver
from policydiff.diff import diff
from policydiff.matrix import dimensions
from policydiff.policy import load_policy

HEAD = "package p\nimport rego.v1\ndefault allow := false\n"
DIMS = dimensions(["action=input.action"])  # no dimension the policies read: one cell


def _policy(body: str):
    return load_policy(HEAD + f"allow if {{\n{body.replace('; ', chr(10))}\n}}\n", decision="data.p.allow")


def _string_order(z: solver.Session) -> tuple:
    x, y = z3.String("x"), z3.String("y")
    s = z.solver(z3.Length(x) > 3, z3.PrefixOf(z3.StringVal("ab"), x), x < y,
                 z3.Not(z3.Contains(y, z3.StringVal("c"))))
    r = z.check(s)
    return r, z.spent, str(s.model()) if r == z3.sat else None


def test_the_same_query_gets_the_same_answer_and_work_whatever_was_solved_before():
    first = _string_order(solver.Session())
    assert first[0] == z3.sat and first[1] > 0
    # other work in between, in z3's main context and in other sessions
    busy = solver.Session()
    for _ in range(2):
        _string_order(busy)
    diff(_policy('input.x < "m"'), _policy('input.x <= "l"'), dims=DIMS)
    assert _string_order(solver.Session()) == first
    # a context that already answered it answers it with other work: hence a session per class
    assert _string_order(busy)[1:] != first[1:]


def test_a_check_past_its_units_is_unknown_and_a_spent_budget_asks_z3_nothing():
    z = solver.Session(rlimit=1_000)
    assert _string_order(z)[0] == z3.unknown
    spent = solver.Session(budget=1)
    assert _string_order(spent)[0] in (z3.unknown, z3.sat)
    assert spent.left() <= 0
    assert _string_order(spent)[0] == z3.unknown


def test_a_class_out_of_solver_units_is_unproved_and_blocks(monkeypatch):
    decided = diff(_policy("input.x > 2"), _policy("input.x >= 3"), dims=DIMS)
    assert decided.summary.complete, decided.summary.incomplete_reasons
    monkeypatch.setattr(solver, "RLIMIT", 1)
    report = diff(_policy("input.x > 2"), _policy("input.x >= 3"), dims=DIMS)
    assert not report.summary.complete and not report.gate.passed
    assert any("input.x" in r for r in report.summary.incomplete_reasons), report.summary.incomplete_reasons


def test_related_values_out_of_solver_units_are_unproved_and_block(monkeypatch):
    v1, v2 = "input.a < input.b; input.b < input.c", "input.a < input.c"
    decided = diff(_policy(v1), _policy(v2), dims=DIMS)
    assert decided.summary.complete, decided.summary.incomplete_reasons
    monkeypatch.setattr(relations, "BUDGET", 1)
    report = diff(_policy(v1), _policy(v2), dims=DIMS)
    assert not report.summary.complete and not report.gate.passed
    assert any("resource units" in r for r in report.summary.incomplete_reasons), \
        report.summary.incomplete_reasons
