"""Smoke tests: the local environment is a real Kubernetes control plane and MongoDB-protocol server."""

from __future__ import annotations

import os
from typing import Any

import pymongo
import pymongo.errors
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from scoutly.kube.client import ApiError, KubeClient, ns_path
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually

pytestmark = [pytest.mark.cluster]

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.scoutly.io"},
    "spec": {
        "group": "smoke.scoutly.io",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer", "minimum": 1}},
                            }
                        },
                    }
                },
            }
        ],
    },
}


def _job(name: str, annotations: dict[str, str] | None = None, backoff: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff,
            "template": {
                "metadata": {"annotations": annotations or {}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "example.invalid/none:1"}],
                },
            },
        },
    }


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c["type"] == kind and c["status"] == "True":
            return dict(c)
    return None


async def test_api_server_is_real_kubernetes(kube: KubeClient) -> None:
    version = await kube.get("/version")
    assert version["gitVersion"].startswith("v1.36."), version
    # the control plane's own system namespaces exist only on a real API server
    names = {n["metadata"]["name"] for n in (await kube.get("/api/v1/namespaces"))["items"]}
    assert {"default", "kube-system", "kube-node-lease"} <= names


async def test_crd_and_custom_object_round_trip(kube: KubeClient, namespace: str) -> None:
    try:
        await kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", WIDGET_CRD)
    except ApiError as e:
        assert e.already_exists, e

    async def established() -> bool:
        crd = await kube.get(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.smoke.scoutly.io"
        )
        return any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (crd.get("status") or {}).get("conditions") or []
        )

    await eventually(established, what="CRD Established")
    path = ns_path("smoke.scoutly.io/v1", namespace, "widgets")
    body = {
        "apiVersion": "smoke.scoutly.io/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3},
    }

    # a freshly established CRD may need a moment before its REST endpoint serves
    async def create_when_served() -> dict[str, Any] | None:
        try:
            return await kube.create(path, body)
        except ApiError as e:
            if e.not_found:
                return None
            raise

    created = await eventually(create_when_served, what="custom object created")
    assert created["spec"]["size"] == 3
    got = await kube.get(f"{path}/w1")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    # the schema is enforced by the server
    bad = {**body, "metadata": {"name": "w2"}, "spec": {"size": 0}}
    with pytest.raises(ApiError) as err:
        await kube.create(path, bad)
    assert err.value.status == 422 and "spec.size" in err.value.message


async def test_job_completes_through_job_controller_and_kwok(kube: KubeClient, namespace: str) -> None:
    path = ns_path("batch/v1", namespace, "jobs")
    await kube.create(path, _job("ok"))

    async def complete() -> dict[str, Any] | None:
        return _condition(await kube.get(f"{path}/ok"), "Complete")

    await eventually(complete, timeout=60, what="Job condition Complete")
    job = await kube.get(f"{path}/ok")
    assert job["status"]["succeeded"] == 1
    pods = await kube.get(ns_path("v1", namespace, "pods"), labelSelector="job-name=ok")
    assert pods["items"][0]["spec"]["nodeName"].startswith("kwok-node-")  # placed by the real scheduler
    assert pods["items"][0]["status"]["phase"] == "Succeeded"


async def test_job_fails_with_backoff_limit_exceeded(kube: KubeClient, namespace: str) -> None:
    path = ns_path("batch/v1", namespace, "jobs")
    await kube.create(path, _job("bad", {"scoutly.io/kwok-exit-code": "3"}, backoff=1))

    async def failed() -> dict[str, Any] | None:
        return _condition(await kube.get(f"{path}/bad"), "Failed")

    cond = await eventually(failed, timeout=90, what="Job condition Failed")
    assert cond["reason"] == "BackoffLimitExceeded"
    job = await kube.get(f"{path}/bad")
    assert job["status"]["failed"] == 2  # the real Job controller retried once (backoffLimit 1)
    pods = await kube.get(ns_path("v1", namespace, "pods"), labelSelector="job-name=bad")
    codes = {p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods["items"]}
    assert codes == {3}


async def test_rbac_denies_a_service_account(kube: KubeClient, namespace: str) -> None:
    sa = f"system:serviceaccount:{namespace}:nobody"
    with pytest.raises(ApiError) as err:
        await kube.request("GET", ns_path("v1", namespace, "pods"), headers={"Impersonate-User": sa})
    assert err.value.status == 403 and "forbidden" in err.value.message
    # and a Role binding grants exactly what it says
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    await kube.create(
        f"{rbac}/roles",
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        },
    )
    await kube.create(
        f"{rbac}/rolebindings",
        {
            "metadata": {"name": "nobody-reads"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": namespace}],
        },
    )

    async def allowed() -> bool:
        await kube.request("GET", ns_path("v1", namespace, "pods"), headers={"Impersonate-User": sa})
        return True

    async def probe() -> bool:
        try:
            return await allowed()
        except ApiError as e:
            assert e.status == 403, e
            return False

    await eventually(probe, what="RoleBinding to take effect")
    with pytest.raises(ApiError) as err:
        await kube.request("DELETE", ns_path("v1", namespace, "pods", "x"), headers={"Impersonate-User": sa})
    assert err.value.status == 403


@pytest.mark.mongo
async def test_mongodb_protocol_round_trip(mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    coll = mongo_db["roundtrip"]
    await coll.create_index([("key", pymongo.ASCENDING)], unique=True)
    await coll.insert_one({"key": "a", "status": "pending", "attempts": 0})
    with pytest.raises(DuplicateKeyError):
        await coll.insert_one({"key": "a", "status": "pending"})
    doc = await coll.find_one_and_update(
        {"key": "a"},
        {"$set": {"status": "processing"}, "$inc": {"attempts": 1}},
        return_document=pymongo.ReturnDocument.AFTER,
    )
    assert doc is not None and doc["status"] == "processing" and doc["attempts"] == 1
    upserted = await coll.find_one_and_update(
        {"key": "b"},
        {"$setOnInsert": {"status": "pending"}},
        upsert=True,
        return_document=pymongo.ReturnDocument.AFTER,
    )
    assert upserted is not None and upserted["status"] == "pending"
    assert await coll.count_documents({}) == 2


@pytest.mark.mongo
async def test_what_the_operator_relies_on_in_ferretdb(mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    """FerretDB v1.24, the embedded default: capped collections as the app's Log model creates them,
    partial indexes refused (so the operator's definitions are asserted as data in the unit tests)."""
    if os.environ.get("SCOUTLY_TEST_MONGODB_URI"):
        pytest.skip("FerretDB facts; a real MongoDB builds partial indexes")
    await mongo_db.create_collection("logs", capped=True, size=52_428_800, max=10_000)
    info = [i async for i in await mongo_db.list_collections(filter={"name": "logs"})]
    assert info[0]["options"]["capped"] is True and info[0]["options"]["max"] == 10_000
    with pytest.raises(pymongo.errors.OperationFailure, match="partialFilterExpression"):
        await mongo_db["x"].create_index(
            [("jobName", 1)], unique=True, partialFilterExpression={"jobName": {"$exists": True}}
        )


async def test_environment_wrote_a_usable_kubeconfig(local_env: LocalEnv) -> None:
    out = local_env.kubectl("get", "nodes", "-o", "name").stdout.split()
    assert sorted(out) == [f"node/kwok-node-{i}" for i in range(local_env.nodes)]
