"""The terminal renderings of the `db` commands: their one-line messages, the facts per
enterprise that `db verify` draws, and the list of snapshots.

A terminal gets its own width; files and CI logs get 120 columns, as `compare` renders.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from policydiff.db.snapshots import Snapshot
from policydiff.db.verify import VerifyReport
from policydiff.errors import redact
from policydiff.tenancy import ROLES


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 120)


def message(text: str, *, stderr: bool = False) -> None:
    """One line of what a `db` command did (progress and notes go to standard error)."""
    console(stderr).print(text)


def verify(report: VerifyReport) -> None:
    """The facts per enterprise, the totals and the verdict of `db verify`."""
    extra_roles = sorted({r for e in report.enterprises for r in e.roles} - set(ROLES))
    roles = [*ROLES, *extra_roles]
    table = Table(title="facts per enterprise (users by role, resources in teams / at enterprise level)")
    table.add_column("enterprise", no_wrap=True)
    table.add_column("teams", justify="right")
    for role in roles:
        table.add_column(role, justify="right", no_wrap=True)
    table.add_column("res/team", justify="right")
    table.add_column("res/ent", justify="right")
    for e in report.enterprises:
        table.add_row(e.id, str(e.teams), *(str(e.roles.get(r, 0)) for r in roles),
                      str(e.team_resources), str(e.enterprise_resources))
    out = console()
    out.print(table)
    totals = ", ".join(f"{n} {t}" for t, n in report.totals.items())
    out.print(f"totals: {totals}")
    out.print("verify: passed" if report.passed else f"verify: failed ({len(report.problems)} problems)")


def snapshots(snaps: Sequence[Snapshot]) -> None:
    """The rollback points, oldest first, locations redacted."""
    table = Table(title="snapshots")
    for col in ("name", "created", "backend", "location"):
        table.add_column(col)
    for s in snaps:
        table.add_row(s.name, s.created, s.backend, redact(s.location))
    console().print(table)
