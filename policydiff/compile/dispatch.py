"""Dispatch: the bodies of a many-bodied rule worth trying for a request, looked up.

A hand-written RBAC is one rule of many bodies, each opening with tests of a request's
role or action (`input.subject.role == "admin"`, `is_viewer`, `input.action in {…}`)
before the tests of where the resource stands. Trying every body in turn repeats those
tests for every request. Here the opening tests of each body that read nothing but a
few input paths (the rule's dispatch key) are run once per value of the key, and the
bodies whose opening tests hold are remembered with the compiled rest of each body:
a request then reads its key, looks the bodies up and runs only their rests.

This is exact. It applies to rules whose bodies all yield one constant (`allow if …`),
where the first body that holds decides, and only to the opening literals of bodies
without variables, compiled one by one so that what each reads is known (`guarded`).
An opening test reads only the key, so it holds, fails or raises alike for every
request with that key; a key under which one raises is remembered as "try every body",
which is the plain evaluation, raising where it would raise. Keys and error modes are
those of `memo`; `--explain` evaluations do not dispatch.
"""

from __future__ import annotations

from typing import Any

from policydiff.compile import memo
from policydiff.compile.closures import Compiler

MAX_GUARDS = 3  # opening literals a body may be screened by
MIN_BODIES = 3  # fewer bodies are tried in turn

_PROBES = tuple(object() for _ in range(MAX_GUARDS))  # in slot 1: stop after literal i


class _Reads:
    """Stands in for a rule while one literal is compiled, to learn what it reads."""

    def __init__(self):
        self.uses_input = False
        self.input_paths: set | None = set()


class Guarded:
    """A body without variables compiled literal by literal: `rests[i]` runs it from
    literal `i` on, `reads[i]` is what literal `i` reads itself (input paths, or None
    when it reads the input whole) and `deps[i]` the rules it uses."""

    __slots__ = ("deps", "reads", "rests")

    def __init__(self, rests, reads, deps):
        self.rests = rests
        self.reads = reads
        self.deps = deps


def guarded(program, frame, owner, body, bound, outer, final) -> tuple[Any, Guarded]:
    """Compile a body without variables as `Compiler.body` does, with a stop after each
    of its first literals (run with `_PROBES[i]` in slot 1, the body holds as soon as
    literal `i` holds)."""
    n = len(body)
    rests: list = [None] * n + [final]
    reads: list = [None] * n
    deps: list = [None] * n
    run = final
    for i in reversed(range(n)):
        if i < MAX_GUARDS:
            run = _stop(i, run)
        seen, used = _Reads(), set()
        run = Compiler(program, frame, used, owner=seen).literal(body[i], bound, outer, run, ground=True)
        rests[i], reads[i], deps[i] = run, seen.input_paths, used
        owner.deps |= used
        if seen.uses_input:
            owner.uses_input = True
        if seen.input_paths is None:
            owner.input_paths = None
        elif owner.input_paths is not None:
            owner.input_paths |= seen.input_paths
    return run, Guarded(rests, reads, deps)


def _stop(i: int, nxt):
    probe = _PROBES[i]

    def stop(env):
        if env[1] is probe:
            return True
        return nxt(env)

    return stop


def selector(definitions, reads_of):
    """For a rule's bodies (`Definition`s, some with `guard`), a function of a ctx
    giving the (definition, run) pairs to try in order; None when no body has an
    opening test that could be looked up. `reads_of(rules)` is what rules read, as
    `Program` computes it."""
    every = [(d, d.run) for d in definitions]
    opening = []  # per body, what each of its first literals reads (one path at most)
    for d in definitions:
        g = d.guard
        lits = []
        if g is not None:
            for i in range(min(len(g.reads), MAX_GUARDS)):
                paths = _literal_reads(g, i, reads_of)
                if paths is None or len(paths) > 1:
                    break
                lits.append(paths)
        opening.append(lits)
    # the key: the paths most bodies open with, if some do
    count: dict = {}
    for lits in opening:
        for p in set().union(*lits):
            count[p] = count.get(p, 0) + 1
    ranked = sorted((p for p, n in count.items() if n > 1), key=lambda p: -count[p])
    key = set(ranked[:memo.MAX_PATHS])
    if not key:
        return None
    for lits in opening:
        n = next((i for i, paths in enumerate(lits) if not paths <= key), len(lits))
        del lits[n:]
    screens = [(d, len(lits)) for d, lits in zip(definitions, opening)]
    read = memo.reader(sorted(key))
    tables: tuple[dict, dict] = ({}, {})  # by ctx.strict

    def build(ctx) -> list:
        out = []
        for d, g in screens:
            if g == 0:
                out.append((d, d.run))
                continue
            env = d.blank.copy()
            env[0] = ctx
            env[1] = _PROBES[g - 1]
            try:
                holds = d.run(env)
            except Exception:  # raised by a test of the key: evaluate plainly, where it raises
                return every
            if holds:
                out.append((d, d.guard.rests[g]))
        return out

    def select(ctx):
        k = read(ctx)
        if k is memo.MISS:
            return every
        table = tables[ctx.strict]
        chosen = table.get(k)
        if chosen is None:
            chosen = build(ctx)
            memo.remember(table, k, chosen)
            if ctx.strict:
                memo.remember(tables[False], k, chosen)
        return chosen

    return select


def _literal_reads(g: Guarded, i: int, reads_of) -> frozenset | None:
    own = g.reads[i]
    if own is None:
        return None
    more = reads_of(g.deps[i])
    return None if more is None else frozenset(own) | more
