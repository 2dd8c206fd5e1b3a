"""Failure/backoff, bursts, restarts, suspend, manual trigger, deletion, cap and history limits."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.controller.jobs import parse_time
from scoutly.kube.client import ApiError, KubeClient, ns_path
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import (
    ST,
    company_id,
    condition,
    create_target,
    created,
    get_target,
    jobs_of,
    patch_target,
    target_body,
)

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]


async def phase_is(kube: KubeClient, ns: str, name: str, phase: str) -> dict[str, Any] | None:
    t = await get_target(kube, ns, name)
    return t if (t.get("status") or {}).get("phase") == phase else None


async def test_failed_job_sets_failed_and_retries_with_backoff(
    kube: KubeClient, namespace: str, mongo_db: AsyncDatabase[dict[str, Any]], start_operator: OperatorFactory
) -> None:
    await start_operator(
        backoff_base="3s",
        extra_pod_annotations=json.dumps(
            {"scoutly.io/kwok-duration": "200ms", "scoutly.io/kwok-exit-code": "1"}
        ),
    )
    await create_target(
        kube, namespace, "broken", cooldown="1h", jobTemplate={"backoffLimit": 0}, companyId=company_id()
    )
    target = await eventually(
        lambda: phase_is(kube, namespace, "broken", "Failed"), timeout=60, what="phase Failed"
    )
    status = target["status"]
    assert status["consecutiveFailures"] == 1
    assert status["lastJob"]["result"] == "Failed"
    assert status["lastJob"]["reason"] == "BackoffLimitExceeded"
    failing = next(c for c in status["conditions"] if c["type"] == "Failing")
    assert failing["status"] == "True"
    failed_at = parse_time(status["lastFailureTime"])
    assert failed_at is not None
    # retried after the backoff (3s), not on the next tick and not after the 1h cooldown
    assert parse_time(status["nextScrapeTime"]) == failed_at + timedelta(seconds=3)

    async def two_failures() -> dict[str, Any] | None:
        t = await get_target(kube, namespace, "broken")
        return t if (t.get("status") or {}).get("consecutiveFailures", 0) >= 2 else None

    target = await eventually(two_failures, timeout=60, what="second failure")
    jobs = await jobs_of(kube, namespace, "broken")
    # history limit for failed Jobs is 1: the older failed Job is cleaned up eventually
    assert all(condition(j, "Failed") for j in jobs)
    second_failed = parse_time(target["status"]["lastFailureTime"])
    assert second_failed is not None
    # the second backoff doubles
    assert parse_time(target["status"]["nextScrapeTime"]) == second_failed + timedelta(seconds=6)
    docs = await mongo_db["jobqueues"].find({"target": f"{namespace}/broken"}).to_list()
    assert len(docs) == 2
    assert {d["status"] for d in docs} == {"failed"}
    assert {d["reason"] for d in docs} == {"BackoffLimitExceeded"}
    assert all("BackoffLimitExceeded" in d["errorMessage"] for d in docs)  # no run summary: the Job's reason


async def test_no_second_job_while_one_runs_even_under_a_burst_of_updates(
    kube: KubeClient, namespace: str, start_operator: OperatorFactory
) -> None:
    await start_operator(extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "4s"}))
    await create_target(kube, namespace, "busy", cooldown="1s")
    await eventually(lambda: phase_is(kube, namespace, "busy", "Running"), timeout=30, what="Running")
    for i in range(20):  # rank and cooldown edits, each a new generation and a new due time
        await patch_target(kube, namespace, "busy", {"spec": {"rank": i * 5, "cooldown": f"{1 + i % 3}s"}})
    jobs = await jobs_of(kube, namespace, "busy")
    assert len(jobs) == 1
    await eventually(lambda: phase_is(kube, namespace, "busy", "Succeeded"), timeout=30, what="Succeeded")

    async def second() -> list[dict[str, Any]] | None:
        jobs = await jobs_of(kube, namespace, "busy")
        return jobs if len(jobs) >= 2 else None

    jobs = await eventually(second, timeout=30, what="next Job after the first finished")
    first_done = parse_time(jobs[0]["status"]["completionTime"])
    assert first_done is not None
    assert created(jobs[1]) >= first_done  # never overlapping


async def test_restart_mid_flight_creates_no_duplicate_and_loses_no_outcome(
    kube: KubeClient, namespace: str, mongo_db: AsyncDatabase[dict[str, Any]], start_operator: OperatorFactory
) -> None:
    first = await start_operator(extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "3s"}))
    await create_target(kube, namespace, "restart", cooldown="1h", companyId=company_id())
    await eventually(lambda: phase_is(kube, namespace, "restart", "Running"), timeout=30, what="Running")
    await first.crash()
    jobs = await jobs_of(kube, namespace, "restart")
    assert len(jobs) == 1
    name = jobs[0]["metadata"]["name"]

    async def complete_while_down() -> bool:
        return condition((await jobs_of(kube, namespace, "restart"))[0], "Complete")

    await eventually(complete_while_down, timeout=30, what="Job Complete while the operator is down")
    await start_operator()
    target = await eventually(
        lambda: phase_is(kube, namespace, "restart", "Succeeded"),
        timeout=30,
        what="outcome recorded after restart",
    )
    assert target["status"]["lastJob"]["name"] == name
    doc = await eventually(
        lambda: mongo_db["jobqueues"].find_one({"jobName": name, "status": "completed"}),
        what="jobqueues completed",
    )
    assert doc["jobName"] == name
    jobs = await jobs_of(kube, namespace, "restart")
    assert [j["metadata"]["name"] for j in jobs] == [name]  # no duplicate


async def test_suspend_and_resume(kube: KubeClient, namespace: str, start_operator: OperatorFactory) -> None:
    await start_operator()
    await create_target(kube, namespace, "paused", suspend=True)
    target = await eventually(
        lambda: phase_is(kube, namespace, "paused", "Suspended"), timeout=30, what="Suspended"
    )
    assert target["status"].get("nextScrapeTime") is None
    assert await jobs_of(kube, namespace, "paused") == []
    await patch_target(kube, namespace, "paused", {"spec": {"suspend": False}})
    await eventually(lambda: phase_is(kube, namespace, "paused", "Succeeded"), timeout=30, what="resumed run")
    assert len(await jobs_of(kube, namespace, "paused")) == 1


async def test_manual_trigger_runs_once_per_token(
    kube: KubeClient, namespace: str, start_operator: OperatorFactory
) -> None:
    await start_operator()
    await create_target(kube, namespace, "manual", cooldown="1h")
    await eventually(lambda: phase_is(kube, namespace, "manual", "Succeeded"), timeout=30, what="first run")
    await patch_target(
        kube, namespace, "manual", {"metadata": {"annotations": {"scoutly.io/scrape-now": "t1"}}}
    )

    async def two_done() -> list[dict[str, Any]] | None:
        jobs = await jobs_of(kube, namespace, "manual")
        return jobs if len(jobs) == 2 and all(condition(j, "Complete") for j in jobs) else None

    jobs = await eventually(two_done, timeout=30, what="manual run")
    assert jobs[1]["metadata"]["name"].startswith("manual-m")
    assert jobs[1]["metadata"]["annotations"]["scoutly.io/manual-trigger"] == "t1"
    target = await eventually(lambda: phase_is(kube, namespace, "manual", "Succeeded"), what="recorded")
    assert target["status"]["lastManualTrigger"] == "t1"
    # the same token again is already handled: an unrelated edit brings no third Job
    await patch_target(kube, namespace, "manual", {"spec": {"rank": 60}})
    target = await eventually(
        lambda: _observed(kube, namespace, "manual"), what="the edit observed by the controller"
    )
    assert len(await jobs_of(kube, namespace, "manual")) == 2


async def _observed(kube: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    t = await get_target(kube, namespace, name)
    return t if (t.get("status") or {}).get("observedGeneration") == t["metadata"]["generation"] else None


async def test_deleting_a_target_cleans_up_jobs_and_fails_open_documents(
    kube: KubeClient, namespace: str, mongo_db: AsyncDatabase[dict[str, Any]], start_operator: OperatorFactory
) -> None:
    await start_operator(extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "60s"}))
    await create_target(kube, namespace, "doomed", companyId=company_id())
    await eventually(lambda: phase_is(kube, namespace, "doomed", "Running"), timeout=30, what="Running")
    name = (await jobs_of(kube, namespace, "doomed"))[0]["metadata"]["name"]
    await eventually(
        lambda: mongo_db["jobqueues"].find_one({"jobName": name, "status": "processing"}),
        what="jobqueues processing",
    )
    await kube.delete(ns_path(ST, namespace, "scrapetargets", "doomed"))

    async def gone() -> bool:
        return await jobs_of(kube, namespace, "doomed") == []

    await eventually(gone, timeout=60, what="Jobs garbage-collected (finalizer released)")
    doc = await mongo_db["jobqueues"].find_one({"jobName": name})
    assert doc is not None
    assert doc["status"] == "failed"
    assert doc["reason"] == "TargetDeleted"


async def test_global_cap_orders_by_rank_and_never_exceeds(
    kube: KubeClient, namespace: str, start_operator: OperatorFactory
) -> None:
    for i in range(5):  # all due before the operator starts: the cap decides the order
        await create_target(kube, namespace, f"capped-{i}", rank=10 * i, cooldown="1h")
    await start_operator(
        max_concurrent=2, extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "1s"})
    )

    async def all_scraped() -> bool:
        targets = (await kube.get(ns_path(ST, namespace, "scrapetargets")))["items"]
        phases = {t["metadata"]["name"]: (t.get("status") or {}).get("phase") for t in targets}
        assert set(phases.values()) == {"Succeeded"}, phases
        return True

    await eventually(all_scraped, timeout=90, what="every target scraped")
    jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
    assert len(jobs) == 5
    intervals = []
    for j in jobs:
        start = created(j)
        end = parse_time((j.get("status") or {}).get("completionTime"))
        assert end is not None
        intervals.append((start, end, j["metadata"]["labels"]["scoutly.io/target"]))
    for start, _, _ in intervals:  # Jobs alive at each creation instant (end exclusive)
        assert sum(1 for s, e, _ in intervals if s <= start < e) <= 2, intervals
    first_two = {t for _, _, t in sorted(intervals)[:2]}
    assert first_two == {"capped-4", "capped-3"}  # highest rank first


async def test_history_limit_keeps_the_newest_jobs(
    kube: KubeClient, namespace: str, mongo_db: AsyncDatabase[dict[str, Any]], start_operator: OperatorFactory
) -> None:
    await start_operator(
        successful_jobs_history_limit=2,
        extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "200ms"}),
    )
    await create_target(kube, namespace, "churn", cooldown="1s", companyId=company_id())

    async def five_runs() -> bool:
        return await mongo_db["jobqueues"].count_documents({"status": "completed"}) >= 5

    await eventually(five_runs, timeout=90, what="five completed runs")
    await patch_target(kube, namespace, "churn", {"spec": {"suspend": True}})

    async def trimmed() -> list[dict[str, Any]] | None:
        jobs = await jobs_of(kube, namespace, "churn")
        return jobs if len(jobs) == 2 and all(condition(j, "Complete") for j in jobs) else None

    kept = await eventually(trimmed, timeout=60, what="only the 2 newest Jobs kept")
    docs = await mongo_db["jobqueues"].find({}).sort("createdAt", -1).to_list()
    assert sorted(j["metadata"]["name"] for j in kept) == sorted(d["jobName"] for d in docs[:2])


async def test_invalid_targets_are_rejected_with_the_field_named(
    kube: KubeClient, namespace: str, crd: dict[str, Any]
) -> None:
    path = ns_path(ST, namespace, "scrapetargets")
    cases = [
        ({"rank": 101}, "spec.rank"),
        ({"source": {"url": "ftp://example.com/jobs"}}, "spec.source.url"),
        ({"cooldown": "7d"}, "spec.cooldown"),
        ({"cooldown": "100000h"}, "spec.cooldown must be between 1s and 2160h"),
        ({"source": {"url": "https://example.com/careers", "board": "acme"}}, "spec.source.board needs"),
        (
            {"cooldown": "1m", "jobTemplate": {"activeDeadlineSeconds": 600}},
            "activeDeadlineSeconds must not exceed spec.cooldown",
        ),
        ({"source": {"url": "https://example.com", "type": "monster"}}, "spec.source.type"),
        ({"trackers": [{"user": "u1", "rank": 5}, {"user": "u1", "rank": 6}]}, "spec.trackers[1]"),
    ]
    for spec, needle in cases:
        body = target_body("bad")
        body["spec"].update(spec)
        with pytest.raises(ApiError) as err:
            await kube.create(path, body)
        assert err.value.status == 422, spec
        assert needle in err.value.message, (spec, err.value.message)


async def test_kubectl_get_shows_the_columns(
    kube: KubeClient, namespace: str, local_env: LocalEnv, start_operator: OperatorFactory
) -> None:
    await start_operator()
    await create_target(kube, namespace, "shown", company="Shown Inc", rank=97)
    await eventually(lambda: phase_is(kube, namespace, "shown", "Succeeded"), timeout=30, what="Succeeded")
    out = local_env.kubectl("get", "st", "-n", namespace, "-o", "wide").stdout.splitlines()
    header = out[0].split()
    assert header[:3] == ["NAME", "COMPANY", "RANK"]
    assert {"PHASE", "LAST", "NEXT", "AGE", "COOLDOWN"} <= set(header)
    row = out[1]
    assert "shown" in row
    assert "Shown Inc" in row
    assert "97" in row
    assert "Succeeded" in row
    assert "12h" in row
    assert "<none>" not in row  # every column has a value


async def test_outcome_is_recorded_when_the_job_is_deleted_right_after_finishing(
    kube: KubeClient, namespace: str, mongo_db: AsyncDatabase[dict[str, Any]], start_operator: OperatorFactory
) -> None:
    first = await start_operator(extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "2s"}))
    await create_target(kube, namespace, "fleeting", cooldown="1h", companyId=company_id())
    await eventually(lambda: phase_is(kube, namespace, "fleeting", "Running"), timeout=30, what="Running")
    await first.crash()
    name = (await jobs_of(kube, namespace, "fleeting"))[0]["metadata"]["name"]

    async def complete() -> bool:
        return condition((await jobs_of(kube, namespace, "fleeting"))[0], "Complete")

    await eventually(complete, timeout=30, what="Job Complete")
    await kube.delete(ns_path("batch/v1", namespace, "jobs", name))  # e.g. a TTL or a person
    held = (await jobs_of(kube, namespace, "fleeting"))[0]
    assert held["metadata"]["deletionTimestamp"]  # our finalizer holds it until recorded
    await start_operator()
    target = await eventually(
        lambda: phase_is(kube, namespace, "fleeting", "Succeeded"), timeout=30, what="outcome recorded"
    )
    assert target["status"]["lastJob"]["name"] == name
    await eventually(
        lambda: mongo_db["jobqueues"].find_one({"jobName": name, "status": "completed"}),
        what="jobqueues completed",
    )

    async def gone() -> bool:
        return await jobs_of(kube, namespace, "fleeting") == []

    await eventually(gone, timeout=30, what="Job deleted once released")


async def test_a_target_the_controller_cannot_act_on_is_reported_not_crashed(
    kube: KubeClient, namespace: str, start_operator: OperatorFactory
) -> None:
    await start_operator()
    # admitted by the API server (it cannot know the operator's image allow-list) but not run
    await create_target(kube, namespace, "odd", jobTemplate={"image": "evil.example/steal-secrets:latest"})
    await create_target(kube, namespace, "fine")

    async def reported() -> dict[str, Any] | None:
        t = await get_target(kube, namespace, "odd")
        conds = {c["type"]: c for c in (t.get("status") or {}).get("conditions") or []}
        return t if conds.get("Failing", {}).get("reason") == "InvalidSpec" else None

    target = await eventually(reported, timeout=30, what="Failing condition InvalidSpec")
    ready = next(c for c in target["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert "spec.jobTemplate.image" in ready["message"] and "evil.example" in ready["message"]
    events = (await kube.get(ns_path("v1", namespace, "events"), fieldSelector="involvedObject.name=odd"))[
        "items"
    ]
    assert [e["reason"] for e in events] == ["InvalidSpec"]
    assert await jobs_of(kube, namespace, "odd") == []
    # the other target is not blocked
    await eventually(lambda: phase_is(kube, namespace, "fine", "Succeeded"), timeout=30, what="other target")
    # fixing the spec makes it schedulable
    await patch_target(kube, namespace, "odd", {"spec": {"jobTemplate": {"image": None}}})
    await eventually(lambda: phase_is(kube, namespace, "odd", "Succeeded"), timeout=30, what="fixed target")


async def test_a_restart_over_settled_targets_writes_nothing(
    kube: KubeClient, namespace: str, start_operator: OperatorFactory
) -> None:
    first = await start_operator()
    for i in range(3):
        await create_target(kube, namespace, f"settled-{i}", cooldown="1h")

    async def settled() -> list[dict[str, Any]] | None:
        items = (await kube.get(ns_path(ST, namespace, "scrapetargets")))["items"]
        jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
        ok = all((t.get("status") or {}).get("phase") == "Succeeded" for t in items) and all(
            not j["metadata"].get("finalizers") for j in jobs
        )
        return items if ok and len(items) == 3 else None

    before = await eventually(settled, timeout=60, what="targets settled")
    await first.stop()
    second = await start_operator()
    await eventually(lambda: _ready(second), what="second operator watching")
    # the new operator has listed everything; give its handlers a full pass over the objects
    await eventually(lambda: _handled(second, 3), what="targets handled after restart")
    # and every target key it queued has run (the status batch delays them), so a write would be in
    await eventually(lambda: _quiet(second, namespace, 3), what="target keys of the restart ran")
    after = (await kube.get(ns_path(ST, namespace, "scrapetargets")))["items"]
    jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
    assert {t["metadata"]["name"]: t["metadata"]["resourceVersion"] for t in after} == {
        t["metadata"]["name"]: t["metadata"]["resourceVersion"] for t in before
    }
    assert len(jobs) == 3


async def _ready(op: Any) -> bool:
    return bool(op.controller and op.controller.ready.is_set())


async def _quiet(op: Any, namespace: str, n: int) -> bool:
    queue = op.controller.queue
    return not any(queue.pending(("target", f"{namespace}/settled-{i}")) for i in range(n))


async def _handled(op: Any, n: int) -> bool:
    return op.controller is not None and op.controller.target_events >= n
