"""Installing the chart into the test cluster, and acting as its ServiceAccount."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml

from scoutly.kube.client import ApiError, KubeClient
from scoutly.testing.env import LocalEnv
from tests.integration.chart.helm import CHART, helm

CRD_NAME = "scrapetargets.scoutly.io"
CRD_PATH = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"


def release_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(2)}"


async def let_helm_adopt_crd(kube: KubeClient, release: str, namespace: str) -> None:
    """The session may already hold the CRD (other tests create it): mark it as this release's, the way
    Helm adopts existing objects, so `helm install` with crds.enabled takes it over instead of failing."""
    try:
        await kube.merge_patch(
            CRD_PATH,
            {
                "metadata": {
                    "labels": {"app.kubernetes.io/managed-by": "Helm"},
                    "annotations": {
                        "meta.helm.sh/release-name": release,
                        "meta.helm.sh/release-namespace": namespace,
                    },
                }
            },
        )
    except ApiError as e:
        if not e.not_found:
            raise


def install(
    env: LocalEnv, release: str, namespace: str, *args: str, chart: Path = CHART, upgrade: bool = False
) -> str:
    verb = ["upgrade"] if upgrade else ["install"]
    return helm(*verb, release, str(chart), "--namespace", namespace, *args, kubeconfig=env.kubeconfig).stdout


def uninstall(env: LocalEnv, release: str, namespace: str) -> None:
    helm("uninstall", release, "--namespace", namespace, "--wait", kubeconfig=env.kubeconfig, check=False)


async def service_account_kubeconfig(
    kube: KubeClient, env: LocalEnv, namespace: str, sa: str, path: Path
) -> Path:
    """A kubeconfig holding a bound token of the ServiceAccount (TokenRequest API)."""
    tr = await kube.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    return _write_kubeconfig(env, tr["status"]["token"], sa, path)


def _write_kubeconfig(env: LocalEnv, token: str, user: str, path: Path) -> Path:
    admin: dict[str, Any] = yaml.safe_load(env.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": user,
        "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": cluster["name"], "user": user}}],
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
