"""A replay worker: one process, one connection, blocks of requests in, tallies out.

For each block the worker reads the facts of all its requests from PostgreSQL in one
statement (`= ANY(...)` over users joined with their memberships, and over resources,
one row per membership and per resource): one statement sees one snapshot, so every
decision pair is taken on one consistent read of its facts whatever a concurrent writer
does, in one round trip, with no session state (PgBouncer in transaction mode, Neon's
pooled endpoint), and never prepared (`_FACTS` says why). Each request then goes through
the `ShadowAuthorizer` production embeds, tagged with its cell (`Space.cell_of(...,
concrete=True)` on the facts read), and the block's tally is sent to the parent, which
alone adds it to the run's Prometheus metrics (a worker touches no metrics, so one that
dies has counted nothing the report does not).

A block is counted whole or not at all: the facts are read before anything is counted,
so when the connection breaks the block is read again after reconnecting (with the
backoff of `policydiff.db.retry`). A reader thread owns the connection and reads the
next block's facts while the worker decides the current one. A worker that cannot
reconnect reports the block as failed and stops. Blocks come and tallies go over the
worker's own duplex pipe to the parent, which watches the pipe and the process
together, so a worker that dies is seen at once. SIGINT is ignored here: the parent
decides when the run stops. `Job.crash_at` lets tests kill a worker at a chosen point of
a block.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from typing import Any

import msgspec

# One row per membership (a user in no team: one row, team NULL) and one per resource.
# Flat rows cost both sides less than teams aggregated into arrays, and the statement is
# never prepared: a prepared `= ANY($1)` soon runs a generic plan that costs the server
# several times the custom plan of each batch's own ids.
_FACTS = """
SELECT 'u', u.id, u.enterprise_id, u.role, m.team_id
FROM policydiff.users u LEFT JOIN policydiff.team_members m ON m.user_id = u.id
WHERE u.id = ANY(%(users)s::text[])
UNION ALL
SELECT 'r', r.id, r.kind, r.enterprise_id, r.team_id
FROM policydiff.resources r
WHERE r.id = ANY(%(resources)s::text[])
"""


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """What a worker process is started with (pickled to it)."""

    worker: int
    dsn: str
    v1: str
    v2: str
    v1_decision: str | None = None
    v2_decision: str | None = None
    plan: Any  # workload.Plan
    decision_log: bool = False
    reconnect_attempts: int = 8
    # Tests only: (n, point, claim file) — the first worker to create the claim file dies
    # at `point` of its n-th block: one of CRASH_POINTS.
    crash_at: tuple[int, str, str] | None = None


CRASH_POINTS = ("before_tally", "after_tally", "mid_send", "after_send")
CRASH_EXIT = 70  # the exit code of a worker crashed on purpose


def read_facts(conn, requests: list[tuple[str, str, str]]) -> tuple[dict, dict]:
    """The facts of every user and resource `requests` name, from one statement:
    user id -> (enterprise, role, teams in byte order), resource id -> (kind,
    enterprise, team)."""
    users = _array({u for u, _, _ in requests})
    resources = _array({r for _, _, r in requests})
    found_users, found_resources, teams = {}, {}, {}
    for kind, id_, a, b, c in conn.execute(_FACTS, {"users": users, "resources": resources}).fetchall():
        if kind == "u":
            if c is None:
                found_users[id_] = (a, b, ())
            elif id_ in teams:
                teams[id_].append(c)
            else:
                teams[id_] = [c]
                found_users[id_] = (a, b)
        else:
            found_resources[id_] = (a, b, c)
    for id_, ts in teams.items():  # code point order is UTF-8 byte order
        found_users[id_] += (tuple(sorted(ts)) if len(ts) > 1 else tuple(ts),)
    return found_users, found_resources


def _array(ids) -> str:
    """A PostgreSQL text[] literal of `ids`, every element quoted (so any text is read
    back as itself): built with string methods, it costs a fraction of psycopg's
    per-element list dumper."""
    return "{" + ",".join(['"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in ids]) + "}"


def main(job: Job, conn) -> None:
    """The worker process: take blocks from its pipe `conn` until None, send back
    ("ready",), ("done", block, tally, log entries) or ("failed", block, why)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler is not ours
    try:
        state = _start(job)
    except Exception as e:  # noqa: BLE001 - reported, not hidden: the parent stops the run
        conn.send(("failed", None, _why(e)))
        return
    conn.send(("ready",))
    from concurrent.futures import ThreadPoolExecutor

    # One reader thread owns the connection (reads, reconnects); this thread decides.
    reader = ThreadPoolExecutor(1, thread_name_prefix="policydiff-facts")
    try:
        _serve(job, state, conn, reader)
    except EOFError:  # the parent is gone: nobody to work for
        pass
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
        state["conn"].close()


def _serve(job: Job, state: dict, conn, reader) -> None:
    """Blocks in, tallies out. The next block's facts are read while this block is
    decided (the parent keeps two blocks in flight per worker), so the worker does not
    wait for the database between blocks."""
    ahead: deque = deque()  # (block, requests, future of its facts)
    stopping = False
    n = 0
    while True:
        if not ahead:
            block = None if stopping else conn.recv()
            if block is None:
                return
            ahead.append(_fetch(job, state, reader, block))
        if not stopping and conn.poll():
            nxt = conn.recv()
            if nxt is None:
                stopping = True
            else:
                ahead.append(_fetch(job, state, reader, nxt))
        block, requests, facts = ahead.popleft()
        n += 1
        crash = _crash_point(job, n)
        _crash_if(crash == "before_tally")
        try:
            tally, entries = _decide(job, state, requests, *facts.result())
        except Exception as e:  # noqa: BLE001 - reported; the parent gives this block and
            conn.send(("failed", block, _why(e)))  # the ones ahead to others
            return
        _crash_if(crash == "after_tally")
        message = ("done", block, tally, entries)
        if crash == "mid_send":
            _send_half(conn, message)
            _crash_if(True)
        conn.send(message)
        _crash_if(crash == "after_send")


