"""The chart under test, driven by the testenv's real helm binary."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "scoutly-operator"
KUBE_VERSION = "1.36.3"

# Every (apiGroup, resource, verb) the operator's code needs; docs/install.md explains each one.
EXPECTED_RULES = {
    ("scoutly.io", "scrapetargets", "get"),
    ("scoutly.io", "scrapetargets", "list"),
    ("scoutly.io", "scrapetargets", "watch"),
    ("scoutly.io", "scrapetargets/status", "patch"),
    ("scoutly.io", "scrapetargets/finalizers", "update"),
    ("batch", "jobs", "get"),
    ("batch", "jobs", "list"),
    ("batch", "jobs", "watch"),
    ("batch", "jobs", "create"),
    ("batch", "jobs", "patch"),
    ("batch", "jobs", "delete"),
    ("", "pods", "list"),
    ("", "pods", "watch"),  # scrape pods that cannot start (controller.on_pod_event)
    ("", "events", "create"),
}
# leaderElection.enabled: the Lease calls of controller/leader.py, in the release namespace
LEASE_RULES = {
    ("coordination.k8s.io", "leases", "get"),
    ("coordination.k8s.io", "leases", "create"),
    ("coordination.k8s.io", "leases", "update"),
}
# the preference sync (sync/run.py): a paginated list, then server-side apply (PATCH; creating a
# missing target through apply is also authorized as create)
SYNC_RULES = {
    ("scoutly.io", "scrapetargets", "list"),
    ("scoutly.io", "scrapetargets", "create"),
    ("scoutly.io", "scrapetargets", "patch"),
}


@functools.cache
def helm_bin() -> str:
    """The testenv's helm (SCOUTLY_TESTENV_BIN, else where hack/testenv.sh builds it)."""
    bin_dir = (
        os.environ.get("SCOUTLY_TESTENV_BIN")
        or subprocess.run(
            ["bash", str(ROOT / "hack/testenv.sh"), "--print-dir"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    return str(Path(bin_dir) / "helm")


def helm(*args: str, kubeconfig: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [helm_bin(), *args]
    if kubeconfig is not None:
        cmd.append(f"--kubeconfig={kubeconfig}")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def render(
    *args: str, release: str = "scoutly", namespace: str = "scoutly-system", chart: Path = CHART
) -> list[dict[str, Any]]:
    out = helm(
        "template", release, str(chart), "--namespace", namespace, "--kube-version", KUBE_VERSION,
        "--api-versions", "monitoring.coreos.com/v1", *args,
    ).stdout  # fmt: skip
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def rule_set(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for r in rules
        for group in r.get("apiGroups", [])
        for resource in r.get("resources", [])
        for verb in r.get("verbs", [])
    }
