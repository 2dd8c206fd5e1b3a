"""Fixtures for controller tests: the CRD installed once, an operator running in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.api.crd import build_crd
from scoutly.config import OperatorSettings
from scoutly.controller import operator as op
from scoutly.controller.core import Controller
from scoutly.kube.client import ApiError, KubeClient
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@pytest_asyncio.fixture(scope="session")
async def crd(kube: KubeClient) -> dict[str, Any]:
    body = build_crd()
    name = body["metadata"]["name"]
    try:
        await kube.create(CRD_PATH, body)
    except ApiError as e:
        if not e.already_exists:
            raise
        current = await kube.get(f"{CRD_PATH}/{name}")
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        await kube.request("PUT", f"{CRD_PATH}/{name}", body=body)

    async def established() -> bool:
        got = await kube.get(f"{CRD_PATH}/{name}")
        return any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (got.get("status") or {}).get("conditions") or []
        )

    await eventually(established, what="ScrapeTarget CRD established")
    return body


class RunningOperator:
    def __init__(self, settings: OperatorSettings) -> None:
        self.settings = settings
        self.stop_flag = asyncio.Event()
        self.controller: Controller | None = None
        self.task = asyncio.create_task(op.run(settings, stop_flag=self.stop_flag, on_start=self._started))

    def _started(self, controller: Controller) -> None:
        self.controller = controller

    async def stop(self) -> None:
        """Graceful stop (kopf's stop flag)."""
        self.stop_flag.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 30)

    async def crash(self) -> None:
        """Abrupt stop: the task is cancelled wherever it is (nothing is flushed)."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


OperatorFactory = Callable[..., Awaitable[RunningOperator]]


@pytest_asyncio.fixture
async def start_operator(
    local_env: LocalEnv, crd: dict[str, Any], namespace: str, mongo_db: AsyncDatabase[dict[str, Any]]
) -> AsyncIterator[OperatorFactory]:
    """Start operators (kopf + dispatcher + mirror) in this loop, watching only the test namespace."""
    running: list[RunningOperator] = []

    async def start(**overrides: Any) -> RunningOperator:
        values: dict[str, Any] = {
            "kubeconfig": str(local_env.kubeconfig),
            "namespaces": namespace,
            "mongodb_uri": local_env.mongo_uri,
            "mongodb_database": mongo_db.name,
            "backoff_base": "2s",
            "metrics_port": 0,
            "scrape_image": "scoutly-operator:test",
            "extra_pod_annotations": json.dumps({"scoutly.io/kwok-duration": "300ms"}),
        }
        values.update(overrides)
        running.append(RunningOperator(OperatorSettings(**values)))
        return running[-1]

    yield start
    for r in running:
        if not r.task.done():
            await r.stop()
