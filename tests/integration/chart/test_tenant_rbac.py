"""Issue 16, item 2: the chart with its default values, the operator running with exactly the chart's
rights (a token of its ServiceAccount), and a user who holds only `scoutly-edit` in one namespace
(impersonated by the admin client, as `kubectl --as` does). That user gets a scrape, and every escalation
of the issue fails with a message that says why."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from scoutly.kube.client import ApiError, KubeClient, ns_path
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually
from tests.integration.chart.cluster import install, release_name, service_account_kubeconfig, uninstall
from tests.integration.chart.test_rbac import SUMMARY, _allowed
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import ST, get_target, jobs_of, target_body

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]

USER = "mallory"


@pytest_asyncio.fixture
async def as_user(local_env: LocalEnv) -> AsyncIterator[KubeClient]:
    client = await KubeClient.connect(kubeconfig=str(local_env.kubeconfig))
    client._api.set_default_header("Impersonate-User", USER)
    yield client
    await client.close()


async def _refused(call: Any, status: int) -> str:
    with pytest.raises(ApiError) as refused:
        await call
    assert refused.value.status == status, refused.value
    return refused.value.message


async def test_a_scoutly_edit_user_gets_a_scrape_and_nothing_more(
    local_env: LocalEnv,
    kube: KubeClient,
    namespace: str,
    start_operator: OperatorFactory,
    as_user: KubeClient,
    tmp_path: Path,
) -> None:
    rel = release_name("tenant")
    # the chart's defaults: namespace-scoped, NetworkPolicy on, aggregated roles
    install(
        local_env, rel, namespace, "--set", "crds.enabled=false", "--set", "grafanaDashboard.enabled=false"
    )
    try:
        rendered = await kube.get(ns_path("networking.k8s.io/v1", namespace, "networkpolicies"))
        assert [p["metadata"]["name"] for p in rendered["items"]] == [f"{rel}-scoutly-operator-scrape"]
        assert not (await kube.get("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"))["items"] or all(
            b["roleRef"]["name"] != f"{rel}-scoutly-operator"
            for b in (await kube.get("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"))["items"]
        )
        await kube.create(
            ns_path("rbac.authorization.k8s.io/v1", namespace, "rolebindings"),
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": f"{USER}-scoutly-edit"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "scoutly-edit",
                },
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
            },
        )
        kubeconfig = await service_account_kubeconfig(
            kube, local_env, namespace, f"{rel}-scoutly-operator", tmp_path / "sa.kubeconfig"
        )
        await start_operator(
            kubeconfig=str(kubeconfig),
            namespaces=namespace,
            extra_pod_annotations=json.dumps(
                {"scoutly.io/kwok-duration": "300ms", "scoutly.io/kwok-message": json.dumps(SUMMARY)}
            ),
        )
        targets = ns_path(ST, namespace, "scrapetargets")

        async def allowed() -> bool:  # the RoleBinding is in effect
            return await _allowed(as_user, namespace, "scoutly.io", "scrapetargets", "create")

        await eventually(allowed, what="scoutly-edit in effect")

        # what the user may do: a scrape (with a time zone), under the operator's chart rights
        ok = target_body("acme", cooldown="1h", jobTemplate={"env": [{"name": "TZ", "value": "UTC"}]})
        await as_user.create(targets, ok)

        async def succeeded() -> bool:
            t = await get_target(kube, namespace, "acme")
            return (t.get("status") or {}).get("phase") == "Succeeded"

        await eventually(succeeded, timeout=45, what="the user's target scraped")

        # every escalation of the issue, as that user
        env_attacks = {
            "ssrf": ("SCOUTLY_SCRAPE_ALLOW_PRIVATE_HOSTS", "127.0.0.1,10.0.0.0/8"),
            "robots": ("SCOUTLY_SCRAPE_RESPECT_ROBOTS", "false"),
            "rate": ("SCOUTLY_SCRAPE_RATE_PER_HOST", "1000"),
            "key": ("openai_base_url", "https://evil.example/v1"),
            "key-upper": ("OPENAI_BASE_URL", "https://evil.example/v1"),
            "proxy": ("https_proxy", "http://evil.example:3128"),
        }
        for case, (name, value) in env_attacks.items():
            body = target_body(f"env-{case}", jobTemplate={"env": [{"name": name, "value": value}]})
            message = await _refused(as_user.create(targets, body), 422)
            assert "spec.jobTemplate.env[0].name" in message and "may only be TZ" in message, message
            # nor by patching the target they may edit
            patch = {"spec": {"jobTemplate": {"env": [{"name": name, "value": value}]}}}
            message = await _refused(as_user.merge_patch(f"{targets}/acme", patch), 422)
            assert "spec.jobTemplate.env[0].name" in message, message
        for key in ("scoutly.io/target", "batch.kubernetes.io/job-name"):
            body = target_body("label", jobTemplate={"labels": {key: "x"}})
            message = await _refused(as_user.create(targets, body), 422)
            assert "spec.jobTemplate.labels" in message, message
        body = target_body("cpu", jobTemplate={"resources": {"requests": {"cpu": "."}}})
        message = await _refused(as_user.create(targets, body), 422)
        assert "spec.jobTemplate.resources.requests.cpu" in message, message

        # their own image: admitted (the API server cannot know the operator's policy), never run
        await as_user.create(
            targets, target_body("image", jobTemplate={"image": "evil.example/steal:latest"})
        )

        async def image_refused() -> dict[str, Any] | None:
            conds = (await as_user.get(f"{targets}/image")).get("status", {}).get("conditions") or []
            ready = next((c for c in conds if c["type"] == "Ready"), None)
            return ready if ready and ready["reason"] == "InvalidSpec" else None

        ready = await eventually(image_refused, timeout=30, what="InvalidSpec on the user's image")
        assert "spec.jobTemplate.image" in ready["message"] and "not allowed" in ready["message"]
        assert await jobs_of(kube, namespace, "image") == []

        # around the operator: Jobs, pods, Secrets, the status, RBAC, other namespaces
        job = (await jobs_of(kube, namespace, "acme"))[0]
        job_copy = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "mine"},
            "spec": job["spec"]["template"] and {"template": {"spec": job["spec"]["template"]["spec"]}},
        }
        forbidden = [
            ("create jobs", lambda: as_user.create(ns_path("batch/v1", namespace, "jobs"), job_copy)),
            ("list jobs", lambda: as_user.get(ns_path("batch/v1", namespace, "jobs"))),
            (
                "create pods",
                lambda: as_user.create(
                    ns_path("v1", namespace, "pods"),
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": "p"},
                        "spec": job_copy["spec"]["template"]["spec"],
                    },
                ),
            ),
            ("get secrets", lambda: as_user.get(ns_path("v1", namespace, "secrets", "scoutly-mongodb"))),
            ("list secrets", lambda: as_user.get(ns_path("v1", namespace, "secrets"))),
            (
                "patch scrapetargets/status",
                lambda: as_user.merge_patch(
                    f"{targets}/acme/status", {"status": {"lastSuccessfulScrape": None}}
                ),
            ),
            (
                "create rolebindings",
                lambda: as_user.create(
                    ns_path("rbac.authorization.k8s.io/v1", namespace, "rolebindings"),
                    {
                        "apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "RoleBinding",
                        "metadata": {"name": "escalate"},
                        "roleRef": {
                            "apiGroup": "rbac.authorization.k8s.io",
                            "kind": "ClusterRole",
                            "name": "admin",
                        },
                        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
                    },
                ),
            ),
            (
                "create scrapetargets elsewhere",
                lambda: as_user.create(ns_path(ST, "default", "scrapetargets"), ok),
            ),
            ("list scrapetargets cluster-wide", lambda: as_user.get(f"/apis/{ST}/scrapetargets")),
        ]
        for what, call in forbidden:
            message = await _refused(call(), 403)
            assert f'User "{USER}" cannot' in message, (what, message)
    finally:
        uninstall(local_env, rel, namespace)


async def test_the_aggregated_roles_extend_the_built_in_ones(
    local_env: LocalEnv, kube: KubeClient, namespace: str
) -> None:
    """The clusterrole-aggregation controller folds scoutly-view into view and scoutly-edit into edit."""
    rel = release_name("agg")
    install(
        local_env, rel, namespace, "--set", "crds.enabled=false", "--set", "grafanaDashboard.enabled=false"
    )
    try:

        def verbs(role: dict[str, Any]) -> set[str]:
            return {
                v
                for r in role.get("rules") or []
                if "scoutly.io" in r.get("apiGroups", []) and "scrapetargets" in r.get("resources", [])
                for v in r.get("verbs", [])
            }

        async def aggregated() -> tuple[set[str], set[str]] | None:
            view = verbs(await kube.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/view"))
            edit = verbs(await kube.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/edit"))
            return (view, edit) if view and "create" in edit else None

        view, edit = await eventually(aggregated, timeout=30, what="aggregation into view and edit")
        assert view == {"get", "list", "watch"}
        assert {"create", "update", "patch", "delete"} <= edit
    finally:
        uninstall(local_env, rel, namespace)
