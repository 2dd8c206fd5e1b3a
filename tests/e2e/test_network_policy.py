"""The chart's NetworkPolicy, enforced on the real node by a real agent (kube-router's firewall
controller, scoutly.testing.netpol): a pod with the scrape pods' labels, running our image, cannot reach
the metadata address or the API server, while HTTP to a public address and the cluster DNS still work;
the same probes from a pod the policy does not select (and before the policy exists) succeed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scoutly.api import models as m
from scoutly.config import OperatorSettings
from scoutly.controller.jobs import build_job
from scoutly.testing.dns import CLUSTER_DOMAIN
from scoutly.testing.netpol import PolicyAgent, agent_gap, pod_only_listener
from scoutly.testing.wait import eventually
from tests.e2e.conftest import CHART, RELEASE, Cluster, unavailable

pytestmark = [pytest.mark.e2e]
NAMESPACE = "scoutly-netpol"
METADATA = ("169.254.169.254", 80)  # the cloud metadata address
PUBLIC = "198.51.100.10"  # TEST-NET-2: outside every excluded range
KUBERNETES_DNS = f"kubernetes.default.svc.{CLUSTER_DOMAIN}"

# one exec per round: connect to each host:port with a short timeout, resolve each name
PROBE = """
import json, socket, sys
out = {}
for t in sys.argv[1:]:
    try:
        if ":" in t:
            host, port = t.rsplit(":", 1)
            socket.create_connection((host, int(port)), timeout=2).close()
            out[t] = "open"
        else:
            out[t] = sorted({a[4][0] for a in socket.getaddrinfo(t, 443, socket.AF_INET)})
    except OSError as e:
        out[t] = type(e).__name__
print(json.dumps(out))
"""


@pytest.fixture
def agent(cluster: Cluster, tmp_path: Path) -> Iterator[PolicyAgent]:
    if cluster.node is None:
        pytest.skip("needs the local real node: the agent is installed on this machine's node only")
    if gap := agent_gap(cluster.bin_dir):
        unavailable(f"no NetworkPolicy agent: {gap}")
    agent = PolicyAgent(cluster.bin_dir, cluster.kubeconfig, cluster.node, tmp_path / "kube-router.log")
    agent.start()
    try:
        yield agent
    finally:
        left = agent.stop()
        assert left == [], f"the agent's objects were not removed: {left}"


@pytest.fixture
def listeners(cluster: Cluster) -> Iterator[None]:
    assert cluster.node is not None
    # on the public address: HTTP (allowed) and DNS over TCP (refused: DNS goes to the cluster DNS only)
    with pod_only_listener(cluster.node, *METADATA), pod_only_listener(cluster.node, PUBLIC, 80, 53):
        yield


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    cluster.kubectl("create", "namespace", NAMESPACE)
    try:
        yield NAMESPACE
    finally:
        cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def _probe_pod(cluster: Cluster, ns: str, name: str, *, scrape: bool) -> dict[str, Any]:
    """A pod of our image with a scrape Job's labels and security context (as build_job makes them),
    or, for the control, the same pod without the scrape labels."""
    spec = m.ScrapeTargetSpec.model_validate(
        {"company": "Probe", "rank": 1, "source": {"url": "https://boards.greenhouse.io/probe"}}
    )
    job = build_job(
        name=name,
        namespace=ns,
        target_name=name,
        target_uid="00000000-0000-0000-0000-000000000000",
        spec=spec,
        scheduled=datetime.now(UTC),
        manual_token=None,
        settings=OperatorSettings(scrape_image=cluster.image),
    )
    template = job["spec"]["template"]
    scrape_container = template["spec"]["containers"][0]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": template["metadata"]["labels"] if scrape else {"app": "netpol-control"},
        },
        "spec": {
            "nodeName": cluster.node_name,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": template["spec"]["securityContext"],
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "probe",
                    "image": cluster.image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", "import time; time.sleep(3600)"],
                    "securityContext": scrape_container["securityContext"],
                }
            ],
        },
    }


def _policy(cluster: Cluster, ns: str) -> str:
    """The chart's NetworkPolicy as `helm install` renders it with default values, plus what a user sets
    for this cluster: its Pod and Service ranges, the API server's address, and where its DNS is (a
    resolver on the node's address, not kube-dns pods)."""
    node = cluster.node
    assert node is not None
    return cluster.helm(
        "template", RELEASE, str(CHART), "--namespace", ns, "--validate",  # the cluster's version and APIs
        "--show-only", "templates/networkpolicy.yaml",
        "--set-json", f"networkPolicy.clusterCidrs={json.dumps([node.subnet, node.service_cidr])}",
        "--set-json", f"networkPolicy.apiServerCidrs={json.dumps([f'{cluster.host}/32'])}",
        "--set-json", "networkPolicy.dnsPeers=" + json.dumps([{"ipBlock": {"cidr": f"{node.gateway}/32"}}]),
    )  # fmt: skip


def _probe(cluster: Cluster, ns: str, pod: str, *targets: str) -> dict[str, Any]:
    out = cluster.kubectl("exec", "-n", ns, pod, "--", "python", "-c", PROBE, *targets)
    return dict(json.loads(out))


async def test_scrape_pods_cannot_reach_metadata_or_api_server(
    cluster: Cluster, agent: PolicyAgent, listeners: None, namespace: str
) -> None:
    node = cluster.node
    assert node is not None
    metadata, public, outside_dns = f"{METADATA[0]}:{METADATA[1]}", f"{PUBLIC}:80", f"{PUBLIC}:53"
    api_direct = f"{cluster.host}:{cluster.api_port}"
    api_service = f"{node.kubernetes_ip}:443"  # the `kubernetes` Service, DNATed to the API server
    sockets = (metadata, api_direct, api_service, public, outside_dns)
    targets = (*sockets, KUBERNETES_DNS)
    for name, scrape in (("scrape", True), ("control", False)):
        manifest = _probe_pod(cluster, namespace, name, scrape=scrape)
        cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    cluster.kubectl(
        "wait", "-n", namespace, "pod/scrape", "pod/control", "--for=condition=Ready", "--timeout=120s"
    )

    # without a policy everything answers: the listeners work and the test can go red
    before = _probe(cluster, namespace, "scrape", *targets)
    assert before == {**dict.fromkeys(sockets, "open"), KUBERNETES_DNS: [node.kubernetes_ip]}, before

    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=_policy(cluster, namespace))
    applied = time.monotonic()

    async def refused() -> dict[str, Any] | None:
        got = _probe(cluster, namespace, "scrape", metadata)
        return got if got[metadata] != "open" else None

    await eventually(refused, timeout=60, interval=0.2, what="the agent to enforce the policy")
    enforced = time.monotonic() - applied
    print(f"\nNetworkPolicy enforced {enforced:.1f}s after it was created")

    after = _probe(cluster, namespace, "scrape", *targets)
    print(f"scrape pod under the policy: {after}")
    for t in (metadata, api_direct, api_service, outside_dns):
        assert after[t] != "open", after  # refused by the policy
    assert after[public] == "open", after  # HTTP to the internet is what a scrape needs
    assert after[KUBERNETES_DNS] == [node.kubernetes_ip], after  # the cluster DNS is allowed
    # the pod the policy does not select still reaches everything: the policy, not the node, refuses
    control = _probe(cluster, namespace, "control", *sockets)
    assert control == dict.fromkeys(sockets, "open"), control
