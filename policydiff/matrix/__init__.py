"""The matrix (moved into a package; split into its rooms in the next commit)."""

from policydiff.matrix.classes import (
    ABSENT,
    ANY,
    DIMENSIONS,
    OTHER,
    RUNBOOK,
    ClassSpace,
    Dimensions,
    Space,
    build_input,
    dimensions,
    get,
    matches,
    parse_path,
)

__all__ = ["ABSENT", "ANY", "DIMENSIONS", "OTHER", "RUNBOOK", "ClassSpace", "Dimensions", "Space",
           "build_input", "dimensions", "get", "matches", "parse_path"]
