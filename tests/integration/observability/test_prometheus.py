"""A real Prometheus scrapes a live operator's /metrics while targets dispatch, succeed, then fail (on kwok
nodes). Then every PromQL expression of the dashboard and of the alert rules runs through Prometheus' HTTP
API and returns data of the expected shape (a panel whose query returns nothing fails), and alerts go
pending, then firing, read from /api/v1/alerts. The rules are the chart's, with `for:` shortened.

With SCOUTLY_DASHBOARD_PNG=<path> (`make dashboard-png`) it also draws the dashboard from the series this
Prometheus holds: the picture in docs/metrics.md."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.kube.client import KubeClient
from scoutly.testing.procs import free_port
from scoutly.testing.prometheus import Prometheus, ScrapeJob
from scoutly.testing.wait import eventually
from tests import appdata
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import create_target
from tests.unit.test_dashboard import ALERTS, DASHBOARD

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]

# the labels a ServiceMonitor scrape of the default install gives (ScoutlyOperatorDown's selector)
JOB, NAMESPACE = "scoutly-operator-metrics", "scoutly-system"
SUMMARY = {
    "postingsFound": 40,
    "postingsNew": 6,
    "matches": 2,
    "tokens": {"prompt": 900, "completion": 100, "cached": 50},
    "model": "gpt-4o-mini",
    "quality": {
        "source": "greenhouse",
        "rows": 40,
        "missingLocation": 12,
        "missingDate": 3,
        "jumps": [{"field": "location", "before": 0.05, "after": 0.3}],
    },
}
BUDGET = 2500  # daily tokens: three successful runs (1,000 each) pass 80%
COMPARISONS = {">", "<", ">=", "<=", "==", "!="}
SET_OPS = {"and", "or", "unless"}


def grafana(expr: str) -> str:
    """A panel's query as Grafana sends it with every variable on "All" ($__rate_interval for a 1 s scrape)."""
    for var, value in {
        "$__rate_interval": "1m",
        "$cluster": ".*",
        "$namespace": ".*",
        "$job": ".*",
    }.items():
        expr = expr.replace(var, value)
    return expr


def operands(expr: str) -> list[tuple[str, bool]]:
    """The signals an alert compares, each with whether it must return data now: set operators and
    comparisons are taken apart (their result is empty until the alert fires, by design), number
    literals dropped; `absent(...)` must return nothing while the operator is scraped."""
    out: list[tuple[str, bool]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.ParenExpr):
            visit(node.expr)
        elif isinstance(node, promql_parser.BinaryExpr) and str(node.op) in SET_OPS | COMPARISONS:
            for side in (node.lhs, node.rhs):
                if not isinstance(side, promql_parser.NumberLiteral):
                    visit(side)
        elif isinstance(node, promql_parser.Call) and node.func.name == "absent":
            out.append((str(node), False))
        else:
            out.append((str(node), True))

    visit(promql_parser.parse(expr))
    return out


def finite(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(r["value"][1])) for r in result)


