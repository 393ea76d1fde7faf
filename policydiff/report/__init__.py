"""Rendering a compare report for people and for CI: text, json, markdown, sarif, junit.

Each format is one module with a `render` function over a finished `CompareReport`
(classified and gated); this package only dispatches. The rule file, when given, lets a
renderer link each classification to the line of its rule and apply the file's idea of
what blocks. `report.replay` renders a replay's progress and summary; `report.promotion`
an analysis, the promotion gate's table and the switch's status (text and JSON);
`report.html` the self-contained HTML page of analyses and the gate (Jinja2 and Plotly,
only imported there); `report.db` the `db` commands' messages and tables. `report.text`,
`report.replay`, `report.promotion` and `report.db` are the package's importers of rich.
"""

from __future__ import annotations

import importlib

from policydiff.classify import RuleFile
from policydiff.errors import Code, InputError
from policydiff.results import CompareReport

FORMATS = ("text", "json", "markdown", "sarif", "junit")


def render(report: CompareReport, fmt: str, *, rules: RuleFile | None = None,
           width: int = 100, color: bool = False) -> str:
    """The report in format `fmt`, as a string ending in a newline; `width` and `color`
    (ANSI escapes, for a terminal) concern the text format only."""
    if fmt not in FORMATS:
        raise InputError.at(Code.UNKNOWN_FORMAT, f"unknown report format `{fmt}`",
                            help="formats are " + ", ".join(FORMATS))
    module = importlib.import_module(f"policydiff.report.{fmt}")
    if fmt == "text":
        return module.render(report, rules=rules, width=width, color=color)
    return module.render(report, rules=rules)
