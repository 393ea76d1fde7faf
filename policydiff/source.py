"""Source texts and the spans that point into them.

A `Source` is one policy, tenancy or rule file as read; a `Span` is a position in it.
Spans are metadata: they compare equal to every other span, so two IR nodes that differ
only in where they stand are equal and hash alike (as Cedar's `Node<T>` ignores `loc`).
"""

from __future__ import annotations

from pathlib import Path

import msgspec


class Span(msgspec.Struct, frozen=True, kw_only=True, eq=False):
    """A 1-based line and column range in a named file."""

    file: str = "<input>"
    line: int = 0
    col: int = 0
    end_line: int = 0
    end_col: int = 0

    def __eq__(self, other: object) -> bool:  # positions never decide equality
        return isinstance(other, Span)

    def __hash__(self) -> int:
        return 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file

    @property
    def where(self) -> str:
        """`file:line`, the form reports use for provenance."""
        return f"{self.file}:{self.line}" if self.line else self.file


NOWHERE = Span()


class Source(msgspec.Struct, frozen=True, kw_only=True):
    """A text and the name it is reported under."""

    name: str
    text: str

    @classmethod
    def read(cls, path: str | Path) -> Source:
        text = Path(path).read_text(encoding="utf-8")
        return cls(name=str(path), text=text.removeprefix("\ufeff"))  # a BOM, as OPA allows

    def line(self, n: int) -> str:
        lines = self.text.splitlines()
        return lines[n - 1] if 0 < n <= len(lines) else ""
