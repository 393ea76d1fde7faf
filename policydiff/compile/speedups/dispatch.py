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
without variables, compiled in pieces so that what each reads is known
(`closures.Pieces`). An opening test reads only the key, so it holds, fails or raises
alike for every request with that key; a key under which one raises is remembered as
"try every body", which is the plain evaluation, raising where it would raise. Keys
and error modes are those of `memo`; `--explain` evaluations do not dispatch.
"""

from __future__ import annotations

from policydiff.compile.closures import MAX_STOPS, Collect, Pieces
from policydiff.compile.speedups import memo
from policydiff.errors import PolicyError

MIN_BODIES = 3  # fewer bodies are tried in turn


def selector(definitions, reads_of):
    """For a rule's bodies (`Definition`s, those without variables compiled in pieces),
    a function of a ctx giving the (definition, run) pairs to try in order; None when
    too few bodies open with tests of the same paths. `reads_of(rules)` is what rules
    read, as `Program` computes it."""
    every = [(d, d.run) for d in definitions]
    opening = []  # per body, what each of its first literals reads (one path at most)
    for d in definitions:
        p = d.pieces
        lits = []
        if p is not None and p.ground:
            for i in range(min(len(p.reads), MAX_STOPS)):
                paths = literal_reads(p, i, reads_of)
                if paths is None or len(paths) > 1:
                    break
                lits.append(paths)
        opening.append(lits)
    # the key: the paths most bodies open with, if some do
    count: dict = {}
    for lits in opening:
        for path in set().union(*lits):
            count[path] = count.get(path, 0) + 1
    ranked = sorted((path for path, n in count.items() if n > 1), key=lambda path: -count[path])
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
            held = env[1] = Collect(g - 1)
            try:
                d.run(env)
            except PolicyError:  # raised by a test of the key: evaluate plainly, where it raises
                return every
            if held:  # frames, or (g: every literal) the head's value
                out.append((d, d.pieces.rests[g]))
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


def literal_reads(p: Pieces, i: int, reads_of) -> frozenset | None:
    """What literal `i` of a body reads, itself and through the rules it uses."""
    own = p.reads[i]
    if own is None:
        return None
    more = reads_of(p.deps[i])
    return None if more is None else frozenset(own) | more
