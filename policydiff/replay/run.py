"""`run_replay`: the replay as a library call, from flags to a `ReplayReport`.

The stages: check the options and the policies (bad input, exit 2, before anything
runs); read the tenancy once and plan the workload (`workload`); start K worker
processes (`worker`) and the churn writer (`churn`), with the run's own Prometheus
registry and, on request, an HTTP endpoint over it (`metrics`); hand out blocks, at most
two in flight per worker, and merge each finished block's tally into the run's tally and
its metrics; then scrape the metrics one last time and build the report. Progress goes to
an observer; nothing prints.

Every block is counted once: workers only tally, the parent merges a block's tally into
the report's counts and the metrics together, once, and a block in flight on a worker
that died is given to another worker. So the final scrape equals the report, and a
scrape during the run never exceeds it. The run stops early — and the report says `complete: false` with the
reason — when a worker cannot reach the database any more, when no worker is left, or
on SIGINT/SIGTERM (`stop`); blocks already finished are kept, in-flight ones are waited
for, nothing else is sent.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from policydiff.errors import Code, InputError
from policydiff.interrupts import on_interrupt
from policydiff.replay import workload
from policydiff.replay.metrics import Metrics, Tally, latency, scrape, serve
from policydiff.results import OUTCOMES, ReplayCell, ReplayReport, ReplayRun
from policydiff.source import Span

IN_FLIGHT = 2  # blocks per worker: one being run, one waiting, so no worker idles


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """What the observer hears, after every finished block and at least every 0.2 s:
    requests done of the total, time so far, and a message when something happened (a
    worker lost, the run stopping). The run's parent waits while the observer runs."""

    done: int
    total: int
    elapsed: float
    discrepancies: int = 0
    message: str | None = None


Observer = Callable[[Progress], None]


def run_replay(
    *,
    v1: str | Path,
    v2: str | Path,
    requests: int,
    parallel: int = 1,
    seed: int = 0,
    dsn: str | None = None,
    metrics_port: int | None = None,
    profile: str | Path | None = None,
    shard: str | tuple[int, int] | None = None,
    churn: float = 0.0,
    decision_log: str | Path | None = None,
    v1_decision: str | None = None,
    v2_decision: str | None = None,
    data_dir: str | Path | None = None,
    observer: Observer | None = None,
    stop: threading.Event | None = None,
    reconnect_attempts: int = 8,
    crash_at: tuple[int, str, str] | None = None,
) -> ReplayReport:
    """Replay `requests` requests (this shard's share of them) against the database:
    v1 enforcing, v2 in shadow, every request's facts read during the run.

    Bad options, policies or profile, or an empty tenancy: `InputError`/`PolicyError`
    (exit 2); the database unreachable at the start: `InfraError` (exit 3). Trouble
    during the run does not raise: the report says `complete: false` and why.

    `crash_at=(n, point, claim_file)` is for tests: one worker dies at `point`
    (`worker.CRASH_POINTS`) of its n-th block."""
    from policydiff import db
    from policydiff.diff import policy_info
    from policydiff.policy import load_policy

    _check_options(requests, parallel, churn, metrics_port)
    shard_pair = workload.parse_shard(shard) if isinstance(shard, str) else shard
    if shard_pair is not None:
        workload.parse_shard(f"{shard_pair[0]}/{shard_pair[1]}")
    p1 = load_policy(Path(v1), decision=v1_decision)
    p2 = load_policy(Path(v2), decision=v2_decision)
    target, _origin = db.locate(dsn, data_dir=data_dir)
    conn = db.connect(target)
    try:
        tenancy = db.load_tenancy(conn)
    finally:
        conn.close()
    prof = workload.load_profile(profile, tenancy)
    plan = workload.plan(tenancy, prof, requests=requests, seed=seed)
    blocks = workload.shard_blocks(plan, shard_pair)
    total = sum(min(plan.requests, (b + 1) * workload.BLOCK) - b * workload.BLOCK for b in blocks)
    run = ReplayRun(v1=policy_info(p1, str(v1)), v2=policy_info(p2, str(v2)), dsn=db.display(target),
                    requests=requests, parallel=parallel, seed=seed, started=_now(), finished="",
                    run_id=uuid.uuid4().hex, churn=churn,
                    shard=f"{shard_pair[0]}/{shard_pair[1]}" if shard_pair else None,
                    tenancy_sha256=workload.tenancy_digest(tenancy))
    driver = _Driver(plan=plan, blocks=blocks, total=total, dsn=target,
                     v1=str(Path(v1).resolve()), v2=str(Path(v2).resolve()),
                     v1_decision=v1_decision, v2_decision=v2_decision, parallel=parallel,
                     churn=churn, seed=seed, decision_log=decision_log, observer=observer,
                     stop=stop or threading.Event(), reconnect_attempts=reconnect_attempts,
                     crash_at=crash_at)
    tally, metrics_text, problems, complete = driver.run(metrics_port)
    run = msgspec.structs.replace(run, finished=_now())
    return _report(run, tally, metrics_text, problems, complete)


