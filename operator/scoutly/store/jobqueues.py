"""The `jobqueues` audit trail the web app reads: one document per Job, keyed by the Job name.

Status only moves forward (PENDING -> PROCESSING -> COMPLETED | FAILED). Every write is an upsert
guarded by the states it may move from (PENDING first tries a plain insert), so replays after a crash
or a MongoDB outage, in any order, converge on the same document and never move it backwards: when the
guard does not match an existing document, the upsert hits the unique jobName index and is dropped as
already applied.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo.errors import DuplicateKeyError

from scoutly.store.mongo import Database, Doc

COLLECTION = "jobqueues"


class QueueStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


TERMINAL = (QueueStatus.COMPLETED, QueueStatus.FAILED)
_EARLIER: dict[QueueStatus, tuple[QueueStatus, ...]] = {
    QueueStatus.PENDING: (),
    QueueStatus.PROCESSING: (QueueStatus.PENDING,),
    QueueStatus.COMPLETED: (QueueStatus.PENDING, QueueStatus.PROCESSING),
    QueueStatus.FAILED: (QueueStatus.PENDING, QueueStatus.PROCESSING),
}


async def _advance(db: Database, job_name: str, to: QueueStatus, set_: Doc) -> bool:
    """Move the document to `to` if it is missing or earlier; True when something was written."""
    # None matches a document without a status yet (only the scrape's result was recorded so far)
    filt: Doc = {"jobName": job_name, "status": {"$in": [None, *(s.value for s in _EARLIER[to])]}}
    update: Doc = {"$set": {**set_, "status": to.value}, "$setOnInsert": {"jobName": job_name}}
    try:
        res = await db[COLLECTION].update_one(filt, update, upsert=True)
    except DuplicateKeyError:
        return False  # already at `to` or later
    return bool(res.modified_count or res.upserted_id is not None)


def _identity(
    target: str, company_id: str | None, created_at: datetime, scheduled_for: datetime | None
) -> Doc:
    """Facts of the Job that never change: $set on every transition, so whichever write creates the
    document (the controller's, or the scrape's own result first) it ends up complete."""
    return {"target": target, "companyId": company_id, "createdAt": created_at, "scheduledFor": scheduled_for}


async def mark_pending(
    db: Database,
    *,
    job_name: str,
    target: str,
    company_id: str | None,
    created_at: datetime,
    scheduled_for: datetime | None = None,
) -> bool:
    fields: Doc = {
        "target": target,
        "companyId": company_id,
        "createdAt": created_at,
        "attempts": 0,
        "scheduledFor": scheduled_for,
    }
    # The usual case is a Job never recorded: a plain insert, which FerretDB (the embedded default)
    # serves without the scan of the whole collection that every upsert costs it (docs/performance.md).
    try:
        await db[COLLECTION].insert_one({"jobName": job_name, "status": QueueStatus.PENDING.value, **fields})
    except DuplicateKeyError:
        # recorded already: by a replay, or by the scrape's own result first
        return await _advance(db, job_name, QueueStatus.PENDING, fields)
    return True


async def mark_processing(
    db: Database,
    *,
    job_name: str,
    target: str,
    company_id: str | None,
    created_at: datetime,
    at: datetime,
    attempts: int,
    scheduled_for: datetime | None = None,
) -> bool:
    return await _advance(
        db,
        job_name,
        QueueStatus.PROCESSING,
        {
            "lastAttemptAt": at,
            "attempts": attempts,
            **_identity(target, company_id, created_at, scheduled_for),
        },
    )


async def mark_finished(
    db: Database,
    *,
    job_name: str,
    target: str,
    company_id: str | None,
    created_at: datetime,
    status: QueueStatus,
    at: datetime,
    attempts: int,
    error: str | None = None,
    reason: str | None = None,
    result: dict[str, Any] | None = None,
    scheduled_for: datetime | None = None,
) -> bool:
    assert status in TERMINAL
    set_: Doc = {"finishedAt": at, "attempts": attempts, "error": error, "reason": reason}
    if result is not None:
        set_["result"] = result
    set_.update(_identity(target, company_id, created_at, scheduled_for))
    return await _advance(db, job_name, status, set_)


async def record_result(db: Database, *, job_name: str, result: dict[str, Any]) -> None:
    """The scrape container's own summary; independent of the status, so any order with the controller works."""
    await db[COLLECTION].update_one({"jobName": job_name}, {"$set": {"result": result}}, upsert=True)


async def fail_open(db: Database, *, target: str, at: datetime, reason: str, error: str) -> int:
    """Mark every not-yet-finished document of `target` FAILED (the target was deleted)."""
    res = await db[COLLECTION].update_many(
        {"target": target, "status": {"$in": [QueueStatus.PENDING.value, QueueStatus.PROCESSING.value]}},
        {"$set": {"status": QueueStatus.FAILED.value, "finishedAt": at, "reason": reason, "error": error}},
    )
    return int(res.modified_count)


async def get(db: Database, job_name: str) -> Doc | None:
    return await db[COLLECTION].find_one({"jobName": job_name})
