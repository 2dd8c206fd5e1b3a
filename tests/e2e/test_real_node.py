"""The chart's operator in its own pod, and `scoutly scrape` in real Job pods, on a real node: the image,
its entrypoint, the restricted security context, the Secret wiring, in-cluster config under the
chart's ServiceAccount, the termination message, and what lands in MongoDB in the app's formats."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.testing.wait import eventually
from tests import appdata
from tests.e2e.conftest import RELEASE, Cluster, World

pytestmark = [pytest.mark.e2e]
DB = AsyncDatabase[dict[str, Any]]
OPERATOR = f"{RELEASE}-scoutly-operator"


def _target(name: str, board: str, world: World, cluster: Cluster, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "scoutly.io/v1alpha1",
        "kind": "ScrapeTarget",
        "metadata": {"name": name},
        "spec": {
            "company": name.title(),
            "rank": 90,
            "source": {"url": f"https://boards.greenhouse.io/{board}"},
            **spec,
        },
    }


def _get(cluster: Cluster, ns: str, kind: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
    return json.loads(out) if out else {}


async def _phase(cluster: Cluster, ns: str, name: str, *phases: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        st = _get(cluster, ns, "scrapetarget", name).get("status") or {}
        return st if st.get("phase") in phases else None

    try:
        return await eventually(probe, timeout=180, interval=1, what=f"{name} in phase {phases}")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_diagnose(cluster, ns, name)}") from None


def _diagnose(cluster: Cluster, ns: str, name: str) -> str:
    """Where a target stands: its status, its Job's pods, the operator's log."""
    status = _get(cluster, ns, "scrapetarget", name).get("status")
    pods = [(p["metadata"]["name"], p["status"]) for p in _pods_of(cluster, ns, name)]
    logs = cluster.kubectl("logs", "-n", ns, f"deploy/{OPERATOR}", "--tail=30", check=False)
    return f"status: {status}\npods: {pods}\noperator log:\n{logs}"


def _pods_of(cluster: Cluster, ns: str, target: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", "-n", ns, "-l", f"scoutly.io/target={target}", "-o", "json")
    return list(json.loads(out)["items"])


async def test_operator_runs_in_cluster_under_the_charts_service_account(
    cluster: Cluster, release: str
) -> None:
    pods = json.loads(
        cluster.kubectl(
            "get", "pods", "-n", release, "-l", "app.kubernetes.io/name=scoutly-operator", "-o", "json"
        )
    )["items"]
    assert len(pods) == 1, pods
    pod = pods[0]
    if cluster.node_name:
        assert pod["spec"]["nodeName"] == cluster.node_name
    assert pod["spec"]["serviceAccountName"] == OPERATOR
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == "True"  # the chart's readinessProbe answered
    # kubectl exec and logs reach the container through the node's kubelet
    version = cluster.kubectl("exec", "-n", release, pod["metadata"]["name"], "--", "scoutly", "--version")
    assert version.startswith("scoutly ")
    metrics = cluster.kubectl(
        "exec", "-n", release, pod["metadata"]["name"], "--",
        "python", "-c", "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/metrics').read().decode())",
    )  # fmt: skip
    assert "scoutly_" in metrics
    logs = cluster.kubectl("logs", "-n", release, pod["metadata"]["name"])
    assert "Traceback" not in logs


async def test_scrape_in_a_real_pod_lands_in_mongodb(
    cluster: Cluster, release: str, world: World, mongo: DB
) -> None:
    company = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
    user = appdata.user("jane@example.com", info=appdata.candidate_info(goals=("Backend Engineer",)))
    await mongo["companies"].insert_one(company)
    await mongo["users"].insert_one(user)
    await mongo["usercompanypreferences"].insert_one(appdata.preference(user, company, 90))
    target = _target("acme", "acme", world, cluster, companyId=str(company["_id"]))
    cluster.kubectl("apply", "-n", release, "-f", "-", input=json.dumps(target))

    status = await _phase(cluster, release, "acme", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status
    last = status["lastJob"]
    assert last["postingsFound"] == 6 and last["postingsNew"] == 6, last
    assert last["matches"] >= 1 and last["tokens"] > 0, last  # the LLM server was reached over the bridge
    # ... with the API key from the chart's Secret: the fake LLM answers only that key
    assert world.llm.calls >= 1

    pods = _pods_of(cluster, release, "acme")
    assert pods, "the Job's pod is gone"
    pod = pods[-1]
    if cluster.node_name:
        assert pod["spec"]["nodeName"] == cluster.node_name
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0
    assert json.loads(term["message"])["postingsFound"] == 6  # the termination message of the scrape

    assert await mongo["jobpostings"].count_documents({}) == 6
    queue = await mongo["jobqueues"].find({"companyId": company["_id"]}).to_list()
    assert [q["status"] for q in queue] == ["completed"], queue
    problems = appdata.validate_all("jobqueues", queue)
    problems += appdata.validate_all("tokenusages", await mongo["tokenusages"].find().to_list())
    problems += appdata.validate_all("savedjobs", await mongo["savedjobs"].find().to_list())
    assert problems == []
    # one verdict per (posting, candidate); the matches are what the app shows, as savedjobs
    assert await mongo["jobmatches"].count_documents({}) == 6
    saved = await mongo["savedjobs"].find({"userId": str(user["_id"])}).to_list()
    assert len(saved) == last["matches"], saved


async def test_board_404_fails_with_the_scrapes_own_reason(
    cluster: Cluster, release: str, world: World
) -> None:
    cluster.kubectl(
        "apply", "-n", release, "-f", "-", input=json.dumps(_target("gone", "nosuchboard", world, cluster))
    )
    status = await _phase(cluster, release, "gone", "Failed", "Succeeded", "Retrying")
    assert status["phase"] in ("Failed", "Retrying"), status
    message = status["lastJob"]["message"] or ""
    assert "404" in message, status["lastJob"]  # from the pod's termination message, not a generic reason
    assert status["consecutiveFailures"] >= 1


async def test_pod_killed_mid_scrape_is_a_recorded_failure(
    cluster: Cluster, release: str, world: World, mongo: DB
) -> None:
    world.boards.delay["slowco"] = 300  # the board never answers in time: the Job's deadline kills the pod
    company = appdata.company("slowco", "Slowco", "https://boards.greenhouse.io/slowco")
    await mongo["companies"].insert_one(company)  # the app's queue documents need its company
    target = _target(
        "slowco",
        "slowco",
        world,
        cluster,
        companyId=str(company["_id"]),
        jobTemplate={"activeDeadlineSeconds": 20},
    )
    cluster.kubectl("apply", "-n", release, "-f", "-", input=json.dumps(target))

    async def started() -> bool:
        return world.boards.hits.get("slowco", 0) > 0

    await eventually(started, timeout=120, interval=0.5, what="the slow board to be asked")
    status = await _phase(cluster, release, "slowco", "Failed", "Retrying", "Succeeded")
    assert status["phase"] in ("Failed", "Retrying"), status
    assert status["lastJob"]["result"] == "Failed"
    assert "DeadlineExceeded" in (status["lastJob"].get("reason") or ""), status["lastJob"]
    queue = await mongo["jobqueues"].find({"jobName": status["lastJob"]["name"]}).to_list()
    assert [q["status"] for q in queue] == ["failed"], queue


async def test_a_missing_secret_is_reported_on_the_target(
    cluster: Cluster, release: str, world: World
) -> None:
    cluster.kubectl("delete", "secret", "scoutly-mongodb", "-n", release)
    try:
        target = _target("nosecret", "globex", world, cluster)
        cluster.kubectl("apply", "-n", release, "-f", "-", input=json.dumps(target))

        async def reported() -> dict[str, Any] | None:
            st = _get(cluster, release, "scrapetarget", "nosecret").get("status") or {}
            text = json.dumps(st.get("conditions", [])) + json.dumps(st.get("lastJob") or {})
            return st if "scoutly-mongodb" in text else None

        try:
            status = await eventually(
                reported, timeout=120, interval=1, what="the missing Secret on the target"
            )
        except AssertionError as e:
            raise AssertionError(f"{e}\n{_diagnose(cluster, release, 'nosecret')}") from None
        assert status["phase"] != "Succeeded"
        scraping = next(c for c in status["conditions"] if c["type"] == "Scraping")
        assert scraping["reason"] == "PodBlocked", scraping
        assert "CreateContainerConfigError" in scraping["message"], scraping
    finally:
        mongo_uri = f"{cluster.mongo_uri.rstrip('/')}/scoutly_e2e"
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "scoutly-mongodb", "namespace": release},
            "stringData": {"uri": mongo_uri},
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


async def test_zz_helm_uninstall_keeps_the_crd_and_leaves_no_pods(cluster: Cluster, release: str) -> None:
    cluster.helm("uninstall", RELEASE, "--namespace", release, "--wait")

    async def nothing_runs() -> list[str] | None:
        pods = json.loads(cluster.kubectl("get", "pods", "-n", release, "-o", "json"))["items"]
        live = [
            p["metadata"]["name"]
            for p in pods
            if p["status"].get("phase") in ("Pending", "Running")
            or p["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "scoutly-operator"
        ]
        return None if live else ["none"]

    # finished scrape pods stay with their Jobs (history), owned by the targets the CRD keeps
    await eventually(nothing_runs, timeout=120, interval=1, what="no operator pod and no running pod left")
    assert cluster.kubectl("get", "crd", "scrapetargets.scoutly.io", "-o", "name").strip()
    assert cluster.kubectl("get", "scrapetargets", "-n", release, "-o", "name").strip()
