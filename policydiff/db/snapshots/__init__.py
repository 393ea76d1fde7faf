"""Rollback points: snapshot the database, restore it, list what there is.

Two backends with one interface (`create`, `restore`, `list`, declared in `contract`):

- `template.TemplateSnapshots`, for plain PostgreSQL: a snapshot is a database created
  with the source as TEMPLATE, restored by copy-then-rename.
- `neon.NeonSnapshots` (when `NEON_API_KEY` and `NEON_PROJECT_ID` are set): a snapshot
  is a child branch of the database's branch; restore is Neon's branch restore.

Either way, restore refuses while replay workers are connected, unless forced. This
module re-exports the contract and chooses the backend; the backends import only the
contract, never each other or this package.
"""

from __future__ import annotations

import os

from policydiff.db.snapshots.contract import (
    REPLAY_APPLICATION,
    RestoreRefused,
    Snapshot,
    Snapshots,
    check_name,
    refuse_if_replaying,
    replay_workers,
    unknown_snapshot,
)
from policydiff.db.snapshots.neon import NeonClient, NeonSnapshots
from policydiff.db.snapshots.template import TemplateSnapshots, snapshot_dsn

__all__ = [
    "REPLAY_APPLICATION", "NeonClient", "NeonSnapshots", "RestoreRefused", "Snapshot",
    "Snapshots", "TemplateSnapshots", "backend", "check_name", "refuse_if_replaying",
    "replay_workers", "snapshot_dsn", "unknown_snapshot",
]


def backend(dsn: str) -> Snapshots:
    """Neon branches when `NEON_API_KEY` and `NEON_PROJECT_ID` are set, else template
    databases on `dsn`'s server."""
    if os.environ.get("NEON_API_KEY") and os.environ.get("NEON_PROJECT_ID"):
        return NeonSnapshots(NeonClient.from_env(), dsn)
    return TemplateSnapshots(dsn)
