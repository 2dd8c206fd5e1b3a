"""The operator's database-backed logger: records land in the app's capped `logs` collection as batch
documents in the app's format, and a MongoDB restart neither blocks the controller nor loses the
records logged meanwhile (they wait in the bounded buffer)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly import metrics
from scoutly.kube.client import KubeClient
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually
from tests import appdata
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import create_target, get_target

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]


@pytest.fixture
def info_logs() -> Iterator[None]:
    logger = logging.getLogger("scoutly")
    level = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(level)


def sample(name: str) -> float:
    return float(metrics.REGISTRY.get_sample_value(name) or 0.0)


async def test_logs_land_in_mongodb_and_survive_a_restart(
    kube: KubeClient,
    namespace: str,
    private_mongo: tuple[LocalEnv, AsyncDatabase[dict[str, Any]]],
    start_operator: OperatorFactory,
    info_logs: None,
) -> None:
    mongo, mongo_db = private_mongo  # restarted below: not the session's shared FerretDB
    await appdata.create_app_collections(mongo_db)  # the app made `logs` capped; the operator never does
    await start_operator(
        mongodb_uri=mongo.mongo_uri,
        mongodb_database=mongo_db.name,
        db_log_interval="1s",
        extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "300ms"}),
    )
    written_before = sample("scoutly_db_log_written_total")

    async def logged(name: str) -> list[dict[str, Any]] | None:
        entries = [
            e
            async for d in mongo_db["logs"].find({"context": "scoutly-operator"})
            for e in d["entries"]
            if (e.get("data") or {}).get("target") == f"{namespace}/{name}"
        ]
        messages = [e["message"] for e in entries]
        ok = any(m.startswith("created Job") for m in messages) and any("succeeded" in m for m in messages)
        return entries if ok else None

    await create_target(kube, namespace, "log-a", cooldown="1h")
    entries = await eventually(lambda: logged("log-a"), timeout=60, what="log-a's records in `logs`")
    e = entries[0]
    assert e["context"] == "scoutly-operator"
    assert e["level"] in {"info", "warn"}
    assert e["data"]["job"].startswith("log-a-")
    assert e["data"]["logger"] == "scoutly.controller"
    batches = await mongo_db["logs"].find({}).to_list()
    assert appdata.validate_all("logs", batches) == []
    assert {b["processId"] for b in batches} == {batches[0]["processId"]}  # one process, one id
    assert sample("scoutly_db_log_written_total") > written_before

    dropped_before = sample("scoutly_db_log_dropped_total")
    port = mongo.mongo_port
    mongo.stop_component("ferretdb")
    try:
        # the controller goes on without MongoDB: the next target is dispatched and finishes
        await create_target(kube, namespace, "log-b", cooldown="1h")

        async def succeeded() -> bool:
            t = await get_target(kube, namespace, "log-b")
            return (t.get("status") or {}).get("phase") == "Succeeded"

        await eventually(succeeded, timeout=60, what="log-b scraped while MongoDB is down")
    finally:
        mongo._start_ferretdb(port)

    # the records logged during the outage were kept and are written once MongoDB is back
    await eventually(lambda: logged("log-b"), timeout=60, what="log-b's records in `logs` after the restart")
    assert sample("scoutly_db_log_dropped_total") == dropped_before  # the buffer did not overflow
