"""Solver time per policy pair, next to brute force through real OPA.

    python benches/solver.py [--rules N] [--repeat R]

Prints, in one run:

1. for each pair of one-value tests the solver decides (ordering, arithmetic, string
   builtins; the pairs of tests/test_solver.py), the time of `diff` (analysis, solver,
   evaluation), of the solver alone (building the class space), and of OPA deciding
   both policies on every input of a small product of values (47 values), which
   proves nothing beyond those values; the ratio is OPA's time over `diff`'s;
2. a generated policy of `--rules` rules (60 by default), each granting a role an
   action above a level threshold (`input.resource.level > t`, 20 thresholds, 5 roles, 4 actions), against
   the same policy with one threshold lowered by a half (a loosening): the solver's time, the whole
   `diff`'s, and OPA brute force over roles x actions x 41 levels x 4 relations;
3. pairs relating two input values (`input.a < input.b`, `startswith(input.a, input.b)`,
   `input.a + 1 < input.b`, `policydiff.relations`): `diff`'s time next to OPA on every
   pair of 24 values (576 inputs), which again proves nothing beyond them; then chains of
   3 and 4 related values next to OPA on every tuple of 8 values (512 and 4,096 inputs);
4. a generated pair of `--large-rules` rules (300 by default) over 8 roles, 18 actions, 10
   kinds, 24 groups an input array is tested against and 10 levels, v2 adding one rule
   (`policydiff.search`, issue 14): `diff`'s time, the number of class combinations the
   matrix would otherwise evaluate, and OPA's time per request on 2,000 requests with
   what brute force over those combinations would take at that rate (an estimate, not
   a run: 2**24 subsets of groups alone).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from pathlib import Path

import opa_bindings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_solver import ABSENT, PAIRS, VALUES

from policydiff import load_policy
from policydiff.analysis import analyze_policies
from policydiff.diff import diff
from policydiff.matrix import Space, dimensions

HEAD = "package p\nimport rego.v1\ndefault allow := false\n"
DIMS = dimensions(["action=input.action"])


def _text(body: str) -> str:
    return HEAD + "allow if {\n" + body.replace("; ", "\n") + "\n}\n"


def _best(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def _opa(texts: list[str], inputs: list[dict]) -> float:
    engines = []
    for text in texts:
        e = opa_bindings.OpaEngine()
        e.add_policy("p.rego", text)
        engines.append(e)
    t = time.perf_counter()
    for inp in inputs:
        for e in engines:
            try:
                e.eval_document("p/allow", inp)
            except opa_bindings.OpaError:
                pass
    return time.perf_counter() - t


def pairs(repeat: int) -> None:
    print(f"{'pair':<58} {'diff s':>7} {'solver s':>8} {'OPA s':>7} {'ratio':>6}  result")
    inputs = [{} if v is ABSENT else {"x": v} for v in VALUES]
    for v1, v2, _ in PAIRS:
        p1, p2 = load_policy(_text(v1), decision="data.p.allow"), load_policy(_text(v2), decision="data.p.allow")
        whole = _best(lambda p1=p1, p2=p2: diff(p1, p2, dims=DIMS), repeat)
        space = _best(lambda p1=p1, p2=p2: Space(analyze_policies(p1, p2), DIMS), repeat)
        opa = _opa([_text(v1), _text(v2)], inputs)
        s = diff(p1, p2, dims=DIMS).summary
        result = "complete" if s.complete else "unproved"
        print(f"{v1[:28] + ' / ' + v2[:25]:<58} {whole:7.3f} {space:8.3f} {opa:7.3f} {opa / whole:6.2f}  "
              f"{result}, {s.discrepancies} discrepancies")


def generated(rules: int, repeat: int) -> None:
    def text(bump: bool) -> str:
        out = [HEAD]
        for i in range(rules):
            t = (i % 20) - (0.5 if bump and i == 0 else 0)
            out.append(f'allow if {{ input.subject.role == "r{i % 5}"; input.action == "a{i % 4}"; '
                       f"input.resource.level > {t} }}")
        return "\n".join(out) + "\n"

    t1, t2 = text(False), text(True)
    p1, p2 = load_policy(t1, decision="data.p.allow"), load_policy(t2, decision="data.p.allow")
    solver = _best(lambda: Space(analyze_policies(p1, p2)), repeat)
    t = time.perf_counter()
    s = diff(p1, p2).summary
    whole = time.perf_counter() - t
    levels = [x / 2 for x in range(-1, 40)]
    inputs = [{"subject": {"role": f"r{r}", "enterprise": "e", "teams": ["t"]}, "action": f"a{a}",
               "resource": {"level": lv, "enterprise": e, "team": tm}}
              for r, a, lv, (e, tm) in itertools.product(range(6), range(5), levels,
                                                          [("e", "t"), ("e", "u"), ("e", None), ("f", "t")])]
    opa = _opa([t1, t2], inputs)
    print(f"\ngenerated policy, {rules} rules: solver {solver:.2f} s, diff {whole:.2f} s "
          f"({s.cells} cells, complete={s.complete}, {s.discrepancies} discrepancies); "
          f"OPA over {len(inputs)} inputs {opa:.2f} s (ratio {opa / whole:.2f})")


RELATIONS = [
    ("input.a < input.b", "input.a <= input.b"),
    ("startswith(input.a, input.b)", "input.a == input.b"),
    ('input.a < input.b; input.a > "m"', 'input.b > "m"; input.a > "m"'),
    ("input.a > input.b", "input.b < input.a"),
    ("not endswith(input.a, input.b)", 'input.a != "x"'),
    ("input.a + 1 < input.b", "input.a < input.b"),
    ("input.b - 0.5 > input.a", "input.b > input.a"),
]
# chains of related values (`policydiff.relations` relates up to 4 together), OPA on
# every tuple of a few values of each type
CHAINS = [
    ("input.a < input.b; input.b <= input.c", "input.a < input.c", 3),
    ("startswith(input.a, input.b); startswith(input.b, input.c)", "startswith(input.a, input.c)", 3),
    ('input.a < input.b; input.b < input.c; input.b == "ab"', 'input.a < "ab"; "ab" <= input.c; input.b == "ab"', 3),
    ("input.a + 1 < input.b; input.b <= input.c - 1", "input.a < input.c", 3),
    ("input.a < input.b; input.b < input.c; input.c < input.d", "input.a < input.d", 4),
]
CHAIN_VALUES = [ABSENT, None, 1, 2, "a", "ab", "b", [1]]
PAIR_VALUES = [ABSENT, None, True, False, 0, 1, 2, 2.5, 3, "", "a", "ab", "abc", "b", "m", "ma", "x",
               "xa", "ax", "z", [], [1], {}, {"a": 1}]


def _timed_pair(v1: str, v2: str, inputs: list[dict], repeat: int, note: str = "") -> None:
    """One row: compare's best time on the pair next to OPA's brute force over `inputs`."""
    p1, p2 = load_policy(_text(v1), decision="data.p.allow"), load_policy(_text(v2), decision="data.p.allow")
    whole = _best(lambda: diff(p1, p2, dims=DIMS), repeat)
    opa = _opa([_text(v1), _text(v2)], inputs)
    s = diff(p1, p2, dims=DIMS).summary
    result = "complete" if s.complete else "unproved"
    print(f"{v1[:28] + ' / ' + v2[:25]:<58} {whole:7.3f} {opa:7.3f} {opa / whole:6.2f}  "
          f"{result}, {s.discrepancies} discrepancies{note}")


def relations(repeat: int) -> None:
    print(f"\n{'relation pair':<58} {'diff s':>7} {'OPA s':>7} {'ratio':>6}  result")
    inputs = [{k: v for k, v in (("a", a), ("b", b)) if v is not ABSENT}
              for a, b in itertools.product(PAIR_VALUES, repeat=2)]
    for v1, v2 in RELATIONS:
        _timed_pair(v1, v2, inputs, repeat)


def chains(repeat: int) -> None:
    print(f"\n{'related values':<58} {'diff s':>7} {'OPA s':>7} {'ratio':>6}  result")
    for v1, v2, n in CHAINS:
        names = "abcd"[:n]
        inputs = [{k: v for k, v in zip(names, vs) if v is not ABSENT}
                  for vs in itertools.product(CHAIN_VALUES, repeat=n)]
        _timed_pair(v1, v2, inputs, repeat, f" ({len(inputs)} inputs)")


def _large_text(rules: int, extra: str = "") -> str:
    rnd = random.Random(1)
    roles = [f"role{i}" for i in range(8)]
    actions = [f"res{i}:{v}" for i in range(6) for v in ("read", "write", "delete")]
    kinds, groups = [f"kind{i}" for i in range(10)], [f"g{i}" for i in range(24)]
    out = []
    for _ in range(rules):
        body = [f'input.subject.role == "{rnd.choice(roles)}"', f'input.action == "{rnd.choice(actions)}"']
        r = rnd.random()
        if r < 0.4:
            body.append(f'input.resource.kind == "{rnd.choice(kinds)}"')
        elif r < 0.7:
            body.append(f'"{rnd.choice(groups)}" in input.subject.groups')
        elif r < 0.85:
            body.append(f"input.resource.level > {rnd.randint(0, 9)}")
        out.append("allow if {\n  " + "\n  ".join(body) + "\n}")
    return HEAD + "\n".join(out) + "\n" + extra


def large(rules: int) -> None:
    from policydiff import search

    t1 = _large_text(rules)
    t2 = _large_text(rules, 'allow if { input.subject.role == "role1"; "g3" in input.subject.groups; '
                     'input.action == "res1:delete" }\n')
    dims = dimensions(["role=input.subject.role", "action=input.action"])
    t = time.perf_counter()
    p1, p2 = load_policy(t1, decision="data.p.allow"), load_policy(t2, decision="data.p.allow")
    loaded = time.perf_counter() - t
    t = time.perf_counter()
    s = diff(p1, p2, dims=dims).summary
    whole = time.perf_counter() - t
    combos = search._Classes(Space(analyze_policies(p1, p2), dims)).combinations
    rnd = random.Random(2)
    inputs = [{"subject": {"role": f"role{rnd.randint(0, 8)}",
                           "groups": [f"g{rnd.randint(0, 25)}" for _ in range(rnd.randint(0, 3))]},
               "action": f"res{rnd.randint(0, 6)}:read",
               "resource": {"kind": f"kind{rnd.randint(0, 10)}", "level": rnd.randint(0, 10) + 0.5}}
              for _ in range(2000)]
    opa = _opa([t1, t2], inputs) / len(inputs)
    print(f"\nlarge generated pair, {rules} rules: load {loaded:.2f} s, diff {whole:.2f} s ({s.cells} cells, "
          f"complete={s.complete}, {s.discrepancies} discrepancies); {combos:.3g} class combinations; "
          f"OPA {opa * 1e3:.3f} ms per request (both policies), brute force over the combinations "
          f"~{combos * opa / 86400 / 365:.3g} years (ratio {combos * opa / whole:.3g})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rules", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--large-rules", type=int, default=300)
    args = ap.parse_args()
    pairs(args.repeat)
    generated(args.rules, args.repeat)
    relations(args.repeat)
    chains(args.repeat)
    large(args.large_rules)


if __name__ == "__main__":
    main()
