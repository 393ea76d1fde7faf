"""Counting comparisons: a local tally per process, added to Prometheus in bulk.

A Prometheus call per request costs about as much as evaluating both policies, so the
shadow authorizer counts into a plain `Tally` (outcomes, per-cell counts, latency
histograms) and `Metrics.flush` adds a whole tally to the Prometheus metrics of
docs/design.md at once — every few hundred decisions in an embedding application.

Replay workers only tally: each finished block's tally goes to the parent, which merges
it into the run's tally and adds it to the run's own `CollectorRegistry` (`Metrics.add`)
exactly once. That registry serves `/metrics` while the run lasts (`serve`) and gives the
final scrape the report embeds (`scrape`), so the counters equal the report's counts by
construction: a worker that dies with a block tallied but not delivered has counted it
nowhere.

Histograms share one set of log-spaced bounds (`BUCKETS`, about 26 % apart from 1 µs to
10 s), fine enough for p95/p99; the local tally keeps the same buckets, so percentiles
come from the data the metrics expose.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Hashable

from policydiff.results import OUTCOMES, Latency, Percentiles

BUCKETS: tuple[float, ...] = tuple(1e-6 * 2 ** (i / 3) for i in range(71))  # seconds, up to ~10 s
_INF = len(BUCKETS)
HISTOGRAMS = ("v1", "v2", "db")
OUTCOME_INDEX = {name: i for i, name in enumerate(OUTCOMES)}
# the fields of a ReplayCell a tally keeps per tag: requests and each outcome but match
_CELL = {"v2_more_permissive": 1, "v2_more_restrictive": 2, "error": 3}


class Tally:
    """What one process saw since its last flush. Plain lists, cheap to update and to
    pickle to the parent."""

    __slots__ = ("cells", "hist", "max", "outcomes", "requests", "stale", "sums")

    def __init__(self) -> None:
        self.outcomes = [0] * len(OUTCOMES)
        self.requests = 0  # requests replayed (replay only; the authorizer counts outcomes)
        self.cells: dict[Hashable, list[int]] = {}  # tag -> [requests, permissive, restrictive, errors]
        self.hist = {name: [0] * (len(BUCKETS) + 1) for name in HISTOGRAMS}
        self.sums = dict.fromkeys(HISTOGRAMS, 0.0)
        self.max = dict.fromkeys(HISTOGRAMS, 0.0)
        self.stale = 0

    def observe(self, name: str, seconds: float) -> None:
        self.hist[name][bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sums[name] += seconds
        if seconds > self.max[name]:  # noqa: PLR1730 - cheaper than max() on the hot path
            self.max[name] = seconds

    def record(self, outcome: str, tag: Hashable = None) -> None:
        self.outcomes[OUTCOME_INDEX[outcome]] += 1
        if tag is not None:
            row = self.cells.get(tag)
            if row is None:
                row = self.cells[tag] = [0, 0, 0, 0]
            row[0] += 1
            i = _CELL.get(outcome)
            if i is not None:
                row[i] += 1

    def merge(self, other: Tally) -> None:
        self.outcomes = [a + b for a, b in zip(self.outcomes, other.outcomes)]
        self.requests += other.requests
        self.stale += other.stale
        cells = self.cells  # the parent merges every batch's cells: kept cheap
        for tag, row in other.cells.items():
            mine = cells.get(tag)
            if mine is None:
                cells[tag] = row.copy()
            else:
                mine[0] += row[0]
                mine[1] += row[1]
                mine[2] += row[2]
                mine[3] += row[3]
        for name in HISTOGRAMS:
            self.hist[name] = [a + b for a, b in zip(self.hist[name], other.hist[name])]
            self.sums[name] += other.sums[name]
            self.max[name] = max(self.max[name], other.max[name])

    def outcome_counts(self) -> dict[str, int]:
        return dict(zip(OUTCOMES, self.outcomes))

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state) -> None:
        for k, v in state.items():
            setattr(self, k, v)


def percentiles(counts: list[int], maximum: float) -> Percentiles:
    """p50/p95/p99 in milliseconds: the upper bound of the bucket holding the quantile
    (never above the largest value seen), and the exact maximum."""
    total = sum(counts)

    def q(fraction: float) -> float:
        if total == 0:
            return 0.0
        rank = math.ceil(fraction * total)
        seen = 0
        for i, n in enumerate(counts):
            seen += n
            if seen >= rank:
                bound = BUCKETS[i] if i < _INF else maximum
                return min(bound, maximum) * 1000
        return maximum * 1000

    return Percentiles(p50=_round(q(0.50)), p95=_round(q(0.95)), p99=_round(q(0.99)),
                       max=_round(maximum * 1000))


def latency(tally: Tally) -> Latency:
    return Latency(**{name: percentiles(tally.hist[name], tally.max[name]) for name in HISTOGRAMS})


def _round(ms: float) -> float:
    return float(f"{ms:.4g}")


class Metrics:
    """A local tally plus, when `prometheus` is true, the Prometheus metrics of docs/design.md
    it is flushed into, in `registry` — by default prometheus_client's own `REGISTRY`,
    which `start_http_server(port)` and the client's other exporters serve, so an
    application that embeds the shadow authorizer exposes its metrics as it exposes its
    own. Metrics already in the registry under these names (another authorizer's in the
    same process) are shared, not registered twice."""

    def __init__(self, *, prometheus: bool = True, registry=None, replay: bool = False):
        self.pending = Tally()
        self._prom = None
        if prometheus:
            if registry is None:
                from prometheus_client import REGISTRY

                registry = REGISTRY
            self._prom = _PrometheusMetrics(registry, replay)

    def flush(self) -> Tally:
        """Add everything counted since the last flush to the Prometheus metrics, and
        return it."""
        done, self.pending = self.pending, Tally()
        self.add(done)
        return done

    def add(self, tally: Tally) -> None:
        """Add a tally counted elsewhere (a replay worker's block) to the Prometheus
        metrics; the pending tally is left alone."""
        if self._prom is not None:
            self._prom.add(tally)


_REGISTERING = threading.Lock()  # two authorizers made at once: one registers, one shares


class _PrometheusMetrics:
    def __init__(self, registry, replay: bool):
        from prometheus_client import Counter, Histogram

        help_ = {"v1": "RBACv1 evaluation time", "v2": "RBACv2 evaluation time",
                 "db": "Time to read a batch of requests' facts from the database"}
        names = {"v1": "rbac_v1_latency_seconds", "v2": "rbac_v2_latency_seconds",
                 "db": "rbac_db_lookup_seconds"}
        with _REGISTERING:
            self.comparisons = _shared(registry, Counter, "rbac_v1_v2_comparison_total",
                                       "Decision pairs of the enforcing and the shadow policy, by outcome",
                                       ["outcome"])
            self.hist = {h: _shared(registry, Histogram, names[h], help_[h], buckets=BUCKETS)
                         for h in HISTOGRAMS}
            self.requests = (_shared(registry, Counter, "rbac_replay_requests_total",
                                     "Requests executed by replay") if replay else None)
        self.by_outcome = [self.comparisons.labels(o) for o in OUTCOMES]  # every label shown, 0 too

    def add(self, t: Tally) -> None:
        for child, n in zip(self.by_outcome, t.outcomes):
            if n:
                child.inc(n)
        for name, h in self.hist.items():
            counts = t.hist[name]
            if not any(counts):
                continue
            # Histogram has no bulk observe: its per-bucket values (non-cumulative, one
            # per bound and +Inf, the same bounds as the tally's) take whole counts.
            for value, n in zip(h._buckets, counts):
                if n:
                    value.inc(n)
            h._sum.inc(t.sums[name])
        if self.requests is not None and t.requests:
            self.requests.inc(t.requests)


def _shared(registry, kind, name: str, help_: str, labels=(), **kw):
    """The `kind` metric `name` of `registry`: registered now, or the one already there
    (which must be what this module would have made: same kind, labels and buckets)."""
    try:
        return kind(name, help_, list(labels), registry=registry, **kw)
    except ValueError:
        there = registry._names_to_collectors.get(name)  # no public lookup by name
        same = (type(there) is kind and tuple(there._labelnames) == tuple(labels)
                and tuple(getattr(there, "_upper_bounds", BUCKETS + (math.inf,))) == BUCKETS + (math.inf,))
        if not same:
            raise ValueError(f"the registry already has a metric `{name}` of another shape") from None
        return there


def scrape(registry) -> str:
    """The text exposition of a registry's metrics (what `/metrics` serves)."""
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


def serve(port: int, registry):
    """Serve a registry's metrics on `port` (all interfaces); returns the server, to
    `shutdown()` when the run ends."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, registry=registry)
    return server
