"""Metrics move as the scenarios run (read from a live operator's /metrics over HTTP), the probes
answer, and every metric the dashboard and the alerts reference is in the live exposition."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scoutly.kube.client import KubeClient
from scoutly.testing.procs import free_port
from scoutly.testing.wait import eventually
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import create_target, get_target
from tests.unit.test_dashboard import all_exprs, exported_names, metric_names

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]

SUMMARY = {
    "postingsFound": 12,
    "postingsNew": 5,
    "matches": 3,
    "tokens": {"prompt": 900, "completion": 100, "cached": 7},
    "model": "gpt-obs-test",
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int) -> tuple[str, Samples]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        assert r.status == 200
        text = await r.text()
    samples: Samples = {}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            samples[(smp.name, frozenset(smp.labels.items()))] = smp.value
    return text, samples


def value(samples: Samples, metric: str, **labels: str) -> float:
    return samples.get((metric, frozenset(labels.items())), 0.0)


async def probe(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.text()


async def phase(kube: KubeClient, namespace: str, name: str, want: str) -> dict[str, Any] | None:
    t = await get_target(kube, namespace, name)
    return t if (t.get("status") or {}).get("phase") == want else None


async def test_metrics_follow_the_scenarios_and_cover_dashboard_and_alerts(
    kube: KubeClient, namespace: str, start_operator: OperatorFactory
) -> None:
    port = free_port()
    first = await start_operator(
        metrics_port=port,
        metrics_per_target=True,
        llm_daily_token_budget=1_000_000,
        extra_pod_annotations=json.dumps(
            {"scoutly.io/kwok-duration": "300ms", "scoutly.io/kwok-message": json.dumps(SUMMARY)}
        ),
    )
    await eventually(lambda: _status_is(port, "/metrics", 200), timeout=30, what="/metrics served")
    _, before = await scrape(port)

    await eventually(
        lambda: _status_is(port, "/readyz", 200), timeout=30, what="/readyz 200 once the watch runs"
    )
    assert (await probe(port, "/healthz"))[0] == 200

    await create_target(kube, namespace, "obs-ok", rank=95)
    await eventually(
        lambda: phase(kube, namespace, "obs-ok", "Succeeded"), timeout=60, what="obs-ok Succeeded"
    )

    async def counted() -> Samples | None:
        _, now = await scrape(port)
        done = value(now, "scoutly_jobs_finished_total", result="succeeded", reason="Completed")
        return (
            now
            if done > value(before, "scoutly_jobs_finished_total", result="succeeded", reason="Completed")
            else None
        )

    after = await eventually(counted, timeout=30, what="jobs_finished{succeeded} moved")

    def delta(metric: str, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    assert delta("scoutly_jobs_created_total", trigger="schedule") == 1
    assert delta("scoutly_dispatch_lag_seconds_count") == 1
    assert delta("scoutly_job_duration_seconds_count", result="succeeded") == 1
    assert delta("scoutly_postings_total", kind="found") == 12
    assert delta("scoutly_postings_total", kind="new") == 5
    assert delta("scoutly_matches_total") == 3
    assert delta("scoutly_llm_tokens_total", model="gpt-obs-test", kind="prompt") == 900
    assert delta("scoutly_llm_tokens_total", model="gpt-obs-test", kind="cached") == 7
    assert value(after, "scoutly_operator_ready") == 1
    assert value(after, "scoutly_llm_token_budget_daily") == 1_000_000
    assert (
        value(after, "scoutly_target_last_success_timestamp_seconds", namespace=namespace, name="obs-ok") > 0
    )
    assert value(after, "scoutly_build_info", version=__import__("scoutly").__version__) == 1

    # every metric the dashboard and the alerts name is in the live exposition
    text, _ = await scrape(port)
    live = exported_names(text_string_to_metric_families(text)) | {"up"}  # `up`: Prometheus' own, per scrape
    for title, expr in all_exprs():
        missing = metric_names(expr) - live
        assert not missing, f"{title}: {missing} not on the live /metrics"

    await first.stop()

    # a failing scrape moves the failure counter with its reason
    port2 = free_port()
    await start_operator(
        metrics_port=port2,
        extra_pod_annotations=json.dumps(
            {"scoutly.io/kwok-duration": "200ms", "scoutly.io/kwok-exit-code": "1"}
        ),
    )
    await eventually(lambda: _status_is(port2, "/readyz", 200), timeout=30, what="second operator ready")
    _, before2 = await scrape(port2)
    await create_target(kube, namespace, "obs-bad", cooldown="1h", jobTemplate={"backoffLimit": 0})
    await eventually(lambda: phase(kube, namespace, "obs-bad", "Failed"), timeout=60, what="obs-bad Failed")

    async def failed() -> bool:
        _, now = await scrape(port2)
        labels = {"result": "failed", "reason": "BackoffLimitExceeded"}
        return value(now, "scoutly_jobs_finished_total", **labels) > value(
            before2, "scoutly_jobs_finished_total", **labels
        )

    await eventually(failed, timeout=30, what="jobs_finished{failed,BackoffLimitExceeded} moved")
    _, end = await scrape(port2)
    assert value(end, "scoutly_job_duration_seconds_count", result="failed") > value(
        before2, "scoutly_job_duration_seconds_count", result="failed"
    )


async def _status_is(port: int, path: str, status: int) -> bool:
    try:
        return (await probe(port, path))[0] == status
    except aiohttp.ClientError:
        return False
