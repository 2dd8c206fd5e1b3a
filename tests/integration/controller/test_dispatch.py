"""Dispatch and write-back against the real control plane and FerretDB."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.controller.jobs import ANN_TARGET_SPEC, FINALIZER, SPEC_DIR, SPEC_FILE, parse_time
from scoutly.kube.client import KubeClient, ns_path
from scoutly.testing.wait import eventually
from tests import appdata
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import condition, create_target, created, get_target, jobs_of

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]

SUMMARY = {
    "postingsFound": 12,
    "postingsNew": 5,
    "postingsChanged": 1,
    "postingsClosed": 0,
    "candidates": 2,
    "matches": 3,
    "tokens": {"prompt": 900, "completion": 100, "cached": 0},
    "model": "gpt-test",
    "durationSeconds": 1.5,
    "errors": [],
    "message": "ok",
}


async def test_due_target_gets_exactly_one_job_and_outcome_is_written_back(
    kube: KubeClient, namespace: str, mongo_db: AsyncDatabase[dict[str, Any]], start_operator: OperatorFactory
) -> None:
    acme = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
    company_id = acme["_id"]
    await mongo_db["companies"].insert_one(acme)
    await start_operator(
        extra_pod_annotations=json.dumps(
            {"scoutly.io/kwok-duration": "500ms", "scoutly.io/kwok-message": json.dumps(SUMMARY)}
        )
    )
    await create_target(kube, namespace, "acme", companyId=str(company_id), rank=95)

    async def succeeded() -> dict[str, Any] | None:
        t = await get_target(kube, namespace, "acme")
        return t if t.get("status", {}).get("phase") == "Succeeded" else None

    target = await eventually(succeeded, timeout=60, what="target phase Succeeded")
    jobs = await jobs_of(kube, namespace, "acme")
    assert len(jobs) == 1
    job = jobs[0]
    assert condition(job, "Complete")
    status = target["status"]
    assert status["lastJob"]["name"] == job["metadata"]["name"]
    assert status["lastJob"]["result"] == "Succeeded"
    assert status["lastJob"]["postingsFound"] == 12
    assert status["lastJob"]["matches"] == 3
    assert status["lastJob"]["tokens"] == 1000
    assert status["consecutiveFailures"] == 0
    assert status["cooldown"] == "12h"
    assert status["active"] == []
    assert status["observedGeneration"] == target["metadata"]["generation"]
    last = parse_time(status["lastSuccessfulScrape"])
    assert last is not None
    assert parse_time(status["nextScrapeTime"]) == last + timedelta(hours=12)
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True",
        "Scraping": "False",
        "Failing": "False",
    }
    # the Job carries what the design promises
    meta, spec = job["metadata"], job["spec"]
    assert meta["ownerReferences"][0]["uid"] == target["metadata"]["uid"]
    assert meta["labels"]["scoutly.io/target"] == "acme"
    assert "scoutly.io/scheduled-timestamp" in meta["annotations"]
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    c = pod["containers"][0]
    assert c["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert c["command"] == ["scoutly", "scrape", "--target", f"{namespace}/acme"]
    env = {e["name"]: e for e in c["env"]}
    assert "secretKeyRef" in env["SCOUTLY_MONGODB_URI"]["valueFrom"]
    # the spec reaches the pod as a file: a downward-API volume of a pod annotation
    assert env["SCOUTLY_TARGET_SPEC_FILE"]["value"] == f"{SPEC_DIR}/{SPEC_FILE}"
    annotation = spec["template"]["metadata"]["annotations"][ANN_TARGET_SPEC]
    assert json.loads(annotation)["companyId"] == str(company_id)
    (volume,) = [v for v in pod["volumes"] if "downwardAPI" in v]
    (item,) = volume["downwardAPI"]["items"]  # as stored: the API server adds defaults
    assert item["path"] == SPEC_FILE
    assert item["fieldRef"]["fieldPath"] == f"metadata.annotations['{ANN_TARGET_SPEC}']"
    assert {"name": volume["name"], "mountPath": SPEC_DIR, "readOnly": True} in c["volumeMounts"]
    assert spec["podFailurePolicy"]["rules"]

    # the finalizer is released once everything is recorded
    async def released() -> bool:
        j = await kube.get(ns_path("batch/v1", namespace, "jobs", meta["name"]))
        return FINALIZER not in (j["metadata"].get("finalizers") or [])

    await eventually(released, what="finalizer released")
    doc = await mongo_db["jobqueues"].find_one({"jobName": meta["name"]})
    assert doc is not None
    assert appdata.validate_all("jobqueues", [doc]) == []
    assert doc["status"] == "completed" and doc["jobPhase"] == "Succeeded"
    assert doc["target"] == f"{namespace}/acme"
    assert doc["companyId"] == company_id
    assert doc["result"]["postingsFound"] == 12
    assert doc["completedAt"] >= doc["createdAt"].replace(microsecond=0)
    company = await mongo_db["companies"].find_one({"_id": company_id})
    assert company is not None and appdata.validate_all("companies", [company]) == []
    assert company["lastSuccessfulScrape"].replace(microsecond=0) == last.replace(microsecond=0)
    assert company["updatedAt"] > acme["updatedAt"]
    # events: few, on transitions
    events = (await kube.get(ns_path("v1", namespace, "events"), fieldSelector="involvedObject.name=acme"))[
        "items"
    ]
    reasons = sorted(e["reason"] for e in events)
    assert reasons == ["ScrapeSucceeded", "SuccessfulCreate"]


async def test_not_due_target_waits_for_its_cooldown(
    kube: KubeClient, namespace: str, start_operator: OperatorFactory
) -> None:
    await start_operator()
    await create_target(kube, namespace, "beta", cooldown="6s")

    async def two_jobs() -> list[dict[str, Any]] | None:
        jobs = await jobs_of(kube, namespace, "beta")
        return jobs if len(jobs) >= 2 else None

    jobs = await eventually(two_jobs, timeout=60, what="second Job after the cooldown")
    first_done = parse_time(jobs[0]["status"]["completionTime"])
    assert first_done is not None
    # never before its due time (second precision on both timestamps)
    assert created(jobs[1]) >= first_done + timedelta(seconds=6) - timedelta(seconds=1)
