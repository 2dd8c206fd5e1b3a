"""Two replicas, one Lease: only the holder writes; kill -9 the holder and the standby takes over within
a bounded time, with no duplicate Job and no lost outcome."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.controller.jobs import FINALIZER
from scoutly.kube.client import KubeClient, ns_path
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually
from tests.integration.controller.helpers import company_id, condition, create_target, patch_target
from tests.integration.reliability.test_crash import operator_env, spawn

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]
LEASE_SECONDS = 4


async def holder(kube: KubeClient, namespace: str) -> str | None:
    try:
        lease = await kube.get(ns_path("coordination.k8s.io/v1", namespace, "leases", "scoutly-operator"))
    except Exception:
        return None
    return (lease.get("spec") or {}).get("holderIdentity")


async def test_one_active_replica_and_failover(
    kube: KubeClient,
    namespace: str,
    local_env: LocalEnv,
    crd: dict[str, Any],
    mongo_db: AsyncDatabase[dict[str, Any]],
    tmp_path: Path,
) -> None:
    env = operator_env(
        local_env,
        namespace,
        mongo_db.name,
        SCOUTLY_LEADER_ELECTION="true",
        SCOUTLY_LEASE_DURATION=f"{LEASE_SECONDS}s",
        SCOUTLY_EXTRA_POD_ANNOTATIONS=json.dumps({"scoutly.io/kwok-duration": "2s"}),
    )
    host = socket.gethostname()
    first = spawn(env, tmp_path / "a.log")
    await eventually(
        lambda: _is(holder(kube, namespace), f"{host}-{first.pid}"),
        timeout=30,
        what="first replica holds the Lease",
    )
    second = spawn(env, tmp_path / "b.log")
    procs = [first, second]
    try:
        for i in range(4):
            await create_target(kube, namespace, f"ha-{i}", cooldown="3s", companyId=company_id())

        async def running_jobs() -> bool:
            jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
            return any(not condition(j, "Complete") for j in jobs) and len(jobs) >= 4

        await eventually(running_jobs, timeout=30, what="Jobs running under the first leader")
        assert await holder(kube, namespace) == f"{host}-{first.pid}"  # the standby never took it
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        await eventually(
            lambda: _is(holder(kube, namespace), f"{host}-{second.pid}"),
            timeout=30,
            what="standby takes over the Lease",
        )
        handover = time.monotonic() - killed_at
        assert handover < LEASE_SECONDS * 3, handover

        async def new_runs() -> bool:  # the new leader dispatches and records
            docs = await mongo_db["jobqueues"].count_documents({"status": "completed"})
            return docs >= 8

        await eventually(new_runs, timeout=60, what="scrapes go on under the new leader")
        for i in range(4):
            await patch_target(kube, namespace, f"ha-{i}", {"spec": {"suspend": True}})

        async def quiet() -> list[dict[str, Any]] | None:
            jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
            ok = all(
                condition(j, "Complete") and FINALIZER not in (j["metadata"].get("finalizers") or [])
                for j in jobs
            )
            return jobs if ok else None

        jobs = await eventually(quiet, timeout=60, what="all Jobs finished and released")
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                await asyncio.to_thread(p.wait, 30)
    docs = await mongo_db["jobqueues"].find({}).to_list()
    assert all(c == 1 for c in Counter(d["jobName"] for d in docs).values())
    assert all(c == 1 for c in Counter((d["target"], d.get("scheduledFor")) for d in docs).values())
    for j in jobs:  # the Job running at the kill has its outcome recorded too
        doc = next(d for d in docs if d["jobName"] == j["metadata"]["name"])
        assert doc["status"] == "completed"
    print(f"\nHA: handover {handover:.1f}s with a {LEASE_SECONDS}s Lease, {len(docs)} scrapes, no duplicates")


async def _is(value: Any, expected: str) -> bool:
    return await value == expected
