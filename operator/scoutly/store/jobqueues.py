"""`jobqueues`, the app's queue (src/models/JobQueue.ts): one document per scrape Job, written in the
app's format so the app reads it like one of its own.

App fields: `companyId` (ObjectId), `status` (`pending|processing|completed|failed`), `createdAt`,
`updatedAt`, `lastAttemptAt`, `completedAt`, `errorMessage`, `retryCount`, `__v`. Operator fields beside
them: `jobName`, `namespace`, `target`, `scheduledFor`, `jobPhase`, `reason`, `result`, `supersedes`.

- **Claimed, never queued.** The operator writes `processing` when it creates the Job: creating the Job
  is its claim, as the app worker's `findOneAndUpdate({status: 'pending'}, {status: 'processing'})` is
  the worker's. A live app worker (which claims `pending` documents only) therefore never picks up an
  operator document. The Kubernetes side (Job created / pod running / finished) is in `jobPhase`.
- **Keyed by `_id`.** The `_id` is an ObjectId derived from `<namespace>/<job name>` (`doc_id`), so every
  write filters on `_id` alone: idempotent without a unique index on an operator field, and FerretDB
  (which pushes down no other filter) serves it without scanning the collection.
- **Forward only.** Every transition is an upsert guarded by `status: 'processing'`: a replay after the
  document moved on matches nothing, its upsert collides on `_id` and is dropped as already applied.
- **One active document per company**, as the app's scheduler guard expects (`findOne({companyId,
  status: {$in: ['pending', 'processing']}})`): before its document becomes active, the operator marks
  the app's own active documents of the company `failed`, with `errorMessage` naming the Job that
  supersedes them, `supersededBy` on them and `supersedes` on its own.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from scoutly.store import appschema
from scoutly.store.mongo import Database, Doc, IndexSpec

COLLECTION = "jobqueues"
log = logging.getLogger("scoutly.store")


class QueueStatus(StrEnum):
    """The app's JobStatus, lowercase as the app stores it."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE = (QueueStatus.PENDING, QueueStatus.PROCESSING)
TERMINAL = (QueueStatus.COMPLETED, QueueStatus.FAILED)

INDEXES = (
    # the app's own (JobQueue.ts): its worker's and its scheduler's queries, and the supersession
    IndexSpec(COLLECTION, (("status", 1), ("createdAt", 1)), owner="app"),
    IndexSpec(COLLECTION, (("companyId", 1), ("status", 1)), owner="app"),
    # one document per Job name where it exists: partial, so the app's documents (no jobName, any number
    # of them) are never refused. Not created on FerretDB (it refuses partial indexes), where nothing
    # depends on it: the operator's writes are keyed by `_id`.
    IndexSpec(COLLECTION, (("jobName", 1),), unique=True, partial={"jobName": {"$exists": True}}),
    IndexSpec(COLLECTION, (("target", 1), ("createdAt", -1))),
)


def doc_id(namespace: str, job_name: str) -> ObjectId:
    """The document's `_id`: 12 bytes of sha256 over `<namespace>/<job name>` (Job names are unique per
    namespace). Not time-ordered like a server-made ObjectId; nothing in the app sorts by `_id`."""
    digest = hashlib.sha256(f"scoutly-jobqueue\0{namespace}/{job_name}".encode()).digest()
    return ObjectId(digest[:12])


@dataclass(frozen=True)
class JobRef:
    """The facts of one Job that never change: `$set` on every write, so whichever write creates the
    document (the controller's or the scrape's own) it ends up complete."""

    namespace: str
    job_name: str
    target: str
    company: ObjectId
    created_at: datetime
    scheduled_for: datetime | None = None

    @property
    def id(self) -> ObjectId:
        return doc_id(self.namespace, self.job_name)

    def identity(self) -> Doc:
        return {
            "jobName": self.job_name,
            "namespace": self.namespace,
            "target": self.target,
            "companyId": self.company,
            "createdAt": self.created_at,
            "scheduledFor": self.scheduled_for,
        }


def _new_doc(job: JobRef, *, now: datetime, **fields: Any) -> Doc:
    doc: Doc = {
        "_id": job.id,
        **job.identity(),
        "status": QueueStatus.PROCESSING.value,
        "retryCount": 0,
        "updatedAt": now,
        "__v": 0,
        **fields,
    }
    appschema.check(COLLECTION, doc)
    return doc


async def supersede_app_documents(db: Database, *, company: ObjectId, by: JobRef, now: datetime) -> list[Any]:
    """Mark the app's active documents of `company` failed, superseded by Job `by`; returns their ids.

    Only the app's documents (no `jobName`) are touched; the operator's own finish by their own writes."""
    filt: Doc = {
        "companyId": company,
        "status": {"$in": [s.value for s in ACTIVE]},
        "jobName": {"$exists": False},
    }
    ids = [d["_id"] async for d in db[COLLECTION].find(filt, {"_id": 1})]
    if not ids:
        return []
    await db[COLLECTION].update_many(
        {"_id": {"$in": ids}, "status": {"$in": [s.value for s in ACTIVE]}},
        {
            "$set": {
                "status": QueueStatus.FAILED.value,
                "completedAt": now,
                "updatedAt": now,
                "errorMessage": f"superseded by scoutly-operator Job {by.namespace}/{by.job_name}",
                "supersededBy": by.job_name,
            }
        },
    )
    log.info("superseded %d app queue documents of company %s by Job %s", len(ids), company, by.job_name)
    return ids


