"""MongoDB down during dispatches and completions: scheduling goes on, mirror writes wait, nothing is lost."""

from __future__ import annotations

import json
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
from tests.integration.controller.helpers import ST, company_id, create_target

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]


def backlog() -> float:
    return float(metrics.REGISTRY.get_sample_value("scoutly_mirror_backlog") or 0.0)


async def test_outage_keeps_scheduling_and_converges_after_recovery(
    kube: KubeClient,
    namespace: str,
    private_mongo: tuple[LocalEnv, AsyncDatabase[dict[str, Any]]],
    start_operator: OperatorFactory,
) -> None:
    mongo, mongo_db = private_mongo  # stopped below: not the session's shared FerretDB
    await start_operator(
        mongodb_uri=mongo.mongo_uri,
        mongodb_database=mongo_db.name,
        extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "300ms"}),
    )
    port = mongo.mongo_port
    mongo.stop_component("ferretdb")
    try:
        for i in range(3):
            await create_target(kube, namespace, f"outage-{i}", cooldown="1h", companyId=company_id())

        async def all_succeeded() -> bool:
            items = (await kube.get(ns_path(ST, namespace, "scrapetargets")))["items"]
            return len(items) == 3 and all((t.get("status") or {}).get("phase") == "Succeeded" for t in items)

        # Kubernetes is the source of truth: scraping and status go on without MongoDB
        await eventually(all_succeeded, timeout=60, what="targets scraped during the outage")
        jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
        assert len(jobs) == 3
        # the outcomes are not in MongoDB yet, so every Job is still held by our finalizer
        assert all(FINALIZER in j["metadata"]["finalizers"] for j in jobs)
        assert backlog() >= 3
    finally:
        mongo._start_ferretdb(port)

    names = sorted(j["metadata"]["name"] for j in jobs)

    async def converged() -> list[dict[str, Any]] | None:
        docs = await mongo_db["jobqueues"].find({}).to_list()
        return (
            docs
            if sorted(d["jobName"] for d in docs) == names and all(d["status"] == "completed" for d in docs)
            else None
        )

    docs = await eventually(converged, timeout=90, what="jobqueues converged after MongoDB returned")
    assert len(docs) == 3  # written once each: keyed by the Job
    assert appdata.validate_all("jobqueues", docs) == []

    async def released() -> bool:
        jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
        return all(FINALIZER not in (j["metadata"].get("finalizers") or []) for j in jobs)

    await eventually(released, timeout=30, what="finalizers released")
    await eventually(lambda: _zero(backlog()), what="backlog metric back to 0")


async def _zero(value: float) -> bool:
    return value == 0
