"""helm install / upgrade / uninstall against the real API server (server-side validation included)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from scoutly.kube.client import ApiError, KubeClient, ns_path
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually
from tests.integration.chart.cluster import CRD_PATH, install, let_helm_adopt_crd, release_name, uninstall
from tests.integration.chart.helm import CHART, helm
from tests.integration.controller.helpers import create_target, get_target

pytestmark = pytest.mark.cluster


async def _established(kube: KubeClient) -> bool:
    crd = await kube.get(CRD_PATH)
    return any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])


async def test_install_creates_crd_rbac_and_deployment(
    local_env: LocalEnv, kube: KubeClient, namespace: str
) -> None:
    rel = release_name("inst")
    await let_helm_adopt_crd(kube, rel, namespace)
    try:
        out = install(local_env, rel, namespace)
        assert "Next steps" in out  # NOTES.txt
        full = f"{rel}-scoutly-operator"
        crd = await kube.get(CRD_PATH)
        assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == rel
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        await eventually(lambda: _established(kube), what="CRD established")
        sa = await kube.get(ns_path("v1", namespace, "serviceaccounts", full))
        assert sa["metadata"]["labels"]["app.kubernetes.io/instance"] == rel
        scrape = await kube.get(ns_path("v1", namespace, "serviceaccounts", "scoutly-scrape"))
        assert scrape["automountServiceAccountToken"] is False
        # namespace-scoped by default: a Role and RoleBinding in the release namespace, no cluster binding
        role = await kube.get(ns_path("rbac.authorization.k8s.io/v1", namespace, "roles", full))
        assert role["rules"]
        binding = await kube.get(ns_path("rbac.authorization.k8s.io/v1", namespace, "rolebindings", full))
        assert binding["subjects"][0] == {"kind": "ServiceAccount", "name": full, "namespace": namespace}
        with pytest.raises(ApiError) as no_cluster_binding:
            await kube.get(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{full}")
        assert no_cluster_binding.value.not_found
        for people in ("scoutly-view", "scoutly-edit"):
            await kube.get(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{people}")
        policy = await kube.get(
            ns_path("networking.k8s.io/v1", namespace, "networkpolicies", f"{full}-scrape")
        )
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        dep = await kube.get(ns_path("apps/v1", namespace, "deployments", full))
        assert dep["spec"]["template"]["spec"]["serviceAccountName"] == full
        await kube.get(ns_path("v1", namespace, "services", f"{full}-metrics"))
        await kube.get(ns_path("v1", namespace, "configmaps", f"{full}-dashboard"))
        # the real Deployment controller accepted it: a ReplicaSet exists
        rs = await eventually(
            lambda: kube.get(
                ns_path("apps/v1", namespace, "replicasets"),
                labelSelector=f"app.kubernetes.io/instance={rel}",
            ),
            what="ReplicaSet of the Deployment",
        )
        assert rs["items"]
        status = helm("status", rel, "-n", namespace, "-o", "yaml", kubeconfig=local_env.kubeconfig).stdout
        assert yaml.safe_load(status)["info"]["status"] == "deployed"
    finally:
        uninstall(local_env, rel, namespace)


async def test_invalid_values_fail_install_naming_the_key(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    bad = tmp_path / "values.yaml"
    bad.write_text("watchNamespaces: [Not_A_Namespace]\nserviceMonitor:\n  enabled: yes-please\n")
    proc = helm(
        "install",
        "bad",
        str(CHART),
        "-n",
        namespace,
        "-f",
        str(bad),
        kubeconfig=local_env.kubeconfig,
        check=False,
    )
    assert proc.returncode != 0
    assert "/watchNamespaces/0" in proc.stderr
    assert "/serviceMonitor/enabled" in proc.stderr
    listed = helm("list", "-n", namespace, "-q", kubeconfig=local_env.kubeconfig).stdout
    assert listed.strip() == ""


async def test_upgrade_from_previous_chart_keeps_crd_and_targets_and_uninstall_keeps_crd(
    local_env: LocalEnv, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    # "previous release": the same chart with a lower version (no chart has been released yet)
    old = tmp_path / "scoutly-operator"
    shutil.copytree(CHART, old)
    meta = yaml.safe_load((old / "Chart.yaml").read_text())
    meta["version"] = "0.0.1"
    (old / "Chart.yaml").write_text(yaml.safe_dump(meta))
    rel = release_name("upg")
    await let_helm_adopt_crd(kube, rel, namespace)
    try:
        install(local_env, rel, namespace, chart=old)
        await eventually(lambda: _established(kube), what="CRD established")
        uid = (await kube.get(CRD_PATH))["metadata"]["uid"]
        await create_target(kube, namespace, "acme", rank=70)

        install(local_env, rel, namespace, "--reuse-values", upgrade=True)
        hist = yaml.safe_load(
            helm("history", rel, "-n", namespace, "-o", "yaml", kubeconfig=local_env.kubeconfig).stdout
        )
        assert [h["chart"] for h in hist] == [
            "scoutly-operator-0.0.1",
            f"scoutly-operator-{yaml.safe_load((CHART / 'Chart.yaml').read_text())['version']}",
        ]
        assert hist[-1]["status"] == "deployed"
        crd = await kube.get(CRD_PATH)
        assert crd["metadata"]["uid"] == uid
        assert crd["metadata"]["labels"]["helm.sh/chart"].endswith("0.1.0")
        assert (await get_target(kube, namespace, "acme"))["spec"]["rank"] == 70
    finally:
        uninstall(local_env, rel, namespace)
    # crds.keep: the CRD and the targets outlive the release; the release's own objects are gone
    assert (await kube.get(CRD_PATH))["metadata"]["uid"] == uid
    assert (await get_target(kube, namespace, "acme"))["spec"]["company"] == "Acme"
    for path in (
        ns_path("rbac.authorization.k8s.io/v1", namespace, "roles", f"{rel}-scoutly-operator"),
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/scoutly-edit",
    ):
        with pytest.raises(ApiError) as gone:
            await kube.get(path)
        assert gone.value.not_found
