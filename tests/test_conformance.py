"""OPA's own conformance cases (tests/fixtures/opa-cases/v1), run through `policydiff.query`.

Every case inside the subset must give OPA 1.20's answer; every case outside it must be
refused with code `unsupported` (or fail with the error code the case expects). No case
may produce a wrong answer, and the refusals must all be of builtins that are out of
scope by design (`OUT_OF_SCOPE`). The counts are printed at the end of the module.

The corpus is taken from OPA's main branch, which is ahead of OPA 1.20.2 in a few
places. `OPA_DIFFERS` keeps the cases OPA 1.20.2 itself does not pass, each with the
reason; for them the judge is what OPA 1.20.2 answers (run here through
`opa_bindings`), not what the case file says. `test_opa_differs_is_current` checks the
list against real OPA, so it cannot drift.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from policydiff import PolicyError, query
from policydiff.compile.builtins import OUT_OF_SCOPE
from policydiff.compile.values import equal, freeze, sort_key

CASES_DIR = Path(__file__).resolve().parent / "fixtures" / "opa-cases" / "v1"
KNOWN_FIELDS = {"note", "query", "modules", "data", "input", "input_term", "want_result",
                "want_error", "want_error_code", "sort_bindings", "strict_error"}

# Case ids (`folder/file.yaml#index`) that OPA 1.20.2 does not pass, with the reason.
OPA_DIFFERS: dict[str, str] = {
    "jsonbuiltins/test-is-valid.yaml#4":
        "OPA 1.20.2's yaml.is_valid accepts documents after a broken one (fixed later upstream)",
    "baseandvirtualdocs/test-baseandvirtualdocs-0704.yaml#0":
        "OPA 1.20.2 refuses a rule at a path the base document holds (rego_compile_error: conflicting "
        "rule for data path); the case, from later upstream, wants the base value",
    "negation/test-not-body-rego-v2.yaml#0": "OPA 1.20.2 has no `import rego.v2` (rego_parse_error)",
    "negation/test-not-body-rego-v2.yaml#1": "OPA 1.20.2 has no `import rego.v2` (rego_parse_error)",
}
# Cases OPA 1.20.2 passes but not through `opa_bindings`, which always evaluates with
# strict builtin errors: the case wants OPA's non-strict answer (undefined), which
# policydiff gives; the check against real OPA skips them.
STRICT_ONLY_BINDINGS = {
    "strings/test-anyprefixmatch.yaml#17", "strings/test-anyprefixmatch.yaml#19",
    "strings/test-anysuffixmatch.yaml#16", "strings/test-anysuffixmatch.yaml#17",
    "strings/test-anysuffixmatch.yaml#18", "strings/test-anysuffixmatch.yaml#19",
    "withkeyword/test-with-builtin-mock.yaml#13",  # count(4) in a clause that does not decide
    # a failed json.patch, a bad pattern, a uuid.parse of a number: undefined, not an error
    "jsonpatch/coverage.yaml#0", "jsonpatch/json-patch-tests.yaml#0",
    "regexreplace/test-regexreplace-0001.yaml#2", "uuid/test-uuid-parse.yaml#3",
}

# Cases policydiff does not pass yet, with the reason; each must fail exactly so (a
# refusal, or the error named), never with a wrong answer. The README counts them.
NOT_YET: dict[str, str] = {}

# Cases refused by design for what a builtin returns rather than which builtin it is,
# with the text the refusal must hold and the reason (the README's fidelity section).
BY_DESIGN: dict[str, tuple[str, str]] = {
    "aggregates/test-aggregates-bad-utf8-runes.yaml#0": (
        "the decoded bytes are not UTF-8 text",
        ("base64.decode to bytes that are not UTF-8: OPA's strings are Go's, bytes, and each builtin treats a "
         "bad byte its own way (count: one character; upper, lower, substring: U+FFFD; replace, trim, "
         "base64.encode: kept; concat: joined with its neighbours into text; < and sort: by bytes; output: "
         "U+FFFD), which no Unicode string reproduces: holding them would take Go's string model in every "
         "string builtin")),
}


def _refused_by_design(detail: str) -> bool:
    """A refusal names only builtins that are out of scope by design (see the README's
    builtin table): their answer depends on the clock, randomness, the network or the
    environment, or they have a side effect."""
    named = re.findall(r"builtin `([^`]+)` is not supported", detail)
    return bool(named) and len(named) == detail.count("unsupported") and set(named) <= set(OUT_OF_SCOPE)


def _load():
    cases = []
    for f in sorted(CASES_DIR.glob("**/*.yaml")):
        rel = f.relative_to(CASES_DIR).as_posix()
        for i, c in enumerate(yaml.safe_load(f.read_text(encoding="utf-8"))["cases"]):
            unknown = set(c) - KNOWN_FIELDS
            assert not unknown, f"{f}: unknown case fields {unknown}"
            cases.append((f"{rel}#{i}", c))
    return cases


CASES = _load()
BY_ID = dict(CASES)


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


def _wanted_code(case) -> str | None:
    if "want_error_code" in case:
        return case["want_error_code"]
    m = re.search(r"\b((?:eval|rego)_[a-z_]+)\b", case.get("want_error", ""))
    return m.group(1) if m else None


def _opa(case) -> tuple[list | None, str | None]:
    """What OPA 1.20.2 answers: `(bindings, None)` or `(None, error code)`."""
    import opa_bindings

    engine = opa_bindings.OpaEngine()
    try:
        if case.get("data"):
            engine.add_data(case["data"])
        for n, text in enumerate(case.get("modules", [])):
            engine.add_policy(f"test-{n}.rego", text)
        inp = _input(case)
        try:
            got = engine.eval_query(case["query"], inp) if inp is not None else engine.eval_query(case["query"])
        except opa_bindings.OpaUndefinedError:
            got = []
    except opa_bindings.OpaError as e:
        m = re.search(r"\b((?:eval|rego)_[a-z_]+)\b", e.message)
        return None, m.group(1) if m else e.code
    finally:
        engine.close()
    return got, None


def _judge(case_id: str, case) -> dict:
    """The case as OPA 1.20.2 decides it: the file's expectations, or OPA's own answer
    for the cases on `OPA_DIFFERS`."""
    if case_id not in OPA_DIFFERS:
        return case
    got, code = _opa(case)
    judged = {k: v for k, v in case.items() if k not in ("want_result", "want_error", "want_error_code")}
    if code is not None:
        judged["want_error_code"] = code
    else:
        judged["want_result"] = got
    return judged


@cache
def run_case(case_id: str) -> tuple[str, str]:
    """`("passed" | "refused" | "wrong", detail)` for one case."""
    case = _judge(case_id, BY_ID[case_id])
    try:
        got = query(case.get("modules", []), case["query"], input=_input(case),
                    data=case.get("data") or {}, strict=bool(case.get("strict_error")))
    except PolicyError as e:
        if e.code == "unsupported":
            return "refused", str(e)
        if _wanted_code(case) == e.code:
            return "passed", ""
        return "wrong", f"unexpected error {e.code}: {e}"
    if "want_error_code" in case or "want_error" in case:
        return "wrong", f"expected {case.get('want_error_code') or case['want_error']}, got {got!r}"
    sort_bindings = bool(case.get("sort_bindings"))
    if not _same(_normalise(got, sort_bindings), _normalise(case["want_result"], sort_bindings)):
        return "wrong", f"wrong answer\n got: {got!r}\nwant: {case['want_result']!r}"
    return "passed", ""


@pytest.mark.parametrize("case_id", [i for i, _ in CASES], ids=[f"{i} {c['note']}" for i, c in CASES])
def test_case(case_id):
    outcome, detail = run_case(case_id)
    if case_id in NOT_YET:
        expected = NOT_YET[case_id]
        assert outcome != "passed", f"passes now: drop it from NOT_YET ({expected})"
        assert outcome == "refused" if "(refused)" in expected else expected.split(":")[0] in detail, detail
        return
    assert outcome != "wrong", detail
    if case_id in BY_DESIGN:
        assert outcome == "refused" and BY_DESIGN[case_id][0] in detail, detail
    elif outcome == "refused":
        assert _refused_by_design(detail), f"refused a case in scope: {detail}"


# (query, OPA 1.20's answer): bytes that are not UTF-8, each builtin its own way (BY_DESIGN)
_GO_BYTES = [
    ('x := count(base64.decode("gA=="))', 1),  # 0x80: one character
    ('x := base64.decode("gA==") < "é"', True),  # by bytes: 0x80 < 0xc3
    ('x := concat("", [base64.decode("4oI="), base64.decode("rA==")])', "€"),  # two halves joined
    ('x := base64.encode(upper(base64.decode("gA==")))', "77+9"),  # U+FFFD
    ('x := base64.encode(replace(base64.decode("gGE="), "a", "b"))', "gGI="),  # kept
    ('x := json.marshal(base64.decode("gA=="))', r'"\ufffd"'),  # written as U+FFFD
]


def test_bytes_that_are_not_utf8_are_go_strings_in_opa():
    """The reason `BY_DESIGN` gives, against real OPA: a bad byte is one character to
    `count`, ordered as a byte, joined by `concat`, replaced by `upper` and kept by
    `replace`; policydiff refuses the decoding instead of guessing."""
    import opa_bindings

    for text, want in _GO_BYTES:
        engine = opa_bindings.OpaEngine()
        try:
            assert engine.eval_query(text) == [{"x": want}], text
        finally:
            engine.close()
        try:
            query([], text)
        except PolicyError as e:
            assert e.code == "unsupported" and "not UTF-8 text" in str(e), (text, e)
        else:
            raise AssertionError(f"not refused: {text}")


def test_opa_differs_is_current():
    """Real OPA 1.20.2 fails exactly the cases on `OPA_DIFFERS` (and passes the rest,
    but for the non-strict cases it cannot run here)."""
    failing = set()
    for case_id, case in CASES:
        if case_id in STRICT_ONLY_BINDINGS:
            continue
        got, code = _opa(case)
        if code is not None:
            ok = _wanted_code(case) is not None
        else:
            s = bool(case.get("sort_bindings"))
            ok = "want_result" in case and _same(_normalise(got, s), _normalise(case["want_result"], s))
        if not ok:
            failing.add(case_id)
    assert failing == set(OPA_DIFFERS)


def test_corpus_counts():
    counts = {"passed": 0, "refused": 0, "wrong": 0}
    for case_id, _ in CASES:
        counts[run_case(case_id)[0]] += 1
    by_design = sum(run_case(i)[0] == "refused" and i not in NOT_YET for i, _ in CASES)
    print(f"\nconformance: {counts['passed']} passed, {counts['refused']} refused ({by_design} by design), "
          f"{counts['wrong']} wrong, of {len(CASES)}; not yet: {len(NOT_YET)}")
    assert counts["wrong"] <= sum("rego_parse_error" in why for why in NOT_YET.values())
    assert counts["passed"] >= len(CASES) - len(NOT_YET) - by_design
    # the README's fidelity section says these counts
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8").split())
    not_yet = f"and {len(NOT_YET)} is refused for now" if NOT_YET else "and none is refused for now"
    assert (f"of {len(CASES)} cases, {counts['passed']} pass, {by_design} are refused by design" in readme
            and not_yet in readme.replace(" are refused for now", " is refused for now"))
