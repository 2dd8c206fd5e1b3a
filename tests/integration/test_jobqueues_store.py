"""`jobqueues` against a real MongoDB-protocol server (FerretDB): the operator's documents in the app's
format, one per Job, forward only in any order; the app's own documents untouched by the operator's
indexes and superseded (never two active per company); the app's queries find the right documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scoutly.store import appschema, companies
from scoutly.store import jobqueues as jq
from scoutly.store.mongo import Database, ensure_indexes
from tests import appdata

pytestmark = pytest.mark.mongo

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ACTIVE = {"$in": ["pending", "processing"]}


@pytest.fixture
def db(mongo_db: Database) -> Database:
    return mongo_db


def job(company: Any, name: str = "acme-29370000", namespace: str = "ns") -> jq.JobRef:
    return jq.JobRef(
        namespace=namespace, job_name=name, target=f"{namespace}/acme", company=company, created_at=T0
    )


async def app_counts(db: Database) -> dict[str, int]:
    """What the app's fileQueueStatus prints: countDocuments per JobStatus, and the total."""
    coll = db["jobqueues"]
    out = {
        s: await coll.count_documents({"status": s}) for s in ("pending", "processing", "completed", "failed")
    }
    out["total"] = await coll.count_documents({})
    return out


async def test_forward_only_in_any_order_and_valid_for_the_app(db: Database) -> None:
    await ensure_indexes(db, jq.INDEXES)
    c = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
    j = job(c["_id"])
    # the scrape's own result can land first: it already leaves a document the app can read
    await jq.record_result(db, job=j, result={"postingsFound": 3}, now=T0 + timedelta(seconds=4))
    first = await jq.get(db, namespace="ns", job_name=j.job_name)
    assert first is not None and appschema.problems("jobqueues", first) == []
    assert first["status"] == "processing" and first["companyId"] == c["_id"]

    assert not await jq.claim(db, job=j, now=T0)  # the document exists already: completed, not created
    assert await jq.mark_finished(
        db, job=j, status=jq.QueueStatus.FAILED, at=T0 + timedelta(seconds=9), retries=1, now=T0,
        error_message="greenhouse source failed: HTTP 503", reason="BackoffLimitExceeded",
    )  # fmt: skip
    # replays after a crash: nothing moves backwards, nothing is duplicated
    assert not await jq.claim(db, job=j, now=T0)
    assert not await jq.mark_finished(db, job=j, status=jq.QueueStatus.COMPLETED, at=T0, retries=0, now=T0)
    docs = await db["jobqueues"].find({}).to_list()
    assert len(docs) == 1
    doc = docs[0]
    assert appschema.problems("jobqueues", doc) == []
    assert doc["_id"] == jq.doc_id("ns", j.job_name)
    assert (doc["status"], doc["errorMessage"], doc["retryCount"]) == (
        "failed",
        "greenhouse source failed: HTTP 503",
        1,
    )
    assert doc["completedAt"] == T0 + timedelta(seconds=9) and doc["createdAt"] == T0
    assert doc["result"] == {"postingsFound": 3} and doc["jobName"] == j.job_name
    assert doc["lastAttemptAt"] == T0 + timedelta(seconds=4)  # the first write's (the scrape's result)


async def test_the_app_still_inserts_its_own_documents(db: Database) -> None:
    """The operator's indexes never refuse the app's documents: several without jobName, per company."""
    await ensure_indexes(db, jq.INDEXES)
    c = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
    await jq.claim(db, job=job(c["_id"]), now=T0)
    await db["jobqueues"].insert_many([appdata.app_queue_doc(c, "completed") for _ in range(3)])
    await db["jobqueues"].insert_one(appdata.app_queue_doc(c, "failed", legacy=True))
    assert await db["jobqueues"].count_documents({"jobName": {"$exists": False}}) == 4


