"""The HTML report as a browser shows it: rendered by headless Chromium (Debian's
`chromium`, installed by scripts/test.sh), with its scripts run, and checked on the
resulting page — the promotion table, one heat map per relation drawn by Plotly, the
latency histograms of v1 and v2, and every discrepant cell with its classification and
witness — offline, with nothing fetched."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import msgspec
import pytest
from replayfiles import replay_report

from policydiff import db, load_policy
from policydiff.analyze import analyze
from policydiff.classify import load_rules
from policydiff.promotion_gate import Drill, LoadedReport, promotion_gate
from policydiff.report.html import render_html
from policydiff.runs import RunFile, merge

V1, UNSAFE, RULES = "policies/rbac_v1.rego", "examples/unsafe/rbac_v2.rego", "classifications/rbac_v2.yaml"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def rendered_dom(page: Path) -> str:
    """The DOM after the page's scripts ran, as headless Chromium serialises it."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed (scripts/test.sh installs it)"
    profile = tempfile.mkdtemp(prefix="policydiff-chromium-")
    try:
        done = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}",
                               "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Page(HTMLParser):
    """Elements by class, and the text of table rows, as the rendered page holds them."""

    def __init__(self) -> None:
        super().__init__()
        self.classes: dict[str, int] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self._table: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for c in (a.get("class") or "").split():
            self.classes[c] = self.classes.get(c, 0) + 1
        for key in ("src", "href"):
            if (a.get(key) or "").startswith(("http:", "https:", "//")):
                self.external.append(a[key])
        if tag == "table":
            self._table.append(a.get("id") or a.get("class") or "")
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.setdefault(self._table[-1], []).append(self._row)
            self._row = None
        elif tag == "table" and self._table:
            self._table.pop()

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def unsafe_page(tmp_path_factory):
    tenancy = db.generate(db.Scale(), db.policy_actions())
    run = replay_report(V1, UNSAFE, tenancy, requests=20000, floor=2)
    analysis = analyze(merge([RunFile(path="stress.json", report=run)]), load_policy(V1),
                       load_policy(UNSAFE), tenancy, load_rules(RULES))
    loaded = LoadedReport(path="stress.analysis.json", sha256="0" * 64, report=analysis)
    gate = promotion_gate([loaded], drill=Drill(id=3, at="2999-01-01T00:00:00Z", passed=True),
                          signoff="Ada Lovelace")
    page = tmp_path_factory.mktemp("html") / "report.html"
    page.write_text(render_html(analyses=[analysis], gate=gate), encoding="utf-8")
    parsed = _Page()
    parsed.feed(rendered_dom(page))
    return analysis, gate, page, parsed


def test_the_page_is_self_contained(unsafe_page):
    _, _, page, parsed = unsafe_page
    text = page.read_text(encoding="utf-8")
    assert not parsed.external
    assert not re.search(r"<script[^>]+src=", text)


def test_the_promotion_table_is_on_the_page(unsafe_page):
    _, gate, _, parsed = unsafe_page
    shown = parsed.rows["promotion-table"][1:]
    assert [(r[0], r[1], r[2]) for r in shown] == [
        ("☑" if row.holds else "☐", row.name, row.figure) for row in gate.rows]
    assert ["☐", "v2_more_permissive = 0"] == shown[1][:2]


def test_plotly_drew_a_heat_map_per_relation_and_both_latency_histograms(unsafe_page):
    analysis, _, _, parsed = unsafe_page
    relations = {c.relation for c in analysis.cells}
    # Plotly's heat maps are <g class="hm"> layers, bars <g class="trace bars">: present
    # only once the inlined library has run in the page
    assert parsed.classes.get("hm") == len(relations) == 4
    assert parsed.classes.get("bars") == 2
    assert parsed.classes.get("main-svg", 0) >= 2
    assert parsed.classes.get("legendtext") == 2


def test_every_discrepant_cell_with_classification_and_witness(unsafe_page):
    analysis, _, _, parsed = unsafe_page
    rows = parsed.rows["discrepant-cells"][1:]
    assert len(rows) == len(analysis.discrepant_cells)
    for row, cell in zip(rows, analysis.discrepant_cells):
        assert row[:5] == [cell.tenant, cell.role, cell.action, cell.relation, cell.direction]
        assert row[6].startswith(cell.classification or "UNCLASSIFIED")
        if cell.witness:
            assert msgspec.json.decode(row[7]) == cell.witness
    leaks = [r for r in rows if r[4] == "v2_more_permissive"]
    assert leaks and all(r[6] == "UNCLASSIFIED" and r[3] == "other_enterprise" for r in leaks)
