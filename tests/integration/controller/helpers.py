"""Small API helpers for controller tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from scoutly.controller.jobs import LABEL_TARGET, parse_time, target_label
from scoutly.kube.client import KubeClient, ns_path

ST = "scoutly.io/v1alpha1"


def company_id() -> str:
    """A companyId for a target whose Jobs are mirrored to `jobqueues` (the app's queue documents need
    one: a target without a company gets none)."""
    return str(ObjectId())


def target_body(
    name: str, *, company: str | None = None, rank: int = 50, url: str | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": ST,
        "kind": "ScrapeTarget",
        "metadata": {"name": name},
        "spec": {
            "company": company or name.title(),
            "rank": rank,
            "source": {"url": url or f"https://boards.greenhouse.io/{name}"},
            **spec,
        },
    }


async def create_target(kube: KubeClient, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return await kube.create(ns_path(ST, namespace, "scrapetargets"), target_body(name, **spec))


async def get_target(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return await kube.get(ns_path(ST, namespace, "scrapetargets", name))


async def patch_target(kube: KubeClient, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
    return await kube.merge_patch(ns_path(ST, namespace, "scrapetargets", name), patch)


async def jobs_of(kube: KubeClient, namespace: str, target: str) -> list[dict[str, Any]]:
    items = (
        await kube.get(
            ns_path("batch/v1", namespace, "jobs"), labelSelector=f"{LABEL_TARGET}={target_label(target)}"
        )
    )["items"]
    return sorted(items, key=lambda j: j["metadata"]["creationTimestamp"])


def condition(job: dict[str, Any], kind: str) -> bool:
    return any(
        c["type"] == kind and c["status"] == "True" for c in job.get("status", {}).get("conditions") or []
    )


def created(obj: dict[str, Any]) -> datetime:
    t = parse_time(obj["metadata"]["creationTimestamp"])
    assert t is not None
    return t
