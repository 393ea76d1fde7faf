"""Prefix memos: the solutions of a body's opening literals, remembered per request slice.

A body often opens by enumerating constants the request selects from: in

    allow if {
        some role in subject_roles                    # reads input.subject.role
        some grant in roles[role].grants              # reads nothing: `roles` is constant
        action_matches(grant.action, input.action)    # reads input.action
        in_scope(grant.scope)                         # reads where the resource stands
    }

the first three literals read two input paths only, so their solutions (the grants
that apply) are the same for every request with the same role and action. Here the
longest opening of a body (up to `closures.MAX_STOPS` literals, short of the last) that reads at most
`memo.MAX_PATHS` input paths is run once per value of those paths, its solutions kept
in order as copies of the frame, and a request only restores each copy and runs the
rest of the body on it: a lookup where there was a join.

This is exact: the opening reads nothing else, so it has the same solutions, in the
same order, for every request of the same key, and the rest sees the frame it would
have seen. An opening that raises, or has more than `closures.MAX_SOLUTIONS`
solutions, is evaluated plainly under that key. Keys and error modes are those of
`memo`. It applies to bodies with variables of rules (not functions, whose bodies also
read their arguments) that are not remembered whole already.
"""

from __future__ import annotations

from policydiff.compile.closures import MAX_SOLUTIONS, MAX_STOPS, Collect
from policydiff.compile.speedups import memo
from policydiff.compile.speedups.dispatch import literal_reads
from policydiff.errors import PolicyError

_PLAIN = object()  # under this key, evaluate the body plainly
LIMIT = memo.LIMIT // 4  # keys per table: each holds up to MAX_SOLUTIONS frames


def remembered(d, reads_of):
    """`d.run`, or a run that looks the solutions of its opening up (see above)."""
    p = d.pieces
    key: frozenset = frozenset()
    g = 0
    for i in range(min(len(p.reads) - 1, MAX_STOPS)):  # the last literal's stop is the head's
        paths = literal_reads(p, i, reads_of)
        if paths is None or len(key | paths) > memo.MAX_PATHS:
            break
        key |= paths
        g = i + 1
    if g == 0:
        return d.run
    full, rest, blank = d.run, p.rests[g], d.blank
    read = memo.reader(sorted(key)) if key else (lambda ctx: ())
    tables: tuple[dict, dict] = ({}, {})  # by ctx.strict

    def solve(ctx):
        env = blank.copy()
        env[0] = ctx
        out = env[1] = Collect(g - 1)
        try:
            full(env)
        except PolicyError:  # raised by the opening: evaluate plainly, where it raises
            return _PLAIN
        return _PLAIN if len(out) > MAX_SOLUTIONS else tuple(out)

    def run(env):
        ctx = env[0]
        k = read(ctx)
        if k is memo.MISS:
            return full(env)
        table = tables[ctx.strict]
        solutions = table.get(k)
        if solutions is None:
            solutions = solve(ctx)
            memo.remember(table, k, solutions, LIMIT)
            if ctx.strict:
                memo.remember(tables[False], k, solutions, LIMIT)
        if solutions is _PLAIN:
            return full(env)
        sink = env[1]
        for frame in solutions:
            e = frame.copy()
            e[0] = ctx
            e[1] = sink
            if rest(e):
                return True
        return False

    run.tables = tables  # type: ignore[attr-defined]  # for tests to look into
    run.plain = full  # type: ignore[attr-defined]
    return run
