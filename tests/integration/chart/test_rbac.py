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
from tests.integration.controller.helpers import company_id, create_target, get_target, jobs_of

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


@pytest.mark.parametrize("mode", ["default", "watch-namespace", "cluster-wide"])
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
    if mode == "cluster-wide":
        args += ["--set", "watchAllNamespaces=true"]
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
            if mode != "cluster-wide":  # the default is namespace-scoped: nothing elsewhere
                assert not await _allowed(as_sa, "default", "batch", "jobs", "list")
                assert not await _allowed(as_sa, "default", "batch", "jobs", "create")
                assert not await _allowed(as_sa, "default", "", "pods", "list")
            with pytest.raises(ApiError) as denied:
                await as_sa.get(ns_path("v1", namespace, "secrets"))
            assert denied.value.status == 403

        port = _free_port()
        await start_operator(
            kubeconfig=str(kubeconfig),
            namespaces="" if mode == "cluster-wide" else namespace,
            metrics_port=port,
            successful_jobs_history_limit=1,
            extra_pod_annotations=json.dumps(
                {"scoutly.io/kwok-duration": "300ms", "scoutly.io/kwok-message": json.dumps(SUMMARY)}
            ),
        )
        await create_target(kube, namespace, "acme", rank=95, cooldown="2s", companyId=company_id())

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
            return await mongo_db["jobqueues"].find_one({"jobName": first, "status": "completed"})

        assert (await eventually(recorded, what="jobqueues completed"))["result"]["postingsFound"] == 7

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


async def test_sync_and_leader_election_work_with_exactly_the_charts_rbac(
    local_env: LocalEnv,
    kube: KubeClient,
    crd: Any,
    namespace: str,
    mongo_db: AsyncDatabase[dict[str, Any]],
    tmp_path: Path,
) -> None:
    """The sync CronJob's ServiceAccount creates and updates targets with list, create, patch only
    (server-side apply that creates is authorized as create too); the operator's Lease Role is enough to
    acquire, renew and release its Lease and nothing else."""
    from scoutly.controller.leader import LeaseElector
    from scoutly.sync.run import run_sync
    from tests.integration.sync.helpers import company, oid, seed, targets

    rel = release_name("sync")
    install(
        local_env, rel, namespace,
        "--set", "crds.enabled=false", "--set", "grafanaDashboard.enabled=false",
        "--set", "sync.cronJob.enabled=true", "--set", f"sync.namespace={namespace}",
        "--set", "leaderElection.enabled=true", "--set", "replicaCount=2",
    )  # fmt: skip
    try:
        sync_kc = await service_account_kubeconfig(
            kube, local_env, namespace, f"{rel}-scoutly-operator-sync", tmp_path / "sync.kubeconfig"
        )
        async with await KubeClient.connect(kubeconfig=str(sync_kc)) as as_sync:
            for verb in ("get", "update", "delete", "watch"):
                assert not await _allowed(as_sync, namespace, "scoutly.io", "scrapetargets", verb), verb
            assert not await _allowed(as_sync, "default", "scoutly.io", "scrapetargets", "list")
            assert not await _allowed(as_sync, namespace, "", "secrets", "get")
            u, a, b = oid(), oid(), oid()
            await seed(
                mongo_db,
                users=[u],
                companies=[company(a, "Acme"), company(b, "Beta")],
                prefs=[(u, a, 80, True), (u, b, 60, True)],
            )
            report = await run_sync(db=mongo_db, kube=as_sync, namespace=namespace)
            assert not report.errors, report.errors
            assert report.counts()["create"] == 2
            assert (await targets(kube, namespace))[f"co-{a}"]["spec"]["rank"] == 80
            await mongo_db["usercompanypreferences"].update_one({"companyId": a}, {"$set": {"rank": 90}})
            report = await run_sync(db=mongo_db, kube=as_sync, namespace=namespace)
            assert not report.errors and report.counts()["update"] == 1, report.counts()
            assert (await targets(kube, namespace))[f"co-{a}"]["spec"]["rank"] == 90

        op_kc = await service_account_kubeconfig(
            kube, local_env, namespace, f"{rel}-scoutly-operator", tmp_path / "op.kubeconfig"
        )
        async with await KubeClient.connect(kubeconfig=str(op_kc)) as as_op:
            elector = LeaseElector(
                as_op, namespace=namespace, name=f"{rel}-scoutly-operator", identity="pod-a", duration=15
            )
            assert await elector._try()  # create
            assert await elector._try()  # get + update (renew)
            elector.leader = True
            await elector.release()
            lease = await kube.get(
                ns_path("coordination.k8s.io/v1", namespace, "leases", f"{rel}-scoutly-operator")
            )
            assert lease["spec"].get("holderIdentity") is None
            # another Lease name, another namespace: not allowed
            assert not await _allowed(as_op, "default", "coordination.k8s.io", "leases", "create")
            other = LeaseElector(
                as_op, namespace=namespace, name="someone-else", identity="pod-a", duration=15
            )
            other_path = ns_path("coordination.k8s.io/v1", namespace, "leases", "someone-else")
            await kube.create(
                ns_path("coordination.k8s.io/v1", namespace, "leases"),
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": "someone-else"},
                },
            )
            with pytest.raises(ApiError) as denied:
                await other._try()
            assert denied.value.status == 403 and other_path
    finally:
        uninstall(local_env, rel, namespace)
