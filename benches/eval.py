"""Decision speed of policydiff's evaluator next to real OPA's, on the same policies.

    python benches/eval.py [--requests N] [--rules N] [--seed S]

Part 1 evaluates the example policies (policies/rbac_v1.rego, rbac_v2.rego), and the
generated policy of part 2, on a realistic request mix, once through `Policy.allows`
and once through an embedded OPA engine that is built once and reused
(`opa_bindings`), and prints the mean time per decision of each and how many times
faster policydiff is (target: 10x). OPA is timed twice: one call per decision, as an
application embedding it would call it, and all decisions in one batched query, which
leaves out the per-call crossing into Go. Both engines must agree on every decision;
the number of disagreements is printed with the figures.

Part 2 generates a policy of N rules (500 by default) and times policydiff's load and
compile of it next to OPA's (add the module, then the first evaluation, which is where
OPA compiles). The target for policydiff is < 200 ms.

The figures are printed, never asserted: speed is watched here, not in the tests.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import opa_bindings

from policydiff import load_policy

ROOT = Path(__file__).resolve().parents[1]
POLICIES = {"rbac.v1": ROOT / "policies" / "rbac_v1.rego", "rbac.v2": ROOT / "policies" / "rbac_v2.rego"}

ROLES = ("admin", "team_admin", "developer", "viewer", "system")
ROLE_WEIGHTS = (2, 6, 40, 45, 7)  # most requests come from developers and viewers
ACTIONS = (
    "project:read", "project:write", "project:delete", "project:export", "billing:read",
    "billing:write", "team:manage", "member:invite", "audit:read", "settings:write",
)
ACTION_WEIGHTS = (50, 20, 2, 5, 6, 1, 3, 3, 8, 2)  # reads dominate


def request_mix(n: int, seed: int) -> list[dict]:
    """`n` requests over 20 enterprises of 5 teams; 90 % of resources are in the
    subject's own enterprise, as in a real multi-tenant workload."""
    rng = random.Random(seed)
    enterprises = [f"ent-{i}" for i in range(20)]
    teams = {e: [f"{e}-t{j}" for j in range(5)] for e in enterprises}
    out = []
    for i in range(n):
        ent = rng.choice(enterprises)
        res_ent = ent if rng.random() < 0.9 else rng.choice(enterprises)
        out.append(
            {
                "subject": {
                    "id": f"u-{i % 5000}",
                    "enterprise": ent,
                    "role": rng.choices(ROLES, ROLE_WEIGHTS)[0],
                    "teams": rng.sample(teams[ent], rng.randint(0, 2)),
                },
                "action": rng.choices(ACTIONS, ACTION_WEIGHTS)[0],
                "resource": {
                    "id": f"p-{rng.randrange(100000)}",
                    "kind": "project",
                    "enterprise": res_ent,
                    "team": rng.choice(teams[res_ent]) if rng.random() < 0.8 else None,
                },
            }
        )
    return out


def generated_policy(rules: int, salt: str) -> str:
    """A policy of `rules` rules in the shape of a large hand-written RBAC: one grant
    rule per (role, action) pair, each calling tenancy helpers. `salt` makes the text
    unique so no cache can serve a previous load."""
    lines = [f"# generated {salt}", "package big", "", "import rego.v1", "", "default allow := false", ""]
    lines += [
        "same_enterprise if input.subject.enterprise == input.resource.enterprise",
        "in_team if {\n\tsame_enterprise\n\tinput.resource.team in input.subject.teams\n}",
    ]
    helpers = ("same_enterprise", "in_team")
    for i in range(rules - 3):  # the default and the two helpers are rules too
        role, action = f"role{i % 40}", f"dom{i // 40}:verb{i % 7}"
        lines.append(
            f"allow if {{\n\tinput.subject.role == \"{role}\"\n\tinput.action == \"{action}\"\n"
            f"\t{helpers[i % 2]}\n}}"
        )
    return "\n".join(lines) + "\n"


def generated_requests(n: int, seed: int, rules: int) -> list[dict]:
    """The request mix of `request_mix`, with the roles and actions of
    `generated_policy(rules)` (and one of each it does not know)."""
    rng = random.Random(seed)
    roles = [f"role{i}" for i in range(min(rules, 40))] + ["nobody"]
    actions = sorted({f"dom{i // 40}:verb{i % 7}" for i in range(rules - 3)}) + ["dom0:unknown"]
    out = request_mix(n, seed)
    for r in out:
        r["subject"]["role"] = rng.choice(roles)
        r["action"] = rng.choice(actions)
    return out


