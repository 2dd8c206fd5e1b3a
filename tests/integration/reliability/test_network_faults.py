"""Connections cut at every step of dispatching and finishing a Job (issue 18): the operator talks to the
real API server through a proxy that resets the connection of one kind of request, twice in a row,
either before the request arrives or after it took effect with its answer lost. Without a restart the
outcome still lands in the target's status and in MongoDB, the finalizer is released, and the error is
counted in scoutly_reconcile_errors_total."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly import metrics
from scoutly.controller.jobs import FINALIZER
from scoutly.kube.client import KubeClient, ns_path
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually
from tests import appdata
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import create_target, get_target, jobs_of
from tests.integration.faultproxy import Cut, FaultProxy

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]

SUMMARY = {"postingsFound": 7, "postingsNew": 2, "matches": 1, "tokens": {"prompt": 40, "completion": 2}}
JOB = r"/apis/batch/v1/namespaces/[^/]+/jobs/[^/?]+$"

# Finishing reads nothing from the API on this path: the run summary comes from the pods watch and the
# release patches the finalizer at the index the Job watch showed. Their fallbacks (a pods read when
# the watch saw fewer ends than the Job counts, a Job read when the finalizer list moved) are cut with
# the same transport errors in tests/unit/controller/test_core.py and tests/unit/test_finish_faults.py.
FAULTS: dict[str, Cut] = {
    "job-create": Cut("POST", r"/apis/batch/v1/namespaces/[^/]+/jobs$", times=2),
    # once: the Job exists, and its watch event (not the retry) usually tells the operator first
    "job-create-answer-lost": Cut("POST", r"/apis/batch/v1/namespaces/[^/]+/jobs$", after=True),
    "status-write": Cut("PATCH", r"/scrapetargets/[^/?]+/status$", body='"lastJob"', times=2),
    "status-write-answer-lost": Cut(
        "PATCH", r"/scrapetargets/[^/?]+/status$", body='"lastJob"', after=True, times=2
    ),
    "outcome-event": Cut("POST", r"/api/v1/namespaces/[^/]+/events$", body="ScrapeSucceeded", times=2),
    "finalizer-release": Cut("PATCH", JOB, body=FINALIZER, times=2),
    # once: the retry's patch fails its test (the finalizer is gone), so it reads the Job: nothing left
    "finalizer-release-answer-lost": Cut("PATCH", JOB, body=FINALIZER, after=True),
}


def errors_counted() -> float:
    return sum(
        s.value
        for s in metrics.reconcile_errors.collect()[0].samples
        if s.name.endswith("_total") and s.labels.get("kind") == "connection"
    )


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_outcome_is_recorded_without_a_restart_when_a_connection_is_cut(
    fault: str,
    kube: KubeClient,
    namespace: str,
    local_env: LocalEnv,
    mongo_db: AsyncDatabase[dict[str, Any]],
    start_operator: OperatorFactory,
    tmp_path: Path,
) -> None:
    cut = Cut(**{k: v for k, v in vars(FAULTS[fault]).items() if k != "hits"})  # fresh hit count
    proxy = await FaultProxy.for_env(local_env).start()
    proxy.cuts.append(cut)
    errors_before = errors_counted()
    acme = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
    await mongo_db["companies"].insert_one(acme)
    operator = await start_operator(
        kubeconfig=str(proxy.kubeconfig(tmp_path / "kubeconfig")),
        extra_pod_annotations=json.dumps(
            {"scoutly.io/kwok-duration": "300ms", "scoutly.io/kwok-message": json.dumps(SUMMARY)}
        ),
    )
    try:
        await create_target(kube, namespace, "acme", companyId=str(acme["_id"]), cooldown="1h")

        async def recorded() -> dict[str, Any] | None:
            status = (await get_target(kube, namespace, "acme")).get("status") or {}
            return status if (status.get("lastJob") or {}).get("result") == "Succeeded" else None

        status = await eventually(recorded, timeout=60, what=f"outcome in status despite {fault}")
        # the summary was recorded, not skipped
        assert status["lastJob"]["postingsFound"] == 7 and status["lastJob"]["tokens"] == 42
        assert status["phase"] == "Succeeded" and status["consecutiveFailures"] == 0
        jobs = await jobs_of(kube, namespace, "acme")
        assert len(jobs) == 1  # a lost create answer is adopted, not created twice
        name = jobs[0]["metadata"]["name"]
        assert status["lastJob"]["name"] == name

        async def released() -> bool:
            job = await kube.get(ns_path("batch/v1", namespace, "jobs", name))
            return FINALIZER not in (job["metadata"].get("finalizers") or [])

        await eventually(released, timeout=30, what="finalizer released")
        doc = await mongo_db["jobqueues"].find_one({"jobName": name})
        assert doc is not None and doc["status"] == "completed"
        assert doc["result"]["postingsFound"] == 7

        events = (await kube.get(ns_path("v1", namespace, "events")))["items"]
        succeeded = [e for e in events if e["reason"] == "ScrapeSucceeded"]
        assert len(succeeded) == 1
        assert cut.hits == cut.times  # the fault did happen (twice where set: the first retry failed too)
        # counted (a GET cut on a kept-alive connection is retried once by aiohttp itself: one error)
        assert errors_counted() - errors_before >= 1
    finally:
        await operator.stop()
        await proxy.stop()
