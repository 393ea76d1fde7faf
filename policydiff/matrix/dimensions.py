"""The dimensions of the matrix: where a cell's tenant, role, action and relation live.

`Dimensions` says which input path holds each dimension; `RUNBOOK` is the request
model of docs/design.md. `dimensions()` reads the CLI's `--dimension NAME=PATH` flags
into one, and `parse_path` reads one `input.…` path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from policydiff.errors import Code, InputError
from policydiff.flowgraph import Path

ANY = "*"  # the tenant (or another dimension) when the matrix does not split on it
DIMENSIONS = ("tenant", "role", "action", "subject_enterprise", "subject_teams",
              "resource_enterprise", "resource_team")


class Dimensions(msgspec.Struct, frozen=True, kw_only=True):
    """Where each dimension of a cell lives in the input. `runbook` is docs/design.md's
    request model, whose shape and types are fixed; otherwise the shape is whatever
    the policies read."""

    tenant: Path | None = ("subject", "enterprise")
    role: Path | None = ("subject", "role")
    action: Path | None = ("action",)
    subject_enterprise: Path | None = ("subject", "enterprise")
    subject_teams: Path | None = ("subject", "teams")
    resource_enterprise: Path | None = ("resource", "enterprise")
    resource_team: Path | None = ("resource", "team")
    runbook: bool = True
    symbolic_tenant: bool = False  # split the symbolic matrix on the tenant's classes

    @property
    def relation_paths(self) -> tuple[Path | None, ...]:
        return (self.subject_enterprise, self.resource_enterprise, self.resource_team,
                self.subject_teams)

    @property
    def has_relation(self) -> bool:
        return all(p is not None for p in self.relation_paths)


RUNBOOK = Dimensions()


def parse_path(text: str) -> Path:
    """`input.user.role` (or `user.role`) -> ("user", "role")."""
    parts = [p for p in re.split(r"\.|\[\"?|\"?\]", text.strip()) if p]
    if parts and parts[0] == "input":
        parts = parts[1:]
    if not parts or any(not re.fullmatch(r"[\w:-]+", p) for p in parts):
        raise InputError.at(Code.BAD_DIMENSION, f"`{text}` is not an input path like `input.user.role`")
    return tuple(parts)


def dimensions(specs: Sequence[str]) -> Dimensions:
    """`NAME=PATH` flags onto the request model. Naming any dimension leaves the
    request model: dimensions not named are then not split on (`*`) unless they keep
    their request-model path and a policy reads it (decided by the `Space`)."""
    if not specs:
        return RUNBOOK
    fields: dict[str, Any] = {"runbook": False}
    for spec in specs:
        name, sep, path = spec.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in DIMENSIONS:
            raise InputError.at(Code.BAD_DIMENSION, f"`{spec}`: expected NAME=PATH with NAME one of "
                                + ", ".join(f"`{d}`" for d in DIMENSIONS))
        fields[name] = parse_path(path)
        if name == "tenant":
            fields["symbolic_tenant"] = True
    if "tenant" not in fields:
        fields["tenant"] = None
    return Dimensions(**fields)
