"""The jobqueues audit trail against a real MongoDB-protocol server (FerretDB): one document per Job,
status only forward, any write order converges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scoutly.store import jobqueues as jq
from scoutly.store.mongo import Database, ensure_indexes

pytestmark = pytest.mark.mongo


@pytest.fixture
def db(mongo_db: Database) -> Database:
    return mongo_db


T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
JOB: dict[str, Any] = dict(job_name="acme-29370000", target="ns/acme", company_id="c1", created_at=T0)


async def test_forward_only_in_any_order(db: Database) -> None:
    await ensure_indexes(db)
    # the scrape's own result can land before the controller's first write
    await jq.record_result(db, job_name=JOB["job_name"], result={"found": 3})
    assert await jq.mark_pending(db, **JOB)
    assert await jq.mark_processing(db, **JOB, at=T0 + timedelta(seconds=5), attempts=1)
    assert await jq.mark_finished(
        db, **JOB, status=jq.QueueStatus.COMPLETED, at=T0 + timedelta(seconds=9), attempts=1
    )
    # replays after a crash: nothing moves backwards, nothing is duplicated
    assert not await jq.mark_pending(db, **JOB)
    assert not await jq.mark_processing(db, **JOB, at=T0, attempts=1)
    assert not await jq.mark_finished(db, **JOB, status=jq.QueueStatus.FAILED, at=T0, attempts=1)
    docs = await db["jobqueues"].find({"jobName": JOB["job_name"]}).to_list()
    assert len(docs) == 1
    doc = docs[0]
    assert doc["status"] == "COMPLETED" and doc["result"] == {"found": 3} and doc["target"] == "ns/acme"
    assert doc["finishedAt"] == T0 + timedelta(seconds=9)
    assert (await jq.get(db, JOB["job_name"]) or {})["status"] == "COMPLETED"