def _check_options(requests: int, parallel: int, churn: float, port: int | None) -> None:
    if not isinstance(requests, int) or requests < 1:
        raise InputError.at(Code.BAD_FLAG, f"`--requests {requests}` must be a positive number of requests",
                            Span(file="--requests"))
    if not isinstance(parallel, int) or parallel < 1:
        raise InputError.at(Code.BAD_FLAG, f"`--parallel {parallel}` must be at least 1", Span(file="--parallel"))
    if not churn >= 0:
        raise InputError.at(Code.BAD_FLAG, f"`--churn {churn}` must be a rate >= 0 (transactions a second)",
                            Span(file="--churn"))
    if port is not None and not 0 <= port <= 65535:
        raise InputError.at(Code.BAD_FLAG, f"`--metrics-port {port}` is not a port", Span(file="--metrics-port"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _report(run: ReplayRun, t: Tally, metrics_text: str, problems: list[str],
            complete: bool) -> ReplayReport:
    cells = tuple(ReplayCell(tenant=k[0], role=k[1], action=k[2], relation=k[3], requests=row[0],
                             v2_more_permissive=row[1], v2_more_restrictive=row[2], errors=row[3])
                  for k, row in sorted(t.cells.items()))
    outcomes = t.outcome_counts()
    return ReplayReport(run=run, complete=complete, requests=t.requests, errors=outcomes["error"],
                        outcomes={o: outcomes[o] for o in OUTCOMES}, cells=cells,
                        latency_ms=latency(t), metrics=metrics_text, stale_facts=t.stale,
                        problems=tuple(problems))


class _Worker:
    """The parent's view of one worker process: its pipe and the blocks it holds."""

    __slots__ = ("closed", "conn", "gone", "id", "in_flight", "proc", "ready")

    def __init__(self, id_: int, proc, conn):
        self.id, self.proc, self.conn = id_, proc, conn
        self.in_flight: set[int] = set()
        self.ready = self.closed = self.gone = False


class _Driver:
    """The parent's side of one run: workers, blocks, the merged tally.

    Each worker (and the churn writer) has one duplex pipe; the parent waits on all the
    pipes and all the process sentinels at once (`multiprocessing.connection.wait`), so a
    worker that dies is seen at once, whatever it was doing, and never waited for: what
    it sent whole is read and counted, a message it was killed in the middle of is
    dropped, and the blocks it held go to the other workers."""

    def __init__(self, *, plan, blocks, total, dsn, v1, v2, v1_decision, v2_decision, parallel,
                 churn, seed, decision_log, observer, stop, reconnect_attempts, crash_at):
        self.plan, self.pending, self.total = plan, deque(blocks), total
        self.dsn, self.parallel, self.churn, self.seed = dsn, parallel, churn, seed
        self.policies = (v1, v2, v1_decision, v2_decision)
        self.decision_log, self.observer, self.stop = decision_log, observer, stop
        self.reconnect_attempts, self.crash_at = reconnect_attempts, crash_at
        self.tally = Tally()
        self.problems: list[str] = []
        self.failed = False
        self.finished: set[int] = set()
        self.workers: list[_Worker] = []
        self.writer = None  # (process, pipe) of the churn writer while it runs
        self.churn_started = churn <= 0  # blocks wait for the writer's first change
        self.first_block = self.pending[0] if self.pending else None
        self.churn_writes = 0
        self.log = None
        self.started = time.monotonic()

    def run(self, metrics_port: int | None):
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry()
        self.metrics = Metrics(registry=registry, replay=True)
        ctx = _context()
        server = None
        interrupts = ExitStack()
        try:
            if self.decision_log:
                try:
                    self.log = open(self.decision_log, "w", encoding="utf-8")  # noqa: SIM115 - closed below
                except OSError as e:
                    raise InputError.at(Code.UNWRITABLE_FILE, f"cannot write the decision log: {e.strerror}",
                                        Span(file=str(self.decision_log))) from None
            if metrics_port is not None:  # a port in use fails here, before any process starts
                try:
                    server = serve(metrics_port, registry)
                except OSError as e:
                    raise InputError.at(Code.BAD_FLAG, f"cannot serve metrics on port {metrics_port}: "
                                        f"{e.strerror}", Span(file="--metrics-port")) from None
            interrupts.enter_context(on_interrupt(self.stop.set))
            self.workers = [self._spawn(ctx, w) for w in range(self.parallel)]
            if self.churn > 0:
                self._spawn_churn(ctx)
            self._loop()
            self._stop_churn()
            text = scrape(registry)
        finally:
            processes = [w.proc for w in self.workers] + ([self.writer[0]] if self.writer else [])
            for proc in processes:  # only after an error: a finished run has joined them
                if proc.is_alive():
                    proc.terminate()
                proc.join(10)
            for conn in [w.conn for w in self.workers] + ([self.writer[1]] if self.writer else []):
                conn.close()
            interrupts.close()
            if server is not None:
                server.shutdown()
            if self.log is not None:
                self.log.close()
        complete = not self.pending and not self.failed and self.tally.requests == self.total
        return self.tally, text, self.problems, complete

    def _spawn(self, ctx, w: int) -> _Worker:
        from policydiff.replay import worker

        v1, v2, d1, d2 = self.policies
        job = worker.Job(worker=w, dsn=self.dsn, v1=v1, v2=v2, v1_decision=d1, v2_decision=d2,
                         plan=self.plan, decision_log=self.decision_log is not None,
                         reconnect_attempts=self.reconnect_attempts, crash_at=self.crash_at)
        mine, theirs = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=worker.main, args=(job, theirs), daemon=True,
                           name=f"policydiff-replay-{w}")
        proc.start()
        theirs.close()  # the worker's end lives in the worker only: its death closes the pipe
        return _Worker(w, proc, mine)

    def _spawn_churn(self, ctx) -> None:
        from policydiff.replay import churn

        mine, theirs = ctx.Pipe(duplex=True)
        first_users = ([] if self.first_block is None else
                       sorted({u for u, _, _ in self.plan.block(self.first_block)}))
        proc = ctx.Process(target=churn.main, args=(self.dsn, self.plan, self.churn, self.seed, theirs,
                                                     first_users),
                           daemon=True, name="policydiff-churn")
        proc.start()
        theirs.close()
        self.writer = (proc, mine)

    def _tell(self, message: str) -> None:
        self.problems.append(message)
        self._progress(message)

    def _progress(self, message: str | None = None) -> None:
        if self.observer is not None:
            o = self.tally.outcomes
            self.observer(Progress(done=self.tally.requests, total=self.total,
                                   elapsed=time.monotonic() - self.started,
                                   discrepancies=sum(o[1:3]), message=message))

    def _loop(self) -> None:
        from multiprocessing.connection import wait

        self.started = time.monotonic()
        last = 0.0
        while True:
            self._dispatch()
            live = [w for w in self.workers if not w.gone]
            if not live:
                break
            waiting: dict = {}
            for w in live:
                waiting[w.conn] = waiting[w.proc.sentinel] = w
            if self.writer is not None:
                waiting[self.writer[1]] = waiting[self.writer[0].sentinel] = None
            for ready in wait(list(waiting), timeout=0.2):
                w = waiting[ready]
                if w is None:
                    if self.writer is not None:  # its pipe and sentinel may both be ready
                        self._churn_event()
                elif not w.gone:
                    self._event(w, from_pipe=ready is w.conn)
            now = time.monotonic()
            if now - last >= 0.2:
                last = now
                self._progress()
        if self.stop.is_set() and self.pending:
            self._tell(f"stopped by a signal with {self.total - self.tally.requests} requests not run")
        self._progress()

    def _dispatch(self) -> None:
        """Blocks to every ready worker (up to IN_FLIGHT each); the end to every worker
        once nothing is left to give it, or the run stops."""
        stopping = self.stop.is_set() or self.failed
        for w in self.workers:
            if w.gone:
                continue
            if not stopping and w.ready and self.churn_started:
                while self.pending and len(w.in_flight) < IN_FLIGHT and not w.gone:
                    b = self.pending.popleft()
                    w.in_flight.add(b)  # a failed send puts it back with the others (_ended)
                    self._send(w, b)
            idle = not self.pending and not any(x.in_flight for x in self.workers)
            if (stopping or idle) and not w.closed and not w.gone:
                w.closed = True
                self._send(w, None)

    def _send(self, w: _Worker, message) -> None:
        try:
            w.conn.send(message)
        except OSError:  # the worker is dead: its sentinel says so too, this is sooner
            self._ended(w)

    def _event(self, w: _Worker, *, from_pipe: bool) -> None:
        """A message from `w`, or its end: a sentinel, end of file, or a message cut short."""
        if from_pipe:
            try:
                msg = w.conn.recv()
            except (EOFError, OSError):
                self._ended(w)
                return
            self._handle(w, msg)
        else:
            self._ended(w)

    def _handle(self, w: _Worker, msg: tuple) -> None:
        kind = msg[0]
        if kind == "ready":
            w.ready = True
        elif kind == "done":
            _, block, tally, entries = msg
            w.in_flight.discard(block)
            if block in self.finished:  # cannot happen: a block is given out again only
                self._tell(f"block {block} finished twice; counted once")  # when lost
                return
            self.finished.add(block)
            if block == self.first_block and self.writer is not None:
                self._tell_churn("go")  # the first change may be undone now
            self.tally.merge(tally)
            self.metrics.add(tally)
            if self.log is not None:
                for entry in entries:
                    self.log.write(msgspec.json.encode(entry).decode() + "\n")
            self._progress()
        elif kind == "failed":
            _, block, why = msg
            if block is not None:
                w.in_flight.discard(block)
                self.pending.appendleft(block)
            for b in sorted(w.in_flight, reverse=True):  # sent, never started: not counted anywhere
                self.pending.appendleft(b)
            w.in_flight.clear()
            w.gone = True
            self.failed = True
            self._tell(f"worker {w.id} stopped: {why}")

    def _ended(self, w: _Worker) -> None:
        """`w`'s process ended or its pipe broke. Whole messages still in the pipe are
        read first (a block it finished is not run again); a worker that was told to
        end, held nothing and exited 0 just finished, any other end is a crash: named in
        the problems, its blocks given to the other workers."""
        if w.gone:
            return
        while not w.gone:
            try:
                if not w.conn.poll():
                    break
                msg = w.conn.recv()
            except (EOFError, OSError):
                break
            self._handle(w, msg)
        if w.gone:  # it said why it stopped
            return
        w.gone = True
        w.proc.join(5)
        if w.proc.is_alive():  # its pipe broke but it lives on: no use to the run
            w.proc.terminate()
            w.proc.join(5)
        if w.closed and not w.in_flight and w.proc.exitcode == 0:
            return
        lost = sorted(w.in_flight)
        w.in_flight.clear()
        self.pending.extendleft(reversed(lost))
        self._tell(f"worker {w.id} crashed (exit code {w.proc.exitcode}); "
                   f"its {len(lost)} unfinished block(s) went to the other workers")
        if all(x.gone for x in self.workers) and self.pending:
            self.failed = True
            self._tell("no worker left")

    def _churn_event(self) -> None:
        """A message from the churn writer, or its end."""
        proc, conn = self.writer
        try:
            if conn.poll():
                self._churn_message(conn.recv())
                return
        except (EOFError, OSError):
            pass
        proc.join(5)
        self.writer = None
        self.churn_started = True
        self._tell(f"the churn writer died (exit code {proc.exitcode}) after {self.churn_writes} "
                   "transactions")
        conn.close()

    def _churn_message(self, msg: tuple) -> None:
        """("changed",): its first change is in, blocks may start; ("churn", transactions,
        problem or None): the writer's last word."""
        if msg[0] == "changed":
            self.churn_started = True
            return
        _, writes, problem = msg
        self.churn_writes = writes
        proc, conn = self.writer
        proc.join(30)
        conn.close()
        self.writer = None
        self.churn_started = True
        if problem is not None:
            self._tell(f"the churn writer stopped after {writes} transactions: {problem}")

    def _tell_churn(self, word: str) -> None:
        try:
            self.writer[1].send(word)
        except OSError:  # it died: its sentinel tells the rest
            pass

    def _stop_churn(self) -> None:
        """Tell the churn writer to put the facts back and stop, and wait for its word."""
        if self.writer is None:
            return
        proc, conn = self.writer
        self._tell_churn("stop")
        while self.writer is not None and (conn.poll(30) or not proc.is_alive()):
            self._churn_event()  # a last ("changed",) may come before its last word
        if self.writer is not None:
            self._tell("the churn writer did not stop within 30 s; the facts it changed last may "
                       "not be back")


# What a worker imports, loaded once in the fork server: workers then start in a fraction
# of the time a fresh interpreter takes to import them (seconds on a busy machine).
_PRELOAD = ["policydiff.replay.worker", "policydiff.replay.churn", "policydiff.policy",
            "policydiff.analysis", "policydiff.matrix", "policydiff.db", "prometheus_client"]


def _context():
    """Worker processes come from a fork server (a clean process, no threads of the
    caller's, forked per worker), with the worker's modules preloaded. A worker gets
    everything it needs in its `Job` (paths absolute), since the
    server's environment and working directory are those of its first run."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx
