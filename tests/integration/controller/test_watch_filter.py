"""The Job watch is filtered by the API server (issue 18): with foreign Jobs in the namespace (a CI
runner's, a Kueue workload's), the operator's list and watch requests carry our label selector and
what streams in holds our Jobs only. Seen through a proxy between the operator and the real API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from scoutly.controller.jobs import LABEL_MANAGED_BY, MANAGED_BY
from scoutly.kube.client import KubeClient, ns_path
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import create_target, get_target, jobs_of
from tests.integration.faultproxy import FaultProxy

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]
FOREIGN = 6


def foreign_job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app": "ci-runner"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": {"scoutly.io/kwok-duration": "200ms"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "build", "image": "busybox"}],
                },
            },
        },
    }


def streamed_names(raw: bytes) -> list[str]:
    """The objects' names in a watch stream (one JSON event a line; bookmarks carry no name)."""
    events = [json.loads(line) for line in raw.splitlines() if line.strip()]
    return [n for e in events if (n := ((e.get("object") or {}).get("metadata") or {}).get("name"))]


def selector_of(path_qs: str) -> list[str]:
    return parse_qs(urlsplit(path_qs).query).get("labelSelector", [])


async def test_the_job_watch_streams_only_our_jobs(
    kube: KubeClient,
    namespace: str,
    local_env: LocalEnv,
    start_operator: OperatorFactory,
    tmp_path: Path,
) -> None:
    jobs_path = ns_path("batch/v1", namespace, "jobs")
    for i in range(FOREIGN // 2):  # there before the operator lists
        await kube.create(jobs_path, foreign_job(f"ci-{i}"))
    proxy = await FaultProxy.for_env(local_env).start()
    try:
        operator = await start_operator(
            kubeconfig=str(proxy.kubeconfig(tmp_path / "kubeconfig")),
            extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "300ms"}),
        )
        for i in range(FOREIGN // 2, FOREIGN):  # and created while it watches
            await kube.create(jobs_path, foreign_job(f"ci-{i}"))
        await create_target(kube, namespace, "acme", cooldown="1h")

        async def succeeded() -> bool:
            status = (await get_target(kube, namespace, "acme")).get("status") or {}
            return status.get("phase") == "Succeeded"

        await eventually(succeeded, timeout=60, what="our Job ran and was recorded")

        async def foreign_done() -> bool:
            items = (await kube.get(jobs_path, labelSelector="app=ci-runner"))["items"]
            return len(items) == FOREIGN and all(
                (j.get("status") or {}).get("failed") or (j.get("status") or {}).get("succeeded")
                for j in items
            )

        await eventually(foreign_done, timeout=60, what="foreign Jobs ran too")
        ours = {j["metadata"]["name"] for j in await jobs_of(kube, namespace, "acme")}
        await operator.stop()
    finally:
        await proxy.stop()

    job_reads = [path for method, path in proxy.requests if method == "GET" and "/jobs?" in path]
    assert any("watch=" in p for p in job_reads), "kopf watched Jobs"
    assert all(selector_of(p) == [f"{LABEL_MANAGED_BY}={MANAGED_BY}"] for p in job_reads), job_reads
    seen = [n for p, raw in proxy.streams.items() if "/jobs?" in p for n in streamed_names(bytes(raw))]
    assert set(seen) & ours, "our Job's events came through the watch"
    assert not [n for n in seen if n.startswith("ci-")], "no foreign Job streamed in"
