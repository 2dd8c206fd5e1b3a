"""kill -9 at every step of a dispatch, over and over, with an API server restart in the middle:
afterwards every Job has exactly one jobqueues document with its true final status, no target has two
Jobs for one slot or two at once, and every target's status matches its Jobs."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.controller.jobs import ANN_SCHEDULED, FINALIZER, parse_time
from scoutly.faults import POINTS
from scoutly.kube.client import KubeClient, ns_path
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually
from tests import appdata
from tests.integration.controller.helpers import ST, company_id, condition, create_target, patch_target

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]

KILLS = int(os.environ.get("SCOUTLY_CRASH_KILLS", "200"))
TARGETS = 6


def operator_env(local_env: LocalEnv, namespace: str, db: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SCOUTLY_KUBECONFIG": str(local_env.kubeconfig),
        "SCOUTLY_NAMESPACES": namespace,
        "SCOUTLY_MONGODB_URI": local_env.mongo_uri,
        "SCOUTLY_MONGODB_DATABASE": db,
        "SCOUTLY_METRICS_PORT": "0",
        "SCOUTLY_BACKOFF_BASE": "1s",
        "SCOUTLY_LOG_LEVEL": "WARNING",
        "SCOUTLY_EXTRA_POD_ANNOTATIONS": json.dumps({"scoutly.io/kwok-duration": "400ms"}),
        **extra,
    }


def spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "scoutly.cli", "operator", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def test_randomized_kill_9_loop_loses_and_duplicates_nothing(
    kube: KubeClient,
    namespace: str,
    local_env: LocalEnv,
    crd: dict[str, Any],
    mongo_db: AsyncDatabase[dict[str, Any]],
    tmp_path: Path,
) -> None:
    rng = random.Random(int(os.environ.get("SCOUTLY_CRASH_SEED", "7")))
    for i in range(TARGETS):
        await create_target(
            kube, namespace, f"crash-{i}", rank=rng.randint(0, 100), cooldown="2s", companyId=company_id()
        )
    log = tmp_path / "operator.log"
    kills_by_point: Counter[str] = Counter()
    started = time.monotonic()
    for n in range(KILLS):
        point = rng.choice([*POINTS, "random"])
        extra = (
            {"SCOUTLY_FAULT_POINTS": point, "SCOUTLY_FAULT_PROBABILITY": "0.5"} if point != "random" else {}
        )
        proc = spawn(operator_env(local_env, namespace, mongo_db.name, **extra), log)
        try:
            # either the fail point kills it, or we do at a random moment
            await asyncio.to_thread(proc.wait, rng.uniform(0.5, 3.0))
            kills_by_point[point if proc.returncode == -signal.SIGKILL else f"exit {proc.returncode}"] += 1
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills_by_point["random moment"] += 1
        if n == KILLS // 2:
            await asyncio.to_thread(local_env.restart_apiserver)
    chaos_seconds = time.monotonic() - started

    # quiesce: suspend every target, run one operator without faults until everything is recorded
    for i in range(TARGETS):
        await patch_target(kube, namespace, f"crash-{i}", {"spec": {"suspend": True}})
    final = spawn(operator_env(local_env, namespace, mongo_db.name), log)
    try:

        async def quiet() -> list[dict[str, Any]] | None:
            jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
            done = all(
                (condition(j, "Complete") or condition(j, "Failed"))
                and FINALIZER not in (j["metadata"].get("finalizers") or [])
                for j in jobs
            )
            targets = (await kube.get(ns_path(ST, namespace, "scrapetargets")))["items"]
            settled = all((t.get("status") or {}).get("phase") == "Suspended" for t in targets)
            return jobs if done and settled else None

        jobs = await eventually(quiet, timeout=180, what="every Job finished and released")
        targets = (await kube.get(ns_path(ST, namespace, "scrapetargets")))["items"]
    finally:
        os.killpg(final.pid, signal.SIGTERM)
        final.wait(30)

    docs = await mongo_db["jobqueues"].find({}).to_list()
    by_name = Counter(d["jobName"] for d in docs)
    assert all(c == 1 for c in by_name.values())
    assert appdata.validate_all("jobqueues", docs) == []
    truth = {j["metadata"]["name"]: "completed" if condition(j, "Complete") else "failed" for j in jobs}
    for name, status in truth.items():  # Jobs still present (older ones went by the history limit)
        assert by_name[name] == 1, f"{name} has no jobqueues document"
        doc = next(d for d in docs if d["jobName"] == name)
        assert doc["status"] == status, (name, doc["status"], status)
    assert all(d["status"] in ("completed", "failed") for d in docs), "a document was left open"
    slots = Counter((d["target"], d.get("scheduledFor")) for d in docs)
    assert all(c == 1 for c in slots.values()), "two Jobs for one slot"
    for t in targets:  # no overlap: runs of a target never ran at the same time
        mine = sorted(
            (d for d in docs if d["target"] == f"{namespace}/{t['metadata']['name']}"),
            key=lambda d: d["createdAt"],
        )
        for a, b in itertools.pairwise(mine):
            assert b["createdAt"].replace(microsecond=0) >= a["completedAt"].replace(microsecond=0), (a, b)
        status = t["status"]
        assert status["active"] == []
        newest = max(
            (j for j in jobs if j["metadata"]["labels"]["scoutly.io/target"] == t["metadata"]["name"]),
            key=lambda j: parse_time(j["metadata"]["annotations"][ANN_SCHEDULED]) or 0,
            default=None,
        )
        if newest is not None:
            assert status["lastJob"]["name"] == newest["metadata"]["name"]
    print(
        f"\ncrash loop: {KILLS} kills in {chaos_seconds:.0f}s, {len(docs)} scrapes recorded, "
        f"kills by point: {dict(kills_by_point)}"
    )
    assert len(docs) >= TARGETS  # the chaos did not stop progress
    assert not [k for k in kills_by_point if k.startswith("exit")], kills_by_point  # only kills, no crashes
