"""The operator runs with exactly the chart's RBAC: it is started in-process with a token of the chart's
ServiceAccount (TokenRequest API), not the admin certificate, and must complete the whole scenario:
dispatch, write-back from the pod's termination message, Events, history clean-up, metrics. Any verb the
chart lacks makes a step fail (and kopf or the controller log the denial, which is checked too); any
verb it has beyond that is caught by test_render's exact rule set."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.kube.client import ApiError, KubeClient, ns_path
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually
from tests.integration.chart.cluster import install, release_name, service_account_kubeconfig, uninstall
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import create_target, get_target, jobs_of

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]

SUMMARY = {
    "postingsFound": 7,
    "postingsNew": 2,
    "postingsChanged": 0,
    "postingsClosed": 0,
    "candidates": 1,
    "matches": 1,
    "tokens": {"prompt": 300, "completion": 20, "cached": 0},
    "model": "gpt-test",
    "durationSeconds": 0.5,
    "errors": [],
    "message": "ok",
}
DENIALS = ("system:serviceaccount:", "Not enough permissions", "forbidden")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _allowed(
    client: KubeClient, namespace: str, group: str, resource: str, verb: str, sub: str = ""
) -> bool:
    review = await client.create(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": namespace,
                    "group": group,
                    "resource": resource,
                    "subresource": sub,
                    "verb": verb,
                }
            },
        },
    )
    return bool(review["status"]["allowed"])


@pytest.mark.parametrize("mode", ["cluster-role", "watch-namespace"])
async def test_operator_completes_the_scenario_with_exactly_the_charts_rbac(
    mode: str,
    local_env: LocalEnv,
    kube: KubeClient,
    namespace: str,
    mongo_db: AsyncDatabase[dict[str, Any]],
    start_operator: OperatorFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    rel = release_name("rbac")
    args = ["--set", "crds.enabled=false", "--set", "grafanaDashboard.enabled=false"]
    if mode == "watch-namespace":
        args += ["--set", f"watchNamespaces={{{namespace}}}"]
    install(local_env, rel, namespace, *args)
    try:
        sa = f"{rel}-scoutly-operator"
        kubeconfig = await service_account_kubeconfig(
            kube, local_env, namespace, sa, tmp_path / "sa.kubeconfig"
        )
        async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as as_sa:
            who = await as_sa.create(
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            )
            assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:{sa}"
            # the identity is really restricted (not admin): no Secrets, no writes to the spec
            assert await _allowed(as_sa, namespace, "scoutly.io", "scrapetargets", "patch", "status")
            assert not await _allowed(as_sa, namespace, "", "secrets", "get")
            assert not await _allowed(as_sa, namespace, "", "secrets", "list")
            assert not await _allowed(as_sa, namespace, "scoutly.io", "scrapetargets", "update")
            assert not await _allowed(as_sa, namespace, "", "pods", "get")
            if mode == "watch-namespace":
                assert not await _allowed(as_sa, "default", "batch", "jobs", "list")
            with pytest.raises(ApiError) as denied:
                await as_sa.get(ns_path("v1", namespace, "secrets"))
            assert denied.value.status == 403

        port = _free_port()
        await start_operator(
            kubeconfig=str(kubeconfig),
            namespaces=namespace if mode == "watch-namespace" else "",
            metrics_port=port,
            successful_jobs_history_limit=1,
            extra_pod_annotations=json.dumps(
                {"scoutly.io/kwok-duration": "300ms", "scoutly.io/kwok-message": json.dumps(SUMMARY)}
            ),
        )
        await create_target(kube, namespace, "acme", rank=95, cooldown="2s")

        async def succeeded() -> dict[str, Any] | None:  # watch + dispatch + status patch
            t = await get_target(kube, namespace, "acme")
            return t if t.get("status", {}).get("phase") == "Succeeded" else None

        target = await eventually(succeeded, timeout=45, what="target phase Succeeded")
        last = target["status"]["lastJob"]
        assert last["result"] == "Succeeded"
        assert last["postingsFound"] == 7  # read from the pod's termination message (pods list)
        assert last["tokens"] == 320

        first = last["name"]

        async def history_cleaned() -> bool:  # finalizers released (patch), then the oldest deleted (limit 1)
            names = [j["metadata"]["name"] for j in await jobs_of(kube, namespace, "acme")]
            return bool(names) and first not in names

        await eventually(history_cleaned, timeout=40, what="first Job deleted by the history limit")

        async def events() -> list[str] | None:
            items = (
                await kube.get(ns_path("v1", namespace, "events"), fieldSelector="involvedObject.name=acme")
            )["items"]
            reasons = {e["reason"] for e in items}
            return sorted(reasons) if "ScrapeSucceeded" in reasons else None

        assert await eventually(events, what="Events on the target") == [
            "ScrapeSucceeded",
            "SuccessfulCreate",
        ]

        async def recorded() -> dict[str, Any] | None:
            return await mongo_db["jobqueues"].find_one({"jobName": first, "status": "COMPLETED"})

        assert (await eventually(recorded, what="jobqueues COMPLETED"))["result"]["postingsFound"] == 7

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            metrics = (await http.get("/metrics")).text
            assert "scoutly_jobs_created_total" in metrics
            assert "scoutly_jobs_finished_total" in metrics
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text

        denials = [
            r.getMessage()
            for r in caplog.records
            if any(d in r.getMessage() for d in DENIALS) and "being terminated" not in r.getMessage()
        ]
        assert not denials, f"the chart's RBAC denied the operator: {denials[:3]}"
    finally:
        uninstall(local_env, rel, namespace)
