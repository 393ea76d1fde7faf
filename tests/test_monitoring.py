"""The monitoring examples: Prometheus alerting rules checked and unit-tested by promtool
(Debian's `prometheus` package, installed by scripts/test.sh), and a Grafana dashboard
whose every query parses as PromQL and names only the metrics the contract
(docs/design.md, Metrics) fixes and the replay exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

MONITORING = Path("examples/monitoring")
DESIGN = Path("docs/design.md")


def _promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (apt-get install prometheus; scripts/test.sh does)"
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def _design_metrics() -> set[str]:
    section = DESIGN.read_text(encoding="utf-8").split("## Metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(rbac_[a-z0-9_]+)", section))


def _named(expr: str) -> set[str]:
    return {re.sub(r"_bucket$", "", m) for m in re.findall(r"\brbac_[a-z0-9_]+", expr)}


def test_alert_rules_pass_promtool_check():
    done = _promtool("check", "rules", "rbac-alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 4 rules found" in done.stdout


def test_alerts_fire_on_their_series_and_not_on_healthy_traffic():
    done = _promtool("test", "rules", "rbac-alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_and_dashboard_name_only_the_contract_s_metrics(tmp_path):
    known = _design_metrics()
    assert {"rbac_v1_v2_comparison_total", "rbac_v2_latency_seconds"} <= known
    rules = yaml.safe_load((MONITORING / "rbac-alerts.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    assert set(alerts) == {"RBACv2MorePermissive", "RBACAuthorizerErrors",
                           "RBACDiscrepancyRateHigh", "RBACv2LatencyP95OverBudget"}
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set().union(*(_named(e) for e in [*alerts.values(), *exprs]))
    assert used <= known, used - known
    assert used == known  # every metric of the contract is watched somewhere
    # each dashboard query parses as PromQL: promtool checks them as recording rules
    recording = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(recording))
    done = _promtool("check", "rules", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in done.stdout


def test_the_contract_s_metrics_are_the_ones_replay_registers():
    """docs/design.md lives in this repository, so it is checked against the code: the
    metric names it fixes are exactly those the replay's Prometheus registry exports."""
    from prometheus_client import CollectorRegistry

    from policydiff.replay.metrics import Metrics

    registry = CollectorRegistry()
    Metrics(registry=registry, replay=True)
    exported = {m.name + ("_total" if m.type == "counter" else "")
                for m in registry.collect()}
    assert _design_metrics() == exported
