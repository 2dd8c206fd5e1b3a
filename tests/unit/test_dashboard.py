"""The Grafana dashboard and the alert rules: every PromQL expression parses (promql-parser, the Rust
PromQL parser) and names only metrics the operator's registry exports; every alert has a runbook; every
metric is documented. The live counterpart is tests/integration/observability/test_metrics.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from scoutly import metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "charts/scoutly-operator/dashboards/scoutly.json"
ALERTS = ROOT / "charts/scoutly-operator/rules/alerts.yaml"
GRAFANA_VARS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1d",
    "$cluster": ".*",
    "$namespace": ".*",
    "$job": ".*",
}


def dashboard_exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [r for g in groups for r in g["rules"]]


def all_exprs() -> list[tuple[str, str]]:
    return dashboard_exprs() + [(r["alert"], r["expr"]) for r in alert_rules()]


def metric_names(expr: str) -> set[str]:
    """Names of every selector in a PromQL expression (Grafana's variables replaced first)."""
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"selector without a metric name in {expr!r}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def exported_names(families: Any) -> set[str]:
    """Sample names a registry's (or an exposition's) families produce, whether or not a labelled
    series has been observed yet."""
    out: set[str] = set()
    for fam in families:
        name, kind = fam.name, fam.type
        if kind == "counter":
            out |= {f"{name}_total", f"{name}_created"}
        elif kind == "histogram":
            out |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
        elif kind == "info":
            out.add(f"{name}_info")
        else:
            out.add(name)
        out |= {s.name for s in fam.samples}
    return out


def test_every_expression_parses_and_names_exported_metrics() -> None:
    exported = exported_names(metrics.REGISTRY.collect()) | {"up"}  # `up`: Prometheus' own, per scrape
    exprs = all_exprs()
    assert len(exprs) >= 25
    for title, expr in exprs:
        unknown = metric_names(expr) - exported
        assert not unknown, f"{title}: {expr!r} names metrics the operator does not export: {unknown}"


def test_dashboard_covers_the_issue_and_lays_out_cleanly() -> None:
    dash = json.loads(DASHBOARD.read_text())
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for p in panels:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["targets"], p["title"]
            assert p["datasource"]["uid"] == "${datasource}"
    # panels may not overlap
    cells: set[tuple[int, int]] = set()
    for p in panels:
        pos = p["gridPos"]
        own = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not own & cells, f"{p['title']} overlaps another panel"
        cells |= own
    used = {n for _, e in dashboard_exprs() for n in metric_names(e)}
    for wanted in (
        "scoutly_jobqueue_documents",
        "scoutly_dispatch_lag_seconds_bucket",
        "scoutly_jobs_finished_total",
        "scoutly_job_duration_seconds_bucket",
        "scoutly_targets",
        "scoutly_targets_overdue",
        "scoutly_llm_tokens_total",
        "scoutly_matches_total",
        "scoutly_operator_ready",
        "scoutly_reconcile_errors_total",
        "scoutly_dispatcher_heartbeat_timestamp_seconds",
        "scoutly_targets_consecutive_failures",
    ):
        assert wanted in used, f"no panel shows {wanted}"
    assert [v["name"] for v in dash["templating"]["list"]] == ["datasource", "cluster", "namespace", "job"]
    # every query is scoped by all three (a multi-cluster Prometheus or Thanos holds several installs)
    for title, expr in dashboard_exprs():
        for var in ("cluster", "namespace", "job"):
            assert expr.count(f'{var}=~"${var}"') == expr.count("scoutly_") + expr.count("process_"), (
                title,
                var,
            )


def test_alerts_have_severity_duration_and_a_runbook_section() -> None:
    runbooks = (ROOT / "docs/runbooks.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", runbooks, flags=re.M)
    }
    rules = alert_rules()
    names = {r["alert"] for r in rules}
    for wanted in (
        "ScoutlyScrapesFailing",
        "ScoutlyQueueBacklogGrowing",
        "ScoutlyTargetsOverdue",
        "ScoutlyOperatorDown",
        "ScoutlyOperatorNotReconciling",
        "ScoutlyTokenBudgetNearlyExhausted",
        "ScoutlyTargetsFailingRepeatedly",
    ):
        assert wanted in names
    for r in rules:
        assert r["labels"]["severity"] in {"warning", "critical"}, r["alert"]
        assert r["for"], r["alert"]
        anchor = r["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == r["alert"].lower() and anchor in anchors, f"{r['alert']}: no runbook section"


@pytest.mark.parametrize("doc", ["docs/metrics.md"])
def test_every_metric_is_documented(doc: str) -> None:
    text = (ROOT / doc).read_text()
    for fam in metrics.REGISTRY.collect():
        if fam.name.startswith("scoutly_"):
            name = {"counter": f"{fam.name}_total", "info": f"{fam.name}_info"}.get(fam.type, fam.name)
            assert f"`{name}`" in text, f"{name} is not documented in {doc}"
