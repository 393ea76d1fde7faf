"""The churn writer of `replay --churn RATE`: memberships and roles change under load.

About RATE transactions a second, each in its own transaction: a user takes another
user's role and teams (a user of the same enterprise), and a later transaction gives
the user its own facts back. Copying an existing user's facts changes roles and
memberships, which is what races with the readers, while every request still falls in a
cell the tenancy realises, so the replay can still be held to compare's verdicts cell
for cell. Decisions taken on facts the writer had changed are counted by the workers
(`stale_facts`). The first change goes to a user of the run's first block and holds
until that block is done, and the parent starts no block before it is in, so a run
with churn always decides some requests on changed facts. The parent speaks over the
writer's own pipe ("go", "stop"); the last changes are undone when the writer stops.
"""

from __future__ import annotations

import random
import signal
from collections import defaultdict


def main(dsn: str, plan, rate: float, seed: int, conn, first_users=()) -> None:
    """Write until the parent says stop on the pipe `conn` (or the pipe closes); send
    ("changed",) once the first change is committed, and ("churn", transactions, problem
    or None) at the end.

    The first change is made to one of `first_users` (the users of the run's first
    block), to facts that differ from its own, and held until the parent says "go" (its
    first block is finished): the parent starts no block before ("changed",), so at
    least one decision is taken on changed facts whatever the timing."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler is not ours
    import psycopg

    from policydiff import db

    rng = random.Random(f"{seed}/churn")
    by_ent = defaultdict(list)
    for uid, (ent, _, _) in plan.users.items():
        by_ent[ent].append(uid)
    pairs = [(x, y) for users in by_ent.values() for x in users for y in users if x != y]
    first = set(first_users)
    firsts = [(x, y) for x, y in pairs if x in first and plan.users[x][1:] != plan.users[y][1:]]
    writes, changed, problem = 0, None, None
    pg = None
    interval = 1.0 / rate
    try:
        while pairs:
            try:
                if pg is None:
                    pg = db.open_connection(dsn, attempts=8, application_name="policydiff-churn")
                    pg.prepare_threshold = None
                if changed is None:
                    x, y = rng.choice(firsts if writes == 0 and firsts else pairs)
                    _assign(pg, x, plan.users[y])
                    changed = x
                    if writes == 0:
                        conn.send(("changed",))
                        if _word(conn) != "go":  # held until the first block is done
                            writes += 1
                            break
                else:
                    _assign(pg, changed, plan.users[changed])
                    changed = None
                writes += 1
            except psycopg.OperationalError:
                if pg is not None:
                    pg.close()
                pg = None
            if conn.poll(interval):  # the parent said stop, or went away
                break
        if changed is not None and pg is not None:
            _assign(pg, changed, plan.users[changed])
    except Exception as e:  # noqa: BLE001 - reported to the parent, which names it
        problem = f"{type(e).__name__}: {e}"
    finally:
        if pg is not None:
            pg.close()
        try:
            conn.send(("churn", writes, problem))
        except OSError:  # the parent is gone
            pass


def _word(conn) -> str | None:
    """The parent's next word; None when it went away."""
    try:
        return conn.recv()
    except EOFError:
        return None


def _assign(conn, user_id: str, facts: tuple[str, str, tuple[str, ...]]) -> None:
    _, role, teams = facts
    with conn.transaction():
        conn.execute("UPDATE policydiff.users SET role = %s WHERE id = %s", (role, user_id))
        conn.execute("DELETE FROM policydiff.team_members WHERE user_id = %s", (user_id,))
        for team in teams:
            conn.execute("INSERT INTO policydiff.team_members (user_id, team_id) VALUES (%s, %s)",
                         (user_id, team))