async def _status_of(db: Database, job: JobRef) -> str | None:
    doc = await db[COLLECTION].find_one({"_id": job.id}, {"status": 1})
    return None if doc is None else str(doc.get("status"))


async def claim(db: Database, *, job: JobRef, now: datetime) -> bool:
    """The Job was created: its document, `processing` (the app's meaning: claimed by a worker).
    True when this write created the document."""
    status = await _status_of(db, job)
    if status in TERMINAL:
        return False  # a replay after the Job finished: the company's newer app documents stay
    superseded = await supersede_app_documents(db, company=job.company, by=job, now=now)
    if status is None:
        doc = _new_doc(job, now=now, lastAttemptAt=job.created_at, jobPhase="Pending", supersedes=superseded)
        try:
            await db[COLLECTION].insert_one(doc)
            return True
        except DuplicateKeyError:
            pass  # the scrape's own write came first
    update: Doc = {"$set": {**job.identity(), "updatedAt": now}}
    if superseded:
        update["$addToSet"] = {"supersedes": {"$each": superseded}}
    await db[COLLECTION].update_one({"_id": job.id}, update)
    return False


async def _advance(db: Database, job: JobRef, *, now: datetime, set_: Doc) -> bool:
    """Apply `set_` while the document is `processing` (creating it if missing); False when it has
    moved on already (a replay)."""
    status = await _status_of(db, job)
    if status in TERMINAL:
        return False
    if status is None:  # its claim was never recorded (coalesced away during a MongoDB outage)
        await supersede_app_documents(db, company=job.company, by=job, now=now)
    update: Doc = {
        "$set": {**job.identity(), **set_, "updatedAt": now},
        "$setOnInsert": {"retryCount": 0, "__v": 0},
    }
    if "retryCount" in set_:
        del update["$setOnInsert"]["retryCount"]
    try:
        res = await db[COLLECTION].update_one(
            {"_id": job.id, "status": QueueStatus.PROCESSING.value}, update, upsert=True
        )
    except DuplicateKeyError:
        return False  # finished meanwhile
    return bool(res.modified_count or res.upserted_id is not None)


async def mark_running(db: Database, *, job: JobRef, at: datetime, retries: int, now: datetime) -> bool:
    """A pod of the Job runs: `lastAttemptAt` is that attempt's start, `retryCount` the pods before it."""
    return await _advance(
        db, job, now=now, set_={"jobPhase": "Running", "lastAttemptAt": at, "retryCount": max(0, retries)}
    )


async def mark_finished(
    db: Database,
    *,
    job: JobRef,
    status: QueueStatus,
    at: datetime,
    retries: int,
    now: datetime,
    error_message: str | None = None,
    reason: str | None = None,
    result: dict[str, Any] | None = None,
) -> bool:
    """`completed` or `failed` with `completedAt`; a failure's `errorMessage` is the scrape's own reason."""
    assert status in TERMINAL
    set_: Doc = {
        "status": status.value,
        "completedAt": at,
        "jobPhase": "Succeeded" if status is QueueStatus.COMPLETED else "Failed",
        "retryCount": max(0, retries),
        "reason": reason,
    }
    if status is QueueStatus.FAILED:
        set_["errorMessage"] = (error_message or reason or "the scrape Job failed")[:2000]
    if result is not None:
        set_["result"] = result
    return await _advance(db, job, now=now, set_=set_)


async def record_result(db: Database, *, job: JobRef, result: dict[str, Any], now: datetime) -> None:
    """The scrape container's own summary, in any order with the controller's writes. When it comes
    first it creates the document the app can read already (status `processing`, companyId, dates)."""
    if await _status_of(db, job) is None:
        await supersede_app_documents(db, company=job.company, by=job, now=now)
    await db[COLLECTION].update_one(
        {"_id": job.id},
        {
            "$set": {"result": result, "updatedAt": now},
            "$setOnInsert": {
                **job.identity(),
                "status": QueueStatus.PROCESSING.value,
                "jobPhase": "Running",
                "lastAttemptAt": now,
                "retryCount": 0,
                "__v": 0,
            },
        },
        upsert=True,
    )


async def fail_open(db: Database, *, target: str, at: datetime, reason: str, error: str) -> int:
    """Mark every open operator document of `target` failed (the target was deleted)."""
    res = await db[COLLECTION].update_many(
        {"target": target, "status": QueueStatus.PROCESSING.value},
        {
            "$set": {
                "status": QueueStatus.FAILED.value,
                "completedAt": at,
                "updatedAt": at,
                "jobPhase": "Failed",
                "reason": reason,
                "errorMessage": error,
            }
        },
    )
    return int(res.modified_count)


async def get(db: Database, *, namespace: str, job_name: str) -> Doc | None:
    return await db[COLLECTION].find_one({"_id": doc_id(namespace, job_name)})