async def test_app_documents_are_superseded_never_two_active(db: Database) -> None:
    await ensure_indexes(db, jq.INDEXES)
    acme = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
    other = appdata.company("globex", "Globex", "https://jobs.lever.co/globex")
    pending = appdata.app_queue_doc(acme, "pending", at=T0 - timedelta(hours=3))
    stuck = appdata.app_queue_doc(acme, "processing", at=T0 - timedelta(hours=2), legacy=True)
    done = appdata.app_queue_doc(acme, "completed", at=T0 - timedelta(days=1))
    unrelated = appdata.app_queue_doc(other, "pending")
    await db["jobqueues"].insert_many([pending, stuck, done, unrelated])

    j = job(acme["_id"])
    assert await jq.claim(db, job=j, now=T0)
    # the app's scheduler guard finds exactly the operator's document for the company
    active = await db["jobqueues"].find({"companyId": acme["_id"], "status": ACTIVE}).to_list()
    assert [d["_id"] for d in active] == [j.id]
    found = await db["jobqueues"].find_one({"companyId": acme["_id"], "status": ACTIVE})
    assert found is not None and found["jobName"] == j.job_name
    ours = await jq.get(db, namespace="ns", job_name=j.job_name)
    assert ours is not None and sorted(ours["supersedes"]) == sorted([pending["_id"], stuck["_id"]])
    for old in (pending, stuck):
        d = await db["jobqueues"].find_one({"_id": old["_id"]})
        assert d is not None and appschema.problems("jobqueues", d) == []
        assert d["status"] == "failed" and d["supersededBy"] == j.job_name
        assert d["errorMessage"] == f"superseded by scoutly-operator Job ns/{j.job_name}"
        assert d["completedAt"] == T0
    assert (await db["jobqueues"].find_one({"_id": done["_id"]})) == done  # finished ones stay as they are
    assert (await db["jobqueues"].find_one({"_id": unrelated["_id"]})) == unrelated  # other companies too
    assert await app_counts(db) == {"pending": 1, "processing": 1, "completed": 1, "failed": 2, "total": 5}

    # the app's worker claims only `pending` documents, oldest first: never the operator's
    claimed = await db["jobqueues"].find_one_and_update(
        {"status": "pending"},
        {"$set": {"status": "processing", "lastAttemptAt": T0}},
        sort=[("createdAt", 1)],
    )
    assert claimed is not None and claimed["_id"] == unrelated["_id"]

    # once finished, a claim replayed (after a crash) supersedes nothing the app queued since
    await jq.mark_finished(db, job=j, status=jq.QueueStatus.COMPLETED, at=T0, retries=0, now=T0)
    later = appdata.app_queue_doc(acme, "pending", at=T0 + timedelta(hours=1))
    await db["jobqueues"].insert_one(later)
    assert not await jq.claim(db, job=j, now=T0 + timedelta(hours=2))
    assert (await db["jobqueues"].find_one({"_id": later["_id"]}) or {})["status"] == "pending"


async def test_a_claim_lost_in_an_outage_is_made_good_by_the_next_write(db: Database) -> None:
    """The mirror keeps only a Job's latest write while MongoDB is down: the finish alone must still
    supersede the app's documents and leave a complete document."""
    acme = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
    pending = appdata.app_queue_doc(acme, "pending")
    await db["jobqueues"].insert_one(pending)
    j = job(acme["_id"])
    assert await jq.mark_finished(db, job=j, status=jq.QueueStatus.COMPLETED, at=T0, retries=0, now=T0)
    doc = await jq.get(db, namespace="ns", job_name=j.job_name)
    assert doc is not None and appschema.problems("jobqueues", doc) == []
    assert doc["status"] == "completed" and doc["retryCount"] == 0 and doc["__v"] == 0
    assert (await db["jobqueues"].find_one({"_id": pending["_id"]}) or {})["status"] == "failed"


async def test_same_job_name_in_two_namespaces_is_two_documents(db: Database) -> None:
    acme = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
    await jq.claim(db, job=job(acme["_id"], namespace="a"), now=T0)
    await jq.mark_finished(
        db, job=job(acme["_id"], namespace="a"), status=jq.QueueStatus.COMPLETED, at=T0, retries=0, now=T0
    )
    await jq.claim(db, job=job(acme["_id"], namespace="b"), now=T0)
    assert await db["jobqueues"].count_documents({"jobName": "acme-29370000"}) == 2


async def test_last_successful_scrape_only_moves_forward(db: Database) -> None:
    acme = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
    await db["companies"].insert_one(acme)
    later, earlier = T0 + timedelta(hours=2), T0 + timedelta(hours=1)
    assert await companies.set_last_successful_scrape(db, company=acme["_id"], at=later, now=later)
    assert not await companies.set_last_successful_scrape(db, company=acme["_id"], at=earlier, now=later)
    doc = await db["companies"].find_one({"_id": acme["_id"]})
    assert doc is not None and doc["lastSuccessfulScrape"] == later and doc["updatedAt"] == later
    assert appschema.problems("companies", doc) == []
