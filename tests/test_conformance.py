"""OPA's own conformance cases (tests/fixtures/opa-cases/v1), run through `policydiff.query`.

Every case inside the subset must give OPA's answer; every case outside it must be
refused with code `unsupported` (or fail with the error code the case expects). No case
may produce a wrong answer. The three counts are printed at the end of the module.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policydiff import PolicyError, query
from policydiff.compile.values import equal, freeze, sort_key

CASES_DIR = Path(__file__).resolve().parent / "fixtures" / "opa-cases" / "v1"
KNOWN_FIELDS = {"note", "query", "modules", "data", "input", "input_term", "want_result",
                "want_error", "want_error_code", "sort_bindings", "strict_error"}


def _load():
    cases = []
    for f in sorted(CASES_DIR.glob("**/*.yaml")):
        for c in yaml.safe_load(f.read_text(encoding="utf-8"))["cases"]:
            unknown = set(c) - KNOWN_FIELDS
            assert not unknown, f"{f}: unknown case fields {unknown}"
            cases.append(c)
    return cases


CASES = _load()


def _input(case):
    if "input" in case:
        return case["input"]
    if "input_term" in case:
        (sol,) = query([], f"x := {case['input_term']}")
        return sol["x"]
    return None


def _normalise(results, sort_bindings):
    out = []
    for binding in results:
        b = {}
        for k, v in binding.items():
            v = freeze(v)
            if sort_bindings and isinstance(v, tuple):
                v = tuple(sorted(v, key=sort_key))
            b[k] = v
        out.append(b)
    return sorted(out, key=lambda b: sort_key(freeze(sorted(b.items()))))


def _same(got, want) -> bool:
    return len(got) == len(want) and all(
        g.keys() == w.keys() and all(equal(g[k], w[k]) for k in g) for g, w in zip(got, want))


def run_case(case) -> tuple[str, str]:
    """`("passed" | "refused" | "wrong", detail)` for one case."""
    try:
        got = query(case.get("modules", []), case["query"], input=_input(case),
                    data=case.get("data") or {}, strict=bool(case.get("strict_error")))
    except PolicyError as e:
        if e.code == "unsupported":
            return "refused", str(e)
        if case.get("want_error_code") == e.code:
            return "passed", ""
        return "wrong", f"unexpected error {e.code}: {e}"
    if "want_error_code" in case:
        return "wrong", f"expected {case['want_error_code']}, got {got!r}"
    sort_bindings = bool(case.get("sort_bindings"))
    if not _same(_normalise(got, sort_bindings), _normalise(case["want_result"], sort_bindings)):
        return "wrong", f"wrong answer\n got: {got!r}\nwant: {case['want_result']!r}"
    return "passed", ""


@pytest.mark.parametrize("case", CASES, ids=[c["note"] for c in CASES])
def test_case(case):
    outcome, detail = run_case(case)
    assert outcome != "wrong", detail


def test_corpus_counts():
    counts = {"passed": 0, "refused": 0, "wrong": 0}
    for case in CASES:
        counts[run_case(case)[0]] += 1
    print(f"\nconformance: {counts['passed']} passed, {counts['refused']} refused, "
          f"{counts['wrong']} wrong, of {len(CASES)}")
    assert counts["wrong"] == 0
    assert counts["passed"] >= 160
