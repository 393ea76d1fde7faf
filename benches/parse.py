"""Parse and load time of large policies, policydiff next to OPA, and how each scales.

    python benches/parse.py [--sizes 250000,500000,1000000] [--repeat 1]

Generates policies of the given sizes in bytes (one `allow` rule of three conditions per
role/action pair, the shape of a big generated RBAC policy) and times, for each:

- policydiff's parse (`frontend.rego.parse_collecting`: the fast path, a tokenizer and
  LALR loop over lark's tables, lowering callbacks inside the parser), the same parse
  through lark's own lexer and parser loop (what the fast path replaced; `lark s`), its
  whole load (`load_policy`: parse, compile, index), all with Python's collector paused
  as a load pauses it, and `policydiff check FILE` as a user runs it (a fresh process:
  imports, load, exit; `check s`, its CPU seconds, `cpu s`, and its peak resident
  memory, `MB`);
- OPA's `add_policy` plus its first evaluation, where OPA parses and compiles
  (`opa_bindings`, OPA 1.20 in-process, standing in for `opa check`: there is no `opa`
  binary on these machines), wall and CPU seconds (its Go runtime's threads included).

It prints seconds, seconds per MB (flat when a stage scales linearly) and the ratios
to OPA. Figures are printed, never asserted; record them in benches/README.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import subprocess
import sys
import tempfile
import time

import opa_bindings

from policydiff import load_policy
from policydiff.frontend import rego
from policydiff.source import Source

ROLES = ("admin", "team_admin", "developer", "viewer", "system")


def policy(size: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    out = ["package big\n\ndefault allow := false\n"]
    total, i = 0, 0
    while total < size:
        rule = (f'allow if {{\n\tinput.subject.role == "{rng.choice(ROLES)}"\n'
                f'\tinput.action == "res{i % 97}:act{i}"\n'
                "\tinput.subject.enterprise == input.resource.enterprise\n}\n")
        out.append(rule)
        total += len(rule)
        i += 1
    return "\n".join(out)


def best(fn, repeat: int) -> float:
    """Best wall time of `repeat` calls, Python's cyclic collector paused as `load_policy`
    pauses it (running, it rescans every object built so far and the parse of a large
    policy grows faster than its text)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        finally:
            gc.enable()
    return min(times)


def opa(text: str) -> None:
    engine = opa_bindings.OpaEngine()
    try:
        engine.add_policy("big.rego", text)
        engine.eval_query("true")
    finally:
        engine.close()


def check(text: str) -> tuple[float, float, float]:
    """Wall and CPU seconds and peak memory (MB) of `policydiff check` in a fresh
    process (the CPU time stands when other work shares the machine)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "big.rego")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "policydiff", "check", path],
                                 stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"policydiff check exited {child.returncode}")
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def opa_timed(text: str, repeat: int) -> tuple[float, float]:
    """Best wall and CPU seconds (all of the process's threads: OPA's Go runtime runs
    several) of OPA's add_policy and first evaluation."""
    walls, cpus = [], []
    for _ in range(repeat):
        gc.collect()
        c, w = time.process_time(), time.perf_counter()
        opa(text)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="250000,500000,1000000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-lark", action="store_true", help="skip the parse through lark's own loop")
    args = ap.parse_args()
    rego.parse_collecting(Source(name="warm.rego", text="package w\nallow if true\n"))
    print(f"{'bytes':>9} {'parse s':>8} {'s/MB':>5} {'lark s':>7} {'load s':>7} {'s/MB':>5} "
          f"{'check s':>8} {'cpu s':>6} {'MB':>5} {'OPA s':>6} {'cpu s':>6} {'s/MB':>5} "
          f"{'parse/OPA':>9} {'load/OPA':>8} {'check/OPA':>9} {'cpu/OPA cpu':>11}")
    sizes = [int(s) for s in args.sizes.split(",")]
    # the fresh processes first, while this one is small: a forked child's peak memory
    # counts the resident pages of the parent it was forked from
    checks = {size: min(check(policy(size)) for _ in range(args.repeat)) for size in sizes}
    for size in sizes:
        text = policy(size)
        mb = len(text) / 1e6
        parse = best(lambda t=text: rego.parse_collecting(Source(name="big.rego", text=t)), args.repeat)
        slow = float("nan") if args.no_lark else best(
            lambda t=text: rego.parse_collecting(Source(name="big.rego", text=t), fast=False), args.repeat)
        load = best(lambda t=text: load_policy(t), args.repeat)
        cli, cpu, rss = checks[size]
        theirs, their_cpu = opa_timed(text, args.repeat)
        print(f"{len(text):>9} {parse:>8.2f} {parse / mb:>5.2f} {slow:>7.2f} {load:>7.2f} "
              f"{load / mb:>5.2f} {cli:>8.2f} {cpu:>6.2f} {rss:>5.0f} {theirs:>6.2f} {their_cpu:>6.2f} "
              f"{theirs / mb:>5.2f} {parse / theirs:>9.1f} {load / theirs:>8.1f} {cli / theirs:>9.1f} "
              f"{cpu / their_cpu:>11.1f}")


if __name__ == "__main__":
    main()
