"""Read-only queries behind `scoutly queue status`: the `jobqueues` collection summarised, the app's
documents and the operator's alike (the app's lowercase statuses; `completedAt`, `errorMessage`).

Plain finds and counts (no aggregation pipeline) so it behaves the same on MongoDB and FerretDB; the
counts are the ones the app's fileQueueStatus script prints.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scoutly.store.jobqueues import COLLECTION, QueueStatus
from scoutly.store.mongo import Database, Doc

_FIELDS = {
    "_id": 1,
    "jobName": 1,
    "target": 1,
    "companyId": 1,
    "status": 1,
    "createdAt": 1,
    "lastAttemptAt": 1,
    "completedAt": 1,
    "reason": 1,
    "errorMessage": 1,
    "retryCount": 1,
}


# the operator's documents name their Job; the app's own (its scheduler's and worker's) have no jobName
SOURCES: dict[str, dict[str, Any]] = {
    "app": {"jobName": {"$exists": False}},
    "operator": {"jobName": {"$exists": True}},
}


async def counts_by_status(db: Database) -> dict[str, int]:
    coll = db[COLLECTION]
    return {s.value: await coll.count_documents({"status": s.value}) for s in QueueStatus}


async def counts_by_source(db: Database) -> dict[str, dict[str, int]]:
    """{"app": {status: n}, "operator": {status: n}}: the app's documents and the operator's side by side."""
    coll = db[COLLECTION]
    return {
        source: {s.value: await coll.count_documents({"status": s.value, **filt}) for s in QueueStatus}
        for source, filt in SOURCES.items()
    }


async def processing(db: Database, *, limit: int = 10_000) -> list[Doc]:
    """Every `processing` document (few: the running scrapes and whatever a worker left claimed)."""
    cursor = db[COLLECTION].find({"status": QueueStatus.PROCESSING.value}, _FIELDS).limit(limit)
    return await cursor.to_list(limit)


async def oldest(db: Database, status: QueueStatus) -> Doc | None:
    """The oldest document (by createdAt) in `status`."""
    cursor = db[COLLECTION].find({"status": status.value}, _FIELDS).sort("createdAt", 1).limit(1)
    docs = await cursor.to_list(1)
    return docs[0] if docs else None


async def recent_failures(db: Database, *, since: datetime, limit: int) -> tuple[int, list[Doc]]:
    """(how many failed since `since`, the newest `limit` of them)."""
    filt: dict[str, Any] = {"status": QueueStatus.FAILED.value, "completedAt": {"$gte": since}}
    total = await db[COLLECTION].count_documents(filt)
    cursor = db[COLLECTION].find(filt, _FIELDS).sort("completedAt", -1).limit(limit)
    return total, await cursor.to_list(limit)


async def finished_since(db: Database, *, since: datetime, limit: int = 20_000) -> list[Doc]:
    """Finished documents since `since`, newest first (per-target outcomes are derived from these)."""
    filt: dict[str, Any] = {
        "status": {"$in": [QueueStatus.COMPLETED.value, QueueStatus.FAILED.value]},
        "completedAt": {"$gte": since},
    }
    cursor = db[COLLECTION].find(filt, _FIELDS).sort("completedAt", -1).limit(limit)
    return await cursor.to_list(limit)