def fast_rules(path: Path) -> Path:
    """The chart's rule file with every `for:` at 3 s: same expressions, alerts observable in seconds."""
    doc = yaml.safe_load(ALERTS.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["for"] = "3s"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
async def prometheus(tmp_path: Path) -> AsyncIterator[Callable[..., Prometheus]]:
    started: list[Prometheus] = []

    def start(**kw: Any) -> Prometheus:
        started.append(Prometheus(tmp_path / "prometheus", **kw).start())
        return started[-1]

    yield start
    for p in started:
        p.stop()


async def test_real_prometheus_runs_every_dashboard_and_alert_query(
    kube: KubeClient,
    namespace: str,
    start_operator: OperatorFactory,
    prometheus: Callable[..., Prometheus],
    tmp_path: Path,
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    port = free_port()
    prom = prometheus(
        jobs=[ScrapeJob(JOB, [f"127.0.0.1:{port}"], {"namespace": NAMESPACE})],
        rule_files=[fast_rules(tmp_path / "rules.yaml")],
        interval="1s",
    )
    started = time.time()

    async def value(expr: str) -> float:
        result = (await prom.query(expr))["result"]
        return float(result[0]["value"][1]) if result else 0.0

    # 1. targets dispatch and succeed (the scrape reports postings, tokens, a posting-quality jump)
    ok = json.dumps({"scoutly.io/kwok-duration": "300ms", "scoutly.io/kwok-message": json.dumps(SUMMARY)})
    first = await start_operator(metrics_port=port, llm_daily_token_budget=BUDGET, extra_pod_annotations=ok)
    for name in ("prom-a", "prom-b"):  # companies of the app: their Jobs are mirrored into jobqueues
        company = appdata.company(name, name.title(), f"https://boards.greenhouse.io/{name}")
        await mongo_db["companies"].insert_one(company)
        await create_target(kube, namespace, name, rank=95, cooldown="4s", companyId=str(company["_id"]))
    succeeded = 'sum(increase(scoutly_jobs_finished_total{result="succeeded"}[10m]))'
    await eventually(
        lambda: _at_least(value, succeeded, 3), timeout=90, what="3 successes seen by Prometheus"
    )
    await first.stop()

    # 2. the same targets now fail (a second operator on the same port: the registry and its counters live on)
    bad = json.dumps({"scoutly.io/kwok-duration": "200ms", "scoutly.io/kwok-exit-code": "1"})
    await start_operator(
        metrics_port=port, llm_daily_token_budget=BUDGET, extra_pod_annotations=bad, backoff_base="1s"
    )

    # 3. ScoutlyScrapesFailing goes pending, then firing, with its labels and rendered annotations
    seen: list[str] = []

    async def firing() -> dict[str, Any] | None:
        for a in await prom.alerts():
            if a["labels"]["alertname"] == "ScoutlyScrapesFailing":
                if not seen or seen[-1] != a["state"]:
                    seen.append(a["state"])
                if a["state"] == "firing":
                    return a
        return None

    alert = await eventually(firing, timeout=120, interval=0.2, what="ScoutlyScrapesFailing firing")
    assert seen[:2] == ["pending", "firing"], seen
    assert alert["labels"] == {
        "alertname": "ScoutlyScrapesFailing",
        "severity": "warning",
        "namespace": NAMESPACE,
        "job": JOB,
    }
    ratio = float(alert["value"])
    assert 0.5 < ratio <= 1
    assert alert["annotations"]["description"].startswith(
        f"{ratio * 100:.4g}% of the scrape Jobs of {NAMESPACE}/{JOB} that finished in the last hour failed."
    )
    assert alert["annotations"]["runbook_url"].endswith("#scoutlyscrapesfailing")

    # the token budget alert fired from the chart-configured budget, and the always-failing targets
    # reach the 5-in-a-row alert
    async def states() -> dict[str, str]:
        return {a["labels"]["alertname"]: a["state"] for a in await prom.alerts()}

    async def both_firing() -> dict[str, str] | None:
        s = await states()
        wanted = ("ScoutlyTokenBudgetNearlyExhausted", "ScoutlyTargetsFailingRepeatedly")
        return s if all(s.get(w) == "firing" for w in wanted) else None

    fired = await eventually(both_firing, timeout=120, what="token-budget and failing-repeatedly alerts")
    # nothing stalled, nothing down: these stay silent on a healthy operator
    for quiet in ("ScoutlyOperatorDown", "ScoutlyOperatorNotReconciling", "ScoutlyOperatorNotReady"):
        assert quiet not in fired, fired

    # 4. every expression: the rules whole (valid, instant vectors) and each signal they compare (data
    # now), and every dashboard query as Grafana sends it (data, and a number, not only NaN)
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    panel_queries = [
        (p["title"], grafana(t["expr"])) for p in dashboard["panels"] for t in p.get("targets", [])
    ]
    assert len(panel_queries) >= 30 and len(rules) >= 11

    async def shortfalls() -> list[str]:
        bad: list[str] = []
        for rule in rules:
            data = await prom.query(rule["expr"])
            if data["resultType"] != "vector":
                bad.append(f"{rule['alert']}: {data['resultType']}")
            for part, wants_data in operands(rule["expr"]):
                result = (await prom.query(part))["result"]
                if bool(result) != wants_data:
                    bad.append(f"{rule['alert']}: {part} returned {result!r}")
        for title, expr in panel_queries:
            data = await prom.query(expr)
            if not data["result"] or (data["resultType"] == "vector" and not finite(data["result"])):
                bad.append(f"panel {title!r}: {expr} returned {data['result']!r}")
        return bad

    # a subquery such as deriv(...[30m:1m]) has two points only after two whole minutes of data
    last: list[str] = []

    async def all_answer() -> bool:
        last[:] = await shortfalls()
        return not last

    try:
        await eventually(all_answer, timeout=180, interval=2, what="every query answering")
    except Exception:
        raise AssertionError("queries without the expected data:\n" + "\n".join(last)) from None

    if os.environ.get("SCOUTLY_DASHBOARD_PNG"):
        await _draw(prom, dashboard, Path(os.environ["SCOUTLY_DASHBOARD_PNG"]), since=started)


async def _at_least(value: Callable[[str], Any], expr: str, n: float) -> bool:
    return bool(await value(expr) >= n)


async def _draw(prom: Prometheus, dashboard: dict[str, Any], path: Path, *, since: float) -> None:
    from tests.integration.observability.dashboard_png import Panel, render, series_of

    end = time.time()
    step = max(1.0, (end - since) / 240)
    panels: list[Panel] = []
    for p in dashboard["panels"]:
        unit = ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        panel = Panel(p["title"], p["type"], p["gridPos"], unit)
        for t in p.get("targets", []):
            data = await prom.api(
                "query_range", query=grafana(t["expr"]), start=str(since), end=str(end), step=str(step)
            )
            panel.series += series_of(data["result"], t.get("legendFormat"))
        panels.append(panel)
    render(
        panels, path, title=f"{dashboard['title']} — series from a real Prometheus scraping a live operator"
    )
