"""A scrape whose run summary reports a posting-quality jump moves the per-source counters and puts a
warning Event on its ScrapeTarget; a summary without a jump only counts (the operator reads the summary
from the scrape container's termination message, here written by kwok)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from scoutly.kube.client import KubeClient, ns_path
from scoutly.testing.procs import free_port
from scoutly.testing.wait import eventually
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import create_target
from tests.integration.observability.test_metrics import phase, scrape, value

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]


def summary(jumps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "postingsFound": 40,
        "quality": {
            "source": "workday",
            "rows": 40,
            "missingTitle": 0,
            "missingUrl": 1,
            "missingLocation": 30,
            "missingDate": 2,
            "jumps": jumps,
        },
    }


async def ready(port: int) -> bool:
    try:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/readyz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


async def quality_events(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    events = (await kube.get(ns_path("v1", namespace, "events"))).get("items", [])
    return [
        e
        for e in events
        if e.get("reason") == "PostingQualityDropped" and e["involvedObject"]["name"] == name
    ]


@pytest.mark.parametrize("jumped", [True, False], ids=["jump", "steady"])
async def test_quality_jump_is_a_metric_and_a_warning_event(
    kube: KubeClient, namespace: str, start_operator: OperatorFactory, jumped: bool
) -> None:
    jumps = [{"field": "location", "before": 0.05, "after": 0.75}] if jumped else []
    port = free_port()
    await start_operator(
        metrics_port=port,
        extra_pod_annotations=json.dumps(
            {"scoutly.io/kwok-duration": "200ms", "scoutly.io/kwok-message": json.dumps(summary(jumps))}
        ),
    )
    await eventually(lambda: ready(port), timeout=30, what="operator ready")
    _, before = await scrape(port)
    await create_target(kube, namespace, "quality", rank=95)
    await eventually(lambda: phase(kube, namespace, "quality", "Succeeded"), timeout=60, what="Succeeded")

    async def counted() -> Any:
        _, now = await scrape(port)
        return (
            now
            if value(now, "scoutly_posting_rows_total", source="workday")
            > value(before, "scoutly_posting_rows_total", source="workday")
            else None
        )

    after = await eventually(counted, timeout=30, what="posting rows counted")

    def delta(metric: str, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    assert delta("scoutly_posting_rows_total", source="workday") == 40
    assert delta("scoutly_postings_missing_total", source="workday", field="location") == 30
    assert delta("scoutly_postings_missing_total", source="workday", field="url") == 1
    assert delta("scoutly_postings_missing_total", source="workday", field="date") == 2
    assert delta("scoutly_posting_quality_jumps_total", source="workday", field="location") == (
        1 if jumped else 0
    )
    if jumped:
        events = await eventually(
            lambda: quality_events(kube, namespace, "quality"), timeout=30, what="quality Event"
        )
        assert events[0]["type"] == "Warning"
        assert "lacking a location: 5% -> 75%" in events[0]["message"]
    else:
        assert await quality_events(kube, namespace, "quality") == []
