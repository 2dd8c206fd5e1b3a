"""End-to-end fixtures: a cluster whose pods really run (the real node of scoutly.testing.node, or any
cluster through E2E_KUBECONFIG), the chart installed by helm with the locally built image, and the
outside world of a scrape (job boards, an OpenAI-compatible server) on an address the pods reach.

Against another cluster (e.g. kind): E2E_KUBECONFIG, E2E_HOST_IP (an address of this machine the pods
reach, e.g. the docker bridge gateway), E2E_MONGODB_URI (a MongoDB both this machine and the pods reach),
E2E_IMAGE (default localhost/scoutly-operator:dev, loaded into the cluster beforehand)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.kube.client import KubeClient
from scoutly.testing.demo_services import API_KEY, Boards, FakeLLM, serve
from scoutly.testing.env import REPO_ROOT, LocalEnv, image_archive, locate_binaries
from scoutly.testing.node import NODE_NAME, NodeState, node_gap

RELEASE = "scoutly"
NAMESPACE = "scoutly-e2e"
DATABASE = "scoutly_e2e"
CHART = REPO_ROOT / "charts" / "scoutly-operator"


@dataclass
class Cluster:
    kubeconfig: Path
    host: str  # where pods reach servers on this machine
    mongo_uri: str  # reachable from this machine and from pods
    image: str
    bin_dir: Path
    node_name: str | None  # the real node, when the pods must land there
    node: NodeState | None = None  # what the real node made on this machine (bridge, ranges)
    api_port: int = 0  # the API server's port on `host` (the real node's environment)

    def tool(self, name: str) -> str:
        path = self.bin_dir / name
        return str(path) if path.exists() else name

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        proc = subprocess.run(
            [self.tool("kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def helm(self, *args: str) -> str:
        proc = subprocess.run(
            [self.tool("helm"), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout


def unavailable(reason: str) -> None:
    """No real node here: a skip that says why, or a failure where it must run (CI)."""
    if os.environ.get("SCOUTLY_REQUIRE_REAL_NODE") == "1":
        pytest.fail(f"SCOUTLY_REQUIRE_REAL_NODE=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    image = os.environ.get("E2E_IMAGE", "localhost/scoutly-operator:dev")
    if os.environ.get("E2E_KUBECONFIG"):
        missing = [v for v in ("E2E_HOST_IP", "E2E_MONGODB_URI") if not os.environ.get(v)]
        if missing:
            pytest.fail(f"E2E_KUBECONFIG is set: set {', '.join(missing)} as well (tests/e2e/conftest.py)")
        yield Cluster(
            Path(os.environ["E2E_KUBECONFIG"]),
            os.environ["E2E_HOST_IP"],
            os.environ["E2E_MONGODB_URI"],
            image,
            locate_binaries(),
            None,
        )
        return
    bin_dir = locate_binaries()
    if gap := node_gap(bin_dir):
        unavailable(f"no real node on this machine: {gap}")
    archive = image_archive()
    if not archive.exists():
        unavailable(f"no image archive at {archive}: run 'make image'")
    tmp = Path(tempfile.mkdtemp(prefix="scoutly-e2e-"))
    env = LocalEnv(workdir=tmp, nodes=1, real_node=True, images=[archive], bin_dir=bin_dir)
    env.start()
    try:
        yield Cluster(
            env.kubeconfig, env.host, env.mongo_uri, image, bin_dir, NODE_NAME, env.node_state, env.api_port
        )
    finally:
        env.stop()
        if not os.environ.get("SCOUTLY_KEEP_TESTENV"):
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class World:
    boards: Boards
    boards_url: str
    llm: FakeLLM
    llm_url: str


@pytest_asyncio.fixture(scope="session")
async def world(cluster: Cluster) -> AsyncIterator[World]:
    boards, llm = Boards(boards=("acme", "globex", "slowco")), FakeLLM()
    async with serve(boards.app(), cluster.host) as b, serve(llm.app(), cluster.host) as o:
        yield World(boards, b, llm, o)


@pytest_asyncio.fixture(scope="session")
async def mongo(cluster: Cluster) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(cluster.mongo_uri, tz_aware=True)
    await client.drop_database(DATABASE)
    yield client[DATABASE]
    await client.close()


@pytest_asyncio.fixture(scope="session")
async def kube(cluster: Cluster) -> AsyncIterator[KubeClient]:
    client = await KubeClient.connect(kubeconfig=str(cluster.kubeconfig))
    yield client
    await client.close()


def _secret(cluster: Cluster, name: str, **data: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "stringData": data,
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


@pytest.fixture(scope="session")
def release(cluster: Cluster, world: World, mongo: AsyncDatabase[dict[str, Any]]) -> Iterator[str]:
    """The chart installed with the local image; its namespace holds the targets. Uninstalled at the end
    (test_zz_helm_uninstall_keeps_the_crd_and_leaves_no_pods checks what that leaves)."""
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    _secret(cluster, "scoutly-mongodb", uri=f"{cluster.mongo_uri.rstrip('/')}/{DATABASE}")
    _secret(cluster, "scoutly-openai", **{"api-key": API_KEY})
    repo, tag = cluster.image.rsplit(":", 1)
    try:
        _install(cluster, world, repo, tag)
    except AssertionError as e:  # a broken image shows here first: say what its containers do
        raise AssertionError(f"{e}\noperator pods: {_container_states(cluster)}") from None
    yield NAMESPACE
    installed = cluster.helm("list", "-n", NAMESPACE, "-q").split()
    if RELEASE in installed:
        cluster.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait")
    cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def _container_states(cluster: Cluster) -> list[tuple[str, Any]]:
    out = cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json", check=False)
    pods = json.loads(out)["items"] if out else []
    return [
        (p["metadata"]["name"], cs.get("state"))
        for p in pods
        for cs in p["status"].get("containerStatuses") or []
    ]


def _install(cluster: Cluster, world: World, repo: str, tag: str) -> None:
    cluster.helm(
        "upgrade", "--install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--wait", "--timeout", "3m",
        "--set", f"image.repository={repo}", "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never",
        "--set", "scrapeJobs.imagePullPolicy=Never", "--set", "scrapeJobs.backoffLimit=0",
        "--set", "openai.existingSecret=scoutly-openai", "--set", f"openai.baseUrl={world.llm_url}/v1",
        "--set", "grafanaDashboard.enabled=false",
        # the Greenhouse API of these tests, on an address the scrape guard allows explicitly: scrape-wide
        # settings the operator hands every Job (a target's own env may not set them)
        "--set-json", "scrapeJobs.settings=" + json.dumps({
            "scrape_api_bases": json.dumps({"greenhouse": world.boards_url}),
            "scrape_allow_private_hosts": world.boards_url.split("//")[1].split(":")[0],
        }),
    )  # fmt: skip
