"""Rendering a replay for people: its progress while it runs, and a summary after.

`ProgressView` is the observer `run_replay` calls: on a terminal, a rich progress bar
with the rate and the time left; elsewhere (CI logs, files), one plain line every few
seconds. Messages (a worker lost, the run stopping) are printed as they come, in both.
`summary` is a few lines on a finished `ReplayReport`.
"""

from __future__ import annotations

import time
from typing import IO, Self

from policydiff.replay.run import Progress
from policydiff.results import ReplayReport

PLAIN_EVERY = 5.0  # seconds between plain progress lines


class ProgressView:
    def __init__(self, stream: IO[str], *, tty: bool):
        self.stream, self.tty = stream, tty
        self._bar = None
        self._task = None
        self._last = 0.0
        self._printed = -1

    def __enter__(self) -> Self:
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("replay"), BarColumn(), MofNCompleteColumn(),
                                 TaskProgressColumn(), TextColumn("{task.fields[rate]}"),
                                 TimeRemainingColumn(), console=Console(file=self.stream),
                                 transient=False)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def __call__(self, p: Progress) -> None:
        rate = p.done / p.elapsed if p.elapsed > 0 else 0.0
        if p.message:
            self._print(f"replay: {p.message}")
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task("replay", total=p.total, rate="")
            self._bar.update(self._task, completed=p.done, rate=f"{rate:,.0f} req/s")
            return
        now = time.monotonic()
        finished = p.done == p.total and self._printed != p.done
        if now - self._last >= PLAIN_EVERY or finished:
            self._last, self._printed = now, p.done
            self.stream.write(f"replay: {p.done}/{p.total} requests ({_pct(p.done, p.total)}), "
                              f"{rate:,.0f} req/s, {p.discrepancies} discrepancies\n")
            self.stream.flush()

    def _print(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()


def _pct(done: int, total: int) -> str:
    return f"{100 * done / total:.0f} %" if total else "-"


def summary(report: ReplayReport, output: str | None) -> str:
    """A few lines on a finished replay."""
    o = report.outcomes
    discrepant = o["v2_more_permissive"] + o["v2_more_restrictive"]
    rate = discrepant / report.requests if report.requests else 0.0
    lat = report.latency_ms
    lines = [
        f"replay {'complete' if report.complete else 'INCOMPLETE'}: {report.requests} requests"
        + (f" (shard {report.run.shard})" if report.run.shard else "")
        + f", {len(report.cells)} cells, against {report.run.dsn}",
        (f"  match {o['match']}, v2_more_permissive {o['v2_more_permissive']}, "
        f"v2_more_restrictive {o['v2_more_restrictive']}, error {o['error']} "
        f"(discrepancy rate {100 * rate:.2f} %)"),
        f"  latency p99: v1 {lat.v1.p99} ms, v2 {lat.v2.p99} ms, db {lat.db.p99} ms"
        + (f"; {report.stale_facts} decisions on facts changed during the run"
           if report.run.churn else ""),
    ]
    lines += [f"  problem: {p}" for p in report.problems]
    if output:
        lines.append(f"  report written to {output}")
    return "\n".join(lines) + "\n"
