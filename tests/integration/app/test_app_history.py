"""The controller on the app's data: targets take their history from `companies.lastSuccessfulScrape`,
targets naming one company are one company (one active scrape at a time, as the app's own guard), and a
failed scrape's own reason reaches the target's Failing condition, its Warning Event and
`jobqueues.errorMessage`."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.controller.jobs import parse_time
from scoutly.kube.client import KubeClient, ns_path
from scoutly.testing.wait import eventually
from tests import appdata
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import condition, create_target, get_target, jobs_of

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]
DB = AsyncDatabase[dict[str, Any]]
H = timedelta(hours=1)
ACTIVE = {"$in": ["pending", "processing"]}


async def test_a_target_takes_its_last_scrape_from_its_company(
    kube: KubeClient, namespace: str, mongo_db: DB, start_operator: OperatorFactory
) -> None:
    """Named by `companyID` slug, created while the operator runs: scraped by the app 2 h ago at rank 95,
    so not due for 10 h; a company never scraped is due at once."""
    scraped = appdata.company(
        "acme", "Acme", "https://boards.greenhouse.io/acme", last_scrape=datetime.now(UTC) - 2 * H
    )
    fresh = appdata.company("globex", "Globex", "https://boards.greenhouse.io/globex")
    await mongo_db["companies"].insert_many([scraped, fresh])
    await start_operator(company_poll_interval="1s")
    await create_target(kube, namespace, "acme", companyId="acme", rank=95)
    await create_target(kube, namespace, "globex", companyId="globex", rank=95)

    async def history_shown() -> dict[str, Any] | None:
        st = (await get_target(kube, namespace, "acme")).get("status") or {}
        return st if st.get("nextScrapeTime") else None

    st = await eventually(history_shown, timeout=30, what="acme's status from its company")
    last = parse_time(st["lastSuccessfulScrape"])
    assert last == scraped["lastSuccessfulScrape"].replace(microsecond=0)
    assert parse_time(st["nextScrapeTime"]) == last + 12 * H
    await eventually(lambda: _has_jobs(kube, namespace, "globex"), timeout=30, what="globex dispatched")
    assert await jobs_of(kube, namespace, "acme") == []


async def _has_jobs(kube: KubeClient, namespace: str, target: str) -> bool:
    return bool(await jobs_of(kube, namespace, target))


async def test_targets_naming_one_company_never_scrape_it_at_once(
    kube: KubeClient, namespace: str, mongo_db: DB, start_operator: OperatorFactory
) -> None:
    """Three hand-made targets for one company (by `_id` twice, by slug once), all due: one Job at a time,
    highest rank first; the app never sees two active queue documents for the company; each target keeps
    its own schedule (all three run once, none is skipped because another scraped the company)."""
    acme = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
    await mongo_db["companies"].insert_one(acme)
    await start_operator(extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "1500ms"}))
    await create_target(kube, namespace, "acme-gh", companyId=str(acme["_id"]), rank=60, cooldown="1h")
    await create_target(
        kube, namespace, "acme-wd", companyId=str(acme["_id"]), rank=90, cooldown="1h",
        url="https://acme.wd3.myworkdayjobs.com/en-US/External",
    )  # fmt: skip
    await create_target(kube, namespace, "acme-slug", companyId="acme", rank=30, cooldown="1h")

    most_active: list[int] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            most_active.append(
                await mongo_db["jobqueues"].count_documents({"companyId": acme["_id"], "status": ACTIVE})
            )
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    try:

        async def three_done() -> list[dict[str, Any]] | None:
            jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
            return jobs if len(jobs) == 3 and all(condition(j, "Complete") for j in jobs) else None

        jobs = await eventually(three_done, timeout=90, what="each of the three targets scraped once")
    finally:
        stop.set()
        await sampler
    intervals = sorted(
        (
            (parse_time(j["metadata"]["creationTimestamp"]), parse_time(j["status"]["completionTime"]), j)
            for j in jobs
        ),
        key=lambda i: i[0] or datetime.min.replace(tzinfo=UTC),
    )
    for (_, end, _), (start, _, _) in itertools.pairwise(intervals):
        assert end is not None and start is not None and start >= end  # one after the other
    order = [j["metadata"]["labels"]["scoutly.io/target"] for _, _, j in intervals]
    assert order == ["acme-wd", "acme-gh", "acme-slug"]  # by rank
    assert most_active and max(most_active) == 1
    docs = await mongo_db["jobqueues"].find({"companyId": acme["_id"]}).to_list()
    assert len(docs) == 3 and appdata.validate_all("jobqueues", docs) == []


async def test_the_scrapes_own_reason_is_visible_everywhere(
    kube: KubeClient, namespace: str, mongo_db: DB, start_operator: OperatorFactory
) -> None:
    reason = "greenhouse source failed: HTTP 503 (https://boards-api.greenhouse.io/v1/boards/acme/jobs)"
    summary = {"postingsFound": 0, "errors": ["HTTP 503"], "message": reason}
    acme = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
    await mongo_db["companies"].insert_one(acme)
    await start_operator(
        backoff_base="1h",
        extra_pod_annotations=json.dumps(
            {
                "scoutly.io/kwok-duration": "200ms",
                "scoutly.io/kwok-exit-code": "1",
                "scoutly.io/kwok-message": json.dumps(summary),
            }
        ),
    )
    await create_target(
        kube, namespace, "acme", companyId=str(acme["_id"]), cooldown="1h", jobTemplate={"backoffLimit": 0}
    )

    async def failed() -> dict[str, Any] | None:
        t = await get_target(kube, namespace, "acme")
        return t if (t.get("status") or {}).get("phase") == "Failed" else None

    status = (await eventually(failed, timeout=60, what="phase Failed"))["status"]
    failing = next(c for c in status["conditions"] if c["type"] == "Failing")
    assert failing["status"] == "True" and failing["reason"] == "BackoffLimitExceeded"
    assert "HTTP 503" in failing["message"] and "1 consecutive failures" in failing["message"]
    assert status["lastJob"]["message"] == reason

    async def warning() -> dict[str, Any] | None:
        items = (
            await kube.get(ns_path("v1", namespace, "events"), fieldSelector="involvedObject.name=acme")
        )["items"]
        return next((e for e in items if e["reason"] == "ScrapeFailed"), None)

    event = await eventually(warning, what="the ScrapeFailed Event")
    assert event["type"] == "Warning" and reason in event["message"]

    async def recorded() -> dict[str, Any] | None:
        return await mongo_db["jobqueues"].find_one({"companyId": acme["_id"], "status": "failed"})

    doc = await eventually(recorded, what="jobqueues failed")
    assert doc["errorMessage"] == reason and doc["reason"] == "BackoffLimitExceeded"
    assert appdata.validate_all("jobqueues", [doc]) == []
    company = await mongo_db["companies"].find_one({"_id": acme["_id"]})
    assert company == acme  # a failure is no scrape: lastSuccessfulScrape does not move