def _crash_point(job: Job, n: int) -> str | None:
    """Where this worker dies in its n-th block, when a test asked for it and this worker
    is the first to claim the crash."""
    if job.crash_at is None or job.crash_at[0] != n:
        return None
    import os

    try:
        os.close(os.open(job.crash_at[2], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return None
    return job.crash_at[1]


def _crash_if(now: bool) -> None:
    if now:
        import os

        os._exit(CRASH_EXIT)  # as a kill would: no cleanup, no word to the parent


def _send_half(conn, message) -> None:
    """The first half of `message` as `conn.send` would write it (length, then pickle)."""
    import os
    import pickle
    import struct

    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    os.write(conn.fileno(), struct.pack("!i", len(data)) + data[: len(data) // 2])


def _fetch(job: Job, state: dict, reader, block: int):
    requests = job.plan.block(block)
    return block, requests, reader.submit(_read, job, state, requests)


def _why(e: BaseException) -> str:
    from policydiff.errors import PolicydiffError, redact

    if isinstance(e, PolicydiffError):
        return redact("; ".join(d.message for d in e.diagnostics))
    return redact(f"{type(e).__name__}: {' '.join(str(e).split())}")


def _start(job: Job) -> dict:
    from policydiff.analysis import analyze_policies
    from policydiff.matrix import Space
    from policydiff.policy import load_policy
    from policydiff.replay.metrics import Metrics
    from policydiff.replay.shadow import ShadowAuthorizer

    v1 = load_policy(job.v1, decision=job.v1_decision)
    v2 = load_policy(job.v2, decision=job.v2_decision)
    entries: list = []
    metrics = Metrics(prometheus=False)  # a tally only: the parent owns the metrics
    auth = ShadowAuthorizer(v1, v2, metrics=metrics, flush_every=None, max_pending=1 << 30,
                            decision_log=entries.append if job.decision_log else None)
    return {"auth": auth, "metrics": metrics, "entries": entries,
            "space": Space(analyze_policies(v1, v2)), "conn": _connect(job)}


def _connect(job: Job):
    from policydiff import db

    conn = db.open_connection(job.dsn, autocommit=True, attempts=job.reconnect_attempts,
                              application_name="policydiff-replay")
    conn.prepare_threshold = None  # see _FACTS
    return conn


def _read(job: Job, state: dict, requests) -> tuple[dict, dict, float]:
    import psycopg

    while True:
        start = time.perf_counter()
        try:
            users, resources = read_facts(state["conn"], requests)
            return users, resources, time.perf_counter() - start
        except psycopg.OperationalError:
            state["conn"].close()
            state["conn"] = _connect(job)  # InfraError when the server stays away


def _decide(job: Job, state: dict, requests, users: dict, resources: dict, elapsed: float):
    """Every request of a block through the shadow authorizer, on the facts read for it;
    the block's tally and decision-log entries."""
    plan = job.plan
    auth, metrics = state["auth"], state["metrics"]
    authorize, cell_of = auth.authorize, state["space"].cell_of
    tally = metrics.pending
    tally.observe("db", elapsed)
    tally.requests = len(requests)
    # facts that are not the plan's were changed during the run (churn): once per id
    changed_users = [i for i, f in users.items() if f != plan.users.get(i)]
    changed_resources = [i for i, f in resources.items() if f != plan.resources.get(i)]
    stale = 0
    for user_id, action, resource_id in requests:
        u, r = users.get(user_id), resources.get(resource_id)
        if u is None or r is None:  # deleted during the run: counted, never skipped
            tally.record("error", _planned_cell(plan, cell_of, user_id, action, resource_id))
            continue
        inp = _input(user_id, u, action, resource_id, r)
        authorize(inp, tag=cell_of(inp, concrete=True))
    if changed_users or changed_resources:
        changed_users, changed_resources = set(changed_users), set(changed_resources)
        stale = sum(1 for u, _, r in requests if (u in changed_users or r in changed_resources)
                    and u in users and r in resources)
    auth.drain()
    tally.stale = stale
    entries = list(state["entries"])
    state["entries"].clear()
    return metrics.flush(), entries


def _planned_cell(plan, cell_of, user_id: str, action: str, resource_id: str):
    """The cell a request was planned in, from the facts the plan expected (its facts
    are gone from the database), keyed by `Space.cell_of` like every other request."""
    e, role, teams = plan.users[user_id]
    kind, re_, team = plan.resources[resource_id]
    return cell_of(_input(user_id, (e, role, teams), action, resource_id, (kind, re_, team)),
                   concrete=True)


def _input(user_id: str, u: tuple, action: str, resource_id: str, r: tuple) -> dict:
    """The request model's input from the facts (enterprise, role, teams) of a user and
    (kind, enterprise, team) of a resource, as the database gives them."""
    return {"subject": {"id": user_id, "enterprise": u[0], "role": u[1], "teams": list(u[2])},
            "action": action,
            "resource": {"id": resource_id, "kind": r[0], "enterprise": r[1], "team": r[2]}}