def per_decision(fn, requests: list[dict], repeat: int) -> float:
    """Best-of-`repeat` mean seconds per call of `fn` over `requests`."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for r in requests:
            fn(r)
        best = min(best, (time.perf_counter() - t0) / len(requests))
    return best


def bench_decisions(n: int, seed: int, repeat: int, rules: int) -> list[tuple]:
    opa = opa_bindings.OpaEngine()
    cases = []
    for pkg, path in POLICIES.items():
        opa.add_policy(path.name, path.read_text())
        cases.append((path.name, load_policy(str(path)), pkg, request_mix(n, seed)))
    text = generated_policy(rules, salt="decisions")
    opa.add_policy("big.rego", text)
    cases.append((f"generated {rules}", load_policy(text), "big", generated_requests(n, seed, rules)))
    rows = []
    for name, policy, pkg, requests in cases:
        doc = f"{pkg}.allow"

        def opa_allows(r, doc=doc):
            return opa.eval_document(doc, r) is True

        disagreements = sum(policy.allows(r) != opa_allows(r) for r in requests)
        ours = per_decision(policy.allows, requests, repeat)
        theirs = per_decision(opa_allows, requests, repeat)
        # The same decisions in one OPA query, so the input crosses into Go once: what
        # is left is close to OPA's own evaluation time per decision.
        batch = f"x := [d | some r in input.requests; d := data.{doc} with input as r]"
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            (row,) = opa.eval_query(batch, {"requests": requests})
            best = min(best, (time.perf_counter() - t0) / n)
        disagreements += sum(a != (b is True) for a, b in zip(map(policy.allows, requests), row["x"]))
        allowed = sum(map(policy.allows, requests))
        rows.append((name, n, allowed, ours, theirs, best, disagreements))
    opa.close()
    return rows


def bench_load(rules: int, repeat: int) -> tuple[list[float], list[float], list[float]]:
    ours, opa_add, opa_first = [], [], []
    probe = {"subject": {"role": "role3", "enterprise": "e", "teams": ["t"]},
             "action": "dom1:verb3", "resource": {"enterprise": "e", "team": "t"}}
    for i in range(repeat):
        text = generated_policy(rules, salt=f"{time.time_ns()}-{i}")
        t0 = time.perf_counter()
        policy = load_policy(text)
        policy.allows(probe)
        ours.append(time.perf_counter() - t0)

        engine = opa_bindings.OpaEngine()
        t0 = time.perf_counter()
        engine.add_policy("big.rego", text)
        t1 = time.perf_counter()
        engine.eval_document("big.allow", probe)
        t2 = time.perf_counter()
        engine.close()
        opa_add.append(t1 - t0)
        opa_first.append(t2 - t1)
    return ours, opa_add, opa_first


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--rules", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    print(f"decisions: {args.requests} requests, best of {args.repeat}, OPA engine reused")
    print(f"{'policy':<16}{'allowed':>9}{'policydiff µs':>16}{'OPA µs':>10}{'faster':>8}"
          f"{'OPA batched µs':>16}{'faster':>8}{'disagree':>10}")
    for name, _, allowed, ours, theirs, batched, disagree in bench_decisions(args.requests, args.seed, args.repeat, args.rules):
        print(f"{name:<16}{allowed:>9}{ours * 1e6:>16.1f}{theirs * 1e6:>10.1f}{theirs / ours:>7.1f}x"
              f"{batched * 1e6:>16.1f}{batched / ours:>7.1f}x{disagree:>10}")

    print()
    ours, opa_add, opa_first = bench_load(args.rules, max(args.repeat, 3))
    med = statistics.median
    print(f"load + compile of a generated {args.rules}-rule policy (median of {len(ours)}; target < 200 ms)")
    print(f"{'engine':<34}{'ms':>8}")
    print(f"{'policydiff load_policy + 1st eval':<34}{med(ours) * 1e3:>8.1f}")
    print(f"{'OPA add_policy':<34}{med(opa_add) * 1e3:>8.1f}")
    print(f"{'OPA first eval (compiles)':<34}{med(opa_first) * 1e3:>8.1f}")
    print(f"{'OPA total':<34}{(med(opa_add) + med(opa_first)) * 1e3:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
