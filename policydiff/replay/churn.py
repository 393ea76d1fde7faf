"""The churn writer of `replay --churn RATE`: memberships and roles change under load.

About RATE transactions a second, each in its own transaction: a user takes another
user's role and teams (a user of the same enterprise), and a later transaction gives
the user its own facts back. Copying an existing user's facts changes roles and
memberships, which is what races with the readers, while every request still falls in a
cell the tenancy realises, so the replay can still be held to compare's verdicts cell
for cell. Decisions taken on facts the writer had changed are counted by the workers
(`stale_facts`). The last changes are undone when the writer stops.
"""

from __future__ import annotations

import random
import signal
from collections import defaultdict


def main(dsn: str, plan, rate: float, seed: int, conn) -> None:
    """Write until the parent says stop on the pipe `conn` (or the pipe closes); send
    ("churn", transactions, problem or None) at the end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler is not ours
    import psycopg

    from policydiff import db

    rng = random.Random(f"{seed}/churn")
    by_ent = defaultdict(list)
    for uid, (ent, _, _) in plan.users.items():
        by_ent[ent].append(uid)
    pairs = [(x, y) for users in by_ent.values() for x in users for y in users if x != y]
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
                    x, y = rng.choice(pairs)
                    _assign(pg, x, plan.users[y])
                    changed = x
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


def _assign(conn, user_id: str, facts: tuple[str, str, tuple[str, ...]]) -> None:
    _, role, teams = facts
    with conn.transaction():
        conn.execute("UPDATE policydiff.users SET role = %s WHERE id = %s", (role, user_id))
        conn.execute("DELETE FROM policydiff.team_members WHERE user_id = %s", (user_id,))
        for team in teams:
            conn.execute("INSERT INTO policydiff.team_members (user_id, team_id) VALUES (%s, %s)",
                         (user_id, team))

