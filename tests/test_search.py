"""The class-combination search for large matrices (issue 14; `policydiff.search`).

Two checks, each against an independent answer:

- on small generated pairs (`strategies.api_policy_pairs`), which the matrix can still
  enumerate, the search — forced on — finds in every cell exactly the pairs of
  decisions the enumeration of every class combination finds, and each witness is
  decided so by real OPA;
- on large generated pairs (`strategies.large_policy_pairs`: tens of rules, 24
  constants an input array is tested against, levels, a helper rule), too large to
  enumerate, compare comes out complete; every witness differs under OPA as
  reported, and on requests drawn independently (`strategies.large_request`), OPA's
  decisions agree with the cell verdicts and every difference lies in a reported
  discrepancy of its direction.
"""

from __future__ import annotations

import random

from engines import EngineError, OpaEngine, decision
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import API_DATA, api_policy_pairs, large_policy_pairs, large_request

from policydiff import InputError, PolicyError, load_policy, search
from policydiff.analysis import analyze_policies
from policydiff.diff import diff
from policydiff.matrix import Space, dimensions

API_DIMS = dimensions(["action=input.method"])
LARGE_DIMS = dimensions(["role=input.subject.role", "action=input.action"])


def _opa(engine: OpaEngine, ref: str, inp: dict, fallback) -> bool:
    try:
        return decision(engine.evaluate(ref, inp))
    except EngineError as e:  # strict builtin errors: default mode leaves it undefined
        assert "eval_type_error" in str(e) or "eval_builtin_error" in str(e)
        return fallback.allows(inp)


def _pairs(found) -> dict:
    out: dict = {}
    for key, inp, pair in found:
        out.setdefault(key, set()).add(pair)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.filter_too_much])
@given(pair=api_policy_pairs())
def test_the_search_finds_what_enumerating_every_combination_finds(pair):
    try:
        p1 = load_policy(pair.v1, data=API_DATA, decision="data.api.allow")
        p2 = load_policy(pair.v2, data=API_DATA, decision="data.api.allow")
    except PolicyError:
        assume(False)
    found = search.representatives(Space(analyze_policies(p1, p2), API_DIMS), p1, p2, enumerate_below=0)
    assume(found is not None)  # out of the search's shape: diff enumerates
    try:
        enumerated = [(k, inp, (p1.allows(inp), p2.allows(inp)))
                      for k, inp in Space(analyze_policies(p1, p2), API_DIMS).representatives()]
    except InputError:  # matrix_too_large: nothing to hold the search against
        assume(False)
    searched = [(k, inp, (p1.allows(inp), p2.allows(inp))) for k, inp in found]
    assert _pairs(searched) == _pairs(enumerated)
    o1, o2 = OpaEngine({"v1.rego": pair.v1}, API_DATA), OpaEngine({"v2.rego": pair.v2}, API_DATA)
    for _, inp, (a1, a2) in searched:
        assert (_opa(o1, "data.api.allow", inp, p1), _opa(o2, "data.api.allow", inp, p2)) == (a1, a2), inp


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.data_too_large])
@given(pair=large_policy_pairs(), seed=st.integers(0, 2**32))
def test_a_large_pair_is_decided_exactly_against_opa(pair, seed: int):
    v1, v2 = pair
    p1 = load_policy(v1, decision="data.large.allow")
    p2 = load_policy(v2, decision="data.large.allow")
    report = diff(p1, p2, dims=LARGE_DIMS)
    assert report.summary.complete, report.summary.incomplete_reasons
    o1, o2 = OpaEngine({"v1.rego": v1}), OpaEngine({"v2.rego": v2})
    ref = "data.large.allow"
    for d in report.discrepancies:
        assert (_opa(o1, ref, d.witness, p1), _opa(o2, ref, d.witness, p2)) == \
            (d.v1 == "allow", d.v2 == "allow"), d.witness
    verdicts = {c.key: (c.v1, c.v2) for c in report.cells}
    reported = {(d.key, d.direction) for d in report.discrepancies}
    space = Space(analyze_policies(p1, p2), LARGE_DIMS)
    rnd = random.Random(seed)
    for _ in range(150):
        inp = large_request(rnd)
        key = space.cell_of(inp)
        a1, a2 = _opa(o1, ref, inp, p1), _opa(o2, ref, inp, p2)
        for verdict, allowed in zip(verdicts[key], (a1, a2)):
            assert verdict == "mixed" or (verdict == "allow") == allowed, (key, inp)
        if a1 != a2:
            assert (key, "v2_more_permissive" if a2 else "v2_more_restrictive") in reported, inp
