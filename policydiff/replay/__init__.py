"""Replay: the shadow authorizer under load against the live database.

`ShadowAuthorizer` is what an application embeds (v1 enforcing, v2 in shadow, or the
reverse after promotion); `run_replay` drives it as load — a workload planned over the
database's tenancy (`workload`), K worker processes reading every request's facts from
PostgreSQL (`worker`), an optional churn writer (`churn`), Prometheus metrics counted
locally and flushed per batch (`metrics`) — and returns the `policydiff.replay/1` report.
"""

from policydiff.replay.metrics import Metrics, Tally
from policydiff.replay.run import Progress, run_replay
from policydiff.replay.shadow import ShadowAuthorizer, outcome

__all__ = ["Metrics", "Progress", "ShadowAuthorizer", "Tally", "outcome", "run_replay"]
