"""The matrix: dimensions, the value classes of every input path, and the cells.

`dimensions` reads where a cell's dimensions live in the input (the CLI's
`--dimension` flags); `classes` holds one class of input paths with the values that
stand for all others and the labels that name a value's class; `space` builds every
class from the policies' analysis, enumerates the class combinations of the symbolic
matrix and gives any request its cell (`Space.cell_of`); `realise` groups a tenancy's
concrete requests by the class combinations they realise. The names other stages use
are re-exported here.
"""

from policydiff.matrix.classes import (
           ABSENT,
           MAX_SUBSETS,
           OTHER,
           ClassSpace,
           Label,
           ValueType,
           matches,
)
from policydiff.matrix.dimensions import (
           ANY,
           DIMENSIONS,
           RUNBOOK,
           Dimensions,
           dimensions,
           parse_path,
)
from policydiff.matrix.realise import Realisation, realise
from policydiff.matrix.space import REQUEST_MODEL, CellKey, Space, build_input, get

__all__ = [
           "ABSENT",
           "ANY",
           "DIMENSIONS",
           "MAX_SUBSETS",
           "OTHER",
           "REQUEST_MODEL",
           "RUNBOOK",
           "CellKey",
           "ClassSpace",
           "Dimensions",
           "Label",
           "Realisation",
           "Space",
           "ValueType",
           "build_input",
           "dimensions",
           "get",
           "matches",
           "parse_path",
           "realise",
]
