"""The HTML report: one self-contained page a person would rather look at.

The promotion table (when a gate is given), each analysis's stop conditions, a role ×
action heat map of discrepancies per relation, latency histograms of v1 and v2, and each
discrepant cell with its classification and witness. The page is a Jinja2 template
(`templates/report.html.j2`, autoescaped) and the charts are Plotly figures; Plotly's
JavaScript bundle is inlined, so the file opens offline and nothing is fetched.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

from policydiff.analyze import AnalysisReport
from policydiff.promotion_gate import PromotionGate
from policydiff.tenancy import RELATIONS

# no link out of an offline page: the mode bar's Plotly logo is a link to plotly.com
_CONFIG = {"displaylogo": False}
_DIRECTION_SIGN = {"v2_more_permissive": 1, "v2_more_restrictive": -1}


def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("policydiff.report", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _heatmaps(report: AnalysisReport, index: int) -> str:
    """One heat map per relation: rows roles, columns actions, the share of the cell's
    requests that differed (positive where v2 allowed more, negative where less)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    requests: dict[tuple[str, str, str], int] = defaultdict(int)
    differing: dict[tuple[str, str, str], int] = defaultdict(int)
    for c in report.cells:
        requests[(c.relation, c.role, c.action)] += c.requests
    for d in report.discrepant_cells:
        differing[(d.relation, d.role, d.action)] += _DIRECTION_SIGN[d.direction] * d.requests
    roles = sorted({c.role for c in report.cells})
    actions = sorted({c.action for c in report.cells})
    relations = [r for r in RELATIONS if any(k[0] == r for k in requests)]
    fig = make_subplots(rows=1, cols=max(len(relations), 1), shared_yaxes=True,
                        subplot_titles=relations, horizontal_spacing=0.02)
    for i, rel in enumerate(relations, start=1):
        z, text = [], []
        for role in roles:
            zr, tr = [], []
            for action in actions:
                n = requests.get((rel, role, action), 0)
                diff = differing.get((rel, role, action), 0)
                zr.append(diff / n if n else None)
                tr.append(f"{role} {action} on {rel}: {abs(diff)} of {n} requests differ"
                          + ("" if not diff else " (v2 more permissive)" if diff > 0
                             else " (v2 more restrictive)"))
            z.append(zr)
            text.append(tr)
        fig.add_trace(go.Heatmap(z=z, x=actions, y=roles, text=text, hoverinfo="text",
                                 zmin=-1, zmax=1, colorscale="RdBu_r", showscale=i == 1,
                                 colorbar={"title": "share differing"}), row=1, col=i)
    fig.update_layout(height=360, margin={"l": 90, "r": 20, "t": 40, "b": 110},
                      title_text="discrepancies per relation (red: v2 allows more, blue: less)")
    return fig.to_html(full_html=False, include_plotlyjs=False, config=_CONFIG, div_id=f"heatmap-{index}")


def _latency(report: AnalysisReport, index: int) -> str:
    """Requests per latency bucket for v1 and v2 (from the runs' Prometheus histograms)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for side in ("v1", "v2"):
        buckets = report.latency_histograms.get(side, ())
        labels, counts, below = [], [], 0
        for b in buckets:
            labels.append("slower" if b.le is None else f"≤ {b.le * 1000:g} ms")
            counts.append(b.count - below)
            below = b.count
        fig.add_trace(go.Bar(x=labels, y=counts, name=f"{side} (p95 "
                             f"{getattr(report.latency_ms, side).p95:.3f} ms)"))
    fig.update_layout(barmode="group", height=320, title_text="decision latency",
                      xaxis_title="bucket", yaxis_title="requests",
                      margin={"l": 60, "r": 20, "t": 40, "b": 60})
    return fig.to_html(full_html=False, include_plotlyjs=False, config=_CONFIG, div_id=f"latency-{index}")


def render_html(*, analyses: Sequence[AnalysisReport], gate: PromotionGate | None = None,
                title: str = "policydiff: RBACv2 promotion") -> str:
    from plotly.offline import get_plotlyjs

    sections = []
    for i, a in enumerate(analyses):
        sections.append({
            "report": a,
            "heatmap": _heatmaps(a, i),
            "latency": _latency(a, i),
            "cells": [{"cell": d, "witness": json.dumps(d.witness, indent=1) if d.witness else ""}
                      for d in a.discrepant_cells],
        })
    template = _environment().get_template("report.html.j2")
    return template.render(title=title, gate=gate, sections=sections, plotlyjs=get_plotlyjs())
