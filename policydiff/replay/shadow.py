"""The shadow authorizer: what an application embeds while a policy change is in shadow.

`authorize(request)` evaluates the enforcing policy, times it and returns its decision;
the shadow policy's evaluation is queued and taken by `drain()` — from a background
thread (`start()`), from the replay worker after each batch, or inline once
`max_pending` requests wait — so the shadow side never delays the enforced answer, and
never changes it: an exception or a builtin error in the shadow (evaluated with strict
builtin errors) is counted as outcome `error` and the enforced answer stands. An error
in the enforcing policy denies (fails closed) and is counted as `error` too.

Outcomes are always named from v1 to v2 (`v2_more_permissive`: v2 allows what v1
denies), whichever of the two enforces. Discrepancies can go to a decision log as OPA
decision-log entries (`decision_id`, `path`, `input`, `result`, `timestamp`) with both
results added, so tools that read OPA's logs read these.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime
from typing import Any, Self

from policydiff.flags import Mode, mode_from_flags
from policydiff.replay.metrics import BUCKETS, Metrics

DecisionLog = Callable[[dict], None]
_clock = time.perf_counter


def outcome(v1: bool, v2: bool) -> str:
    """The comparison of one decision pair, named from v1 to v2."""
    if v1 == v2:
        return "match"
    return "v2_more_permissive" if v2 else "v2_more_restrictive"


class ShadowAuthorizer:
    """`enforce` decides; `shadow` (optional) is compared with it. Both are loaded
    policies (`policydiff.Policy`). `enforcing` says which version `enforce` is ("v1"
    or "v2"), so outcomes and latencies are named right after promotion too.
    `metrics`: a `Metrics` (default: a local tally flushed every `flush_every` decisions,
    and on `close()`, to Prometheus metrics in prometheus_client's default `REGISTRY`,
    shared by every authorizer of the process; `flush_every=None` means the owner
    flushes). `decision_log`: a callable taking one entry per discrepancy, or a writable
    text file (JSON lines)."""

    def __init__(self, enforce: Any, shadow: Any = None, metrics: Metrics | None = None,
                 decision_log: DecisionLog | Any = None, *, enforcing: str = "v1",
                 max_pending: int = 1024, flush_every: int | None = 256):
        if enforcing not in ("v1", "v2"):
            raise ValueError("enforcing is 'v1' or 'v2'")
        self.enforce, self.shadow, self.enforcing = enforce, shadow, enforcing
        self.metrics = metrics if metrics is not None else Metrics()
        self.decision_log = _log_sink(decision_log)
        self.max_pending = max_pending
        self.flush_every = flush_every
        self._pending: deque = deque()
        self._allows = enforce.allows
        self._queue = self._pending.append if shadow is not None else None
        self._inline = True  # no background drainer: drain when max_pending wait
        self._since_flush = 0
        self._lock = threading.Lock()  # one drainer at a time
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._paths = {name: _path(p.decision) for name, p in
                       (("v1", enforce if enforcing == "v1" else shadow),
                        ("v2", shadow if enforcing == "v1" else enforce)) if p is not None}

    @classmethod
    def from_flags(cls, v1: Any, v2: Any, env: Mapping[str, str] = os.environ, **kw) -> ShadowAuthorizer:
        """The authorizer the enforcement switch selects (`policydiff.flags`): v1 alone,
        v1 enforcing with v2 in shadow, or v2 enforcing with v1 in shadow. An
        inconsistent combination of flags raises `InputError`."""
        mode = mode_from_flags(env)
        if mode is Mode.V2_ENFORCE_V1_SHADOW:
            return cls(v2, v1, enforcing="v2", **kw)
        return cls(v1, v2 if mode is Mode.V1_ENFORCE_V2_SHADOW else None, enforcing="v1", **kw)

    # ---- the enforced path

    def authorize(self, request: dict, *, tag: Hashable = None) -> bool:
        """The enforcing policy's decision on `request`; the shadow's is queued. `tag`
        labels the comparison in the tally (replay passes the request's cell)."""
        # Kept lean: this is the enforced path. Everything else happens in drain().
        start = _clock()
        try:
            decision = self._allows(request)
        except Exception:  # noqa: BLE001 - fail closed, and say so in the counts
            decision = None
        end = _clock()
        if self._queue is None:
            self._alone(decision, end - start, tag)
        else:
            self._queue((request, decision, start, end, tag))
            if self._inline and len(self._pending) >= self.max_pending:
                self.drain()
        return decision is True

    def _alone(self, decision: bool | None, elapsed: float, tag: Hashable) -> None:
        tally = self.metrics.pending
        tally.observe(self.enforcing, elapsed)
        if decision is None:
            tally.record("error", tag)
        self._counted(1)

    # ---- the shadow side

    def drain(self) -> int:
        """Evaluate the shadow policy for every queued request and record each
        comparison; returns how many were taken."""
        with self._lock:
            pending, n = self._pending, 0
            tally = self.metrics.pending
            shadow, enforcing, log = self.shadow, self.enforcing, self.decision_log
            other = "v2" if enforcing == "v1" else "v1"
            # the tally's latency histograms updated in place (this runs per request)
            mine, theirs = tally.hist[enforcing], tally.hist[other]
            mine_sum = theirs_sum = 0.0
            mine_max, theirs_max = tally.max[enforcing], tally.max[other]
            record = tally.record
            try:
                while pending:
                    request, decision, began, ended, tag = pending.popleft()
                    start = _clock()
                    try:
                        shadowed = shadow.allows(request, strict=True)
                        shadow_failed = False
                    except Exception:  # noqa: BLE001 - never reaches the enforced answer
                        shadowed, shadow_failed = False, True
                    took = _clock() - start
                    theirs[bisect_left(BUCKETS, took)] += 1
                    theirs_sum += took
                    if took > theirs_max:  # noqa: PLR1730 - cheaper than max() here
                        theirs_max = took
                    took = ended - began
                    mine[bisect_left(BUCKETS, took)] += 1
                    mine_sum += took
                    if took > mine_max:  # noqa: PLR1730
                        mine_max = took
                    if decision is None or shadow_failed:
                        result = "error"
                    elif decision == shadowed:
                        result = "match"
                    elif enforcing == "v1":  # named from v1 to v2, as `outcome` names them
                        result = "v2_more_permissive" if shadowed else "v2_more_restrictive"
                    else:
                        result = "v2_more_permissive" if decision else "v2_more_restrictive"
                    record(result, tag)
                    if result != "match" and log is not None:
                        self._log(request, decision, shadowed, result)
                    n += 1
            finally:
                tally.sums[enforcing] += mine_sum
                tally.sums[other] += theirs_sum
                tally.max[enforcing], tally.max[other] = mine_max, theirs_max
        self._counted(n)
        return n

    def _counted(self, n: int) -> None:
        if self.flush_every is None:
            return
        self._since_flush += n
        if self._since_flush >= self.flush_every:
            self._since_flush = 0
            self.metrics.flush()

    def _log(self, request: dict, decision: bool | None, shadowed: bool, result: str) -> None:
        decision = decision is True  # what the application got (an enforcing error denies)
        v1, v2 = (decision, shadowed) if self.enforcing == "v1" else (shadowed, decision)
        self.decision_log({
            "decision_id": str(uuid.uuid4()),
            "path": self._paths[self.enforcing],
            "input": request,
            "result": decision,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "labels": {"app": "policydiff", "enforcing": self.enforcing},
            "v1_result": v1,
            "v2_result": v2,
            "v1_path": self._paths.get("v1"),
            "v2_path": self._paths.get("v2"),
            "outcome": result,
        })

    # ---- a background drainer, for applications

    def start(self) -> Self:
        """Drain the shadow queue from a daemon thread until `close()`."""
        if self._thread is None and self.shadow is not None:
            self._thread = threading.Thread(target=self._run, name="policydiff-shadow", daemon=True)
            self._inline = False
            self._thread.start()
        return self

    def _run(self) -> None:
        # polls instead of being woken per request: waking costs the enforced path
        while not self._stop.wait(0.01):
            self.drain()

    def close(self) -> None:
        """Stop the background drainer, evaluate what is queued and flush the metrics."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._inline = True
        self.drain()
        self.metrics.flush()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _path(decision: str) -> str:
    """OPA's decision-log path of a decision reference: `data.rbac.v1.allow` -> `rbac/v1/allow`."""
    parts = decision.split(".")
    return "/".join(parts[1:] if parts[0] == "data" else parts)


def _log_sink(log: Any) -> DecisionLog | None:
    if log is None or callable(log):
        return log
    if not callable(getattr(log, "write", None)):
        # found here, not at the first discrepancy in a drainer thread that would die of it
        raise TypeError(f"decision_log is a callable or a writable text file, not {type(log).__name__}")
    import msgspec

    def write(entry: dict) -> None:
        log.write(msgspec.json.encode(entry).decode() + "\n")

    return write
