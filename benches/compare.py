"""Speed of the symbolic compare, next to brute force through real OPA.

    python benches/compare.py [--enterprises N] [--sample N] [--seed S] [--corpus-only]

Prints, in one run:

1. the wall time of the CLI `policydiff compare policies/rbac_v1.rego
   policies/rbac_v2.rego` (a fresh process each time, the median of 3; target < 0.5 s);
2. `policydiff.diff.diff` over a generated tenancy of N enterprises (1,000 by default)
   x 3 teams x 7 users x 4 resources x 10 actions (about 280M requests), the process's
   peak memory after it (target < 5 s and < 1 GiB);
3. brute force of the same matrix through an embedded OPA (`opa_bindings`, one engine
   per policy, reused): both policies timed on a random sample of the tenancy's
   requests and extrapolated to all of them, and the ratio to (2) (target >= 100x);
4. the real-world corpus (`tests/realworld/pairs/*.yaml`): per pair, the CLI compare
   in-process (load, analyse, decide, classify, gate, render JSON; best of 3) next to
   OPA brute force over every input of the pair's space (both policies, engines built
   once), and their ratio. `--corpus-only` runs this part alone.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import opa_bindings

from policydiff import load_policy
from policydiff.diff import diff
from policydiff.tenancy import Enterprise, Resource, Tenancy, User, request_input

ROOT = Path(__file__).resolve().parents[1]
V1, V2 = ROOT / "policies" / "rbac_v1.rego", ROOT / "policies" / "rbac_v2.rego"
ROLES = ("admin", "team_admin", "developer", "viewer", "system")
ACTIONS = ("project:read", "project:write", "project:delete", "project:export", "billing:read",
           "billing:write", "team:manage", "member:invite", "audit:read", "settings:write")
KINDS = ("project", "billing_account", "audit_log")


def tenancy(enterprises: int, rnd: random.Random, teams: int = 3, users: int = 7, resources: int = 4) -> Tenancy:
    ents, us, rs = [], [], []
    for e in range(enterprises):
        eid = f"ent-{e:05d}"
        ts = tuple(f"{eid}-team{t}" for t in range(teams))
        ents.append(Enterprise(id=eid, teams=ts))
        for u in range(users):
            us.append(User(id=f"{eid}-u{u}", enterprise=eid, role=ROLES[rnd.randrange(len(ROLES))],
                           teams=tuple(rnd.sample(ts, rnd.randint(0, 2)))))
        for r in range(resources):
            team = rnd.choice(ts + (None,))
            rs.append(Resource(id=f"{eid}-r{r}", kind=rnd.choice(KINDS), enterprise=eid, team=team))
    return Tenancy(enterprises=tuple(ents), users=tuple(us), resources=tuple(rs), actions=ACTIONS)


def cli_wall() -> float:
    times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "policydiff", "compare", str(V1), str(V2), "--format", "json"],
                       cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def opa_per_request(t: Tenancy, sample: int, rnd: random.Random) -> float:
    engines = []
    for path, pkg in ((V1, "rbac.v1.allow"), (V2, "rbac.v2.allow")):
        e = opa_bindings.OpaEngine()
        e.add_policy(path.name, path.read_text())
        engines.append((e, pkg))
    requests = [request_input(rnd.choice(t.users), rnd.choice(t.actions), rnd.choice(t.resources))
                for _ in range(sample)]
    for e, pkg in engines:  # OPA compiles on the first evaluation
        e.eval_document(pkg, requests[0])
    start = time.perf_counter()
    for req in requests:
        for e, pkg in engines:
            e.eval_document(pkg, req)
    return (time.perf_counter() - start) / sample


def corpus() -> None:
    """Part 4: compare next to OPA brute force on every pair of the real-world corpus."""
    import contextlib
    import io
    import json
    import tempfile

    import yaml

    sys.path.insert(0, str(ROOT / "tests"))
    from exactness import inputs  # the spaces' reading, shared with the corpus test

    from policydiff.cli import main as cli
    from policydiff.cli.compare import _data

    here = ROOT / "tests" / "realworld"
    print(f"{'real-world pair':<40} {'inputs':>7} {'compare':>10} {'OPA brute':>10} {'OPA/compare':>12}")
    for path in sorted((here / "pairs").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        data = []
        for d in spec.get("data", []):
            ref, sep, file = d.rpartition("=")
            data.append(f"{ref}={here / file}" if sep else str(here / file))
        args = ["compare", str(here / spec["v1"]), str(here / spec["v2"]), "--decision", spec["decision"],
                "--format", "json"]
        for d in spec.get("dimensions", []):
            args += ["--dimension", d]
        for d in data:
            args += ["--data", d]
        times, code = [], 0
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(3):
                t = time.perf_counter()
                try:
                    with contextlib.redirect_stderr(io.StringIO()):
                        code = cli([*args, "--output", str(Path(tmp) / "r.json")])
                except Exception:  # noqa: BLE001 -- a crash is a figure too: shown, not timed
                    code = -1
                times.append(time.perf_counter() - t)
        ours = min(times)
        doc: dict = {}
        for d in data:
            part = _data(d)
            doc.update(json.loads(Path(part).read_text()) if isinstance(part, str) else part)
        space = list(inputs(spec["space"]))
        ref = spec["decision"][len("data."):]
        start = time.perf_counter()
        for side in ("v1", "v2"):
            e = opa_bindings.OpaEngine()
            if doc:
                e.add_data(doc)
            e.add_policy(spec[side], (here / spec[side]).read_text())
            e.eval_query("true")  # compile now, as tests/engines.py does
            for inp in space:
                try:
                    e.eval_document(ref, inp)
                except opa_bindings.OpaError:
                    pass
            e.close()
        brute = time.perf_counter() - start
        shown = f"{ours * 1000:8.0f}ms" if code in (0, 1) else f"{'crash' if code < 0 else f'exit {code}':>10}"
        ratio = f"{brute / ours:11.1f}x" if code in (0, 1) else f"{'-':>12}"
        print(f"{path.stem:<40} {len(space):>7} {shown} {brute * 1000:8.0f}ms {ratio}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--enterprises", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--corpus-only", action="store_true", help="only part 4, the real-world corpus")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    if args.corpus_only:
        corpus()
        return

    wall = cli_wall()
    print(f"{'CLI compare rbac_v1 vs rbac_v2 (symbolic)':<48} {wall * 1000:9.0f} ms   (target < 500 ms)")

    t = tenancy(args.enterprises, rnd)
    n = len(t.users) * len(t.resources) * len(t.actions)
    p1, p2 = load_policy(str(V1)), load_policy(str(V2))
    start = time.perf_counter()
    report = diff(p1, p2, tenancy=t)
    ours = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"tenancy: {args.enterprises} enterprises x 3 teams x 7 users x 4 resources x "
          f"{len(t.actions)} actions = {n:,} requests; {report.summary.cells:,} cells, "
          f"{report.summary.discrepancies:,} discrepancies")
    print(f"{'policydiff compare with the tenancy':<48} {ours:9.2f} s    (target < 5 s)")
    print(f"{'peak memory of this process':<48} {peak:9.0f} MiB  (target < 1024 MiB)")

    per = opa_per_request(t, args.sample, rnd)
    brute = per * n
    print(f"{'OPA brute force, both policies, per request':<48} {per * 1e6:9.1f} us   "
          f"(sample of {args.sample:,})")
    print(f"{'OPA brute force, extrapolated to every request':<48} {brute:9.0f} s    "
          f"({brute / 3600:.1f} h)")
    print(f"{'speed-up of the symbolic compare':<48} {brute / ours:9.0f} x    (target >= 100 x)")
    print()
    corpus()


if __name__ == "__main__":
    main()
