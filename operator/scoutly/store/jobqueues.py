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
- **Forward only.** The finish is an upsert guarded by `status: 'processing'`: a replay after the
  document finished matches nothing, its upsert collides on `_id` and is dropped as already applied.
- **Two writes per Job**, the claim and the finish (plus the scrape's own result): on FerretDB, which
  scans a collection for every update and every query on another field than `_id`, each is one scan
  (docs/performance.md); a write when the pod starts would add one for nothing the app reads.
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


def _app_active(company: ObjectId) -> Doc:
    """The app's own active documents of a company (the operator's carry a jobName)."""
    return {"companyId": company, "status": {"$in": [s.value for s in ACTIVE]}, "jobName": {"$exists": False}}


async def _supersede(db: Database, ids: list[Any], *, company: ObjectId, by: JobRef, now: datetime) -> None:
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


async def supersede_app_documents(db: Database, *, company: ObjectId, by: JobRef, now: datetime) -> list[Any]:
    """Mark the app's active documents of `company` failed, superseded by Job `by`; returns their ids.

    Only the app's documents (no `jobName`) are touched; the operator's own finish by their own writes."""
    ids = [d["_id"] async for d in db[COLLECTION].find(_app_active(company), {"_id": 1})]
    if ids:
        await _supersede(db, ids, company=company, by=by, now=now)
    return ids


async def _status_of(db: Database, job: JobRef) -> str | None:
    doc = await db[COLLECTION].find_one({"_id": job.id}, {"status": 1})
    return None if doc is None else str(doc.get("status"))


async def claim(db: Database, *, job: JobRef, now: datetime) -> bool:
    """The Job was created: its document, `processing` (the app's meaning: claimed by a worker).
    True when this write created the document.

    The usual case costs one query for the app's active documents of the company (a scan of the
    collection on FerretDB) and one insert; the Job's own document is read only when there is something
    to supersede (a claim replayed after the Job finished must not supersede what the app queued since)
    or when the insert finds it exists."""
    ids = [d["_id"] async for d in db[COLLECTION].find(_app_active(job.company), {"_id": 1})]
    status: str | None = None
    if ids:
        status = await _status_of(db, job)
        if status in TERMINAL:
            return False
        await _supersede(db, ids, company=job.company, by=job, now=now)
    if status is None:
        doc = _new_doc(job, now=now, lastAttemptAt=job.created_at, jobPhase="Pending", supersedes=ids)
        try:
            await db[COLLECTION].insert_one(doc)
            return True
        except DuplicateKeyError:
            pass  # the scrape's own write came first
    update: Doc = {"$set": {**job.identity(), "updatedAt": now}}
    if ids:
        update["$addToSet"] = {"supersedes": {"$each": ids}}
    await db[COLLECTION].update_one({"_id": job.id, "status": QueueStatus.PROCESSING.value}, update)
    return False


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
    """`completed` or `failed` with `completedAt`; a failure's `errorMessage` is the scrape's own reason.
    False when the document had finished already (a replay).

    One guarded upsert: it updates the document while it is `processing`, creates it when its claim was
    never recorded (coalesced away during a MongoDB outage: the app's active documents of the company
    are superseded then, after the fact, as the new document is not active), and collides on `_id`
    when the document had finished already."""
    assert status in TERMINAL
    set_: Doc = {
        **job.identity(),
        "status": status.value,
        "completedAt": at,
        "updatedAt": now,
        "jobPhase": "Succeeded" if status is QueueStatus.COMPLETED else "Failed",
        "retryCount": max(0, retries),
        "reason": reason,
    }
    if status is QueueStatus.FAILED:
        set_["errorMessage"] = (error_message or reason or "the scrape Job failed")[:2000]
    if result is not None:
        set_["result"] = result
    try:
        res = await db[COLLECTION].update_one(
            {"_id": job.id, "status": QueueStatus.PROCESSING.value},
            {"$set": set_, "$setOnInsert": {"lastAttemptAt": job.created_at, "__v": 0}},
            upsert=True,
        )
    except DuplicateKeyError:
        return False  # finished already
    if res.upserted_id is not None:
        await supersede_app_documents(db, company=job.company, by=job, now=now)
    return True


async def record_result(db: Database, *, job: JobRef, result: dict[str, Any], now: datetime) -> None:
    """The scrape container's own summary, in any order with the controller's writes. When it comes
    first it creates the document the app can read already (status `processing`, companyId, dates) and
    supersedes the app's active documents of the company, as the claim would have."""
    res = await db[COLLECTION].update_one(
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
    if res.upserted_id is not None:
        await supersede_app_documents(db, company=job.company, by=job, now=now)


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
