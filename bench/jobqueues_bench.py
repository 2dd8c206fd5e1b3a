"""jobqueues writes on FerretDB as the collection grows: each Job's writes (scoutly.store.jobqueues:
the controller's claim with its supersession query, the scrape's own result, the controller's finish,
keyed by a derived `_id`, in the app's format), timed per batch against the number of documents
already stored, next to the previous design measured in the same run (keyed by `jobName` with a
unique index: an insert, the PROCESSING and COMPLETED upserts and the scrape's result, each filtered by
jobName) and plain inserts. Then the controller's periodic
read of companies.lastSuccessfulScrape over `--companies` companies.

    .venv/bin/python bench/jobqueues_bench.py --jobs 2000 --batch 500 --companies 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bson import ObjectId

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for bench.*

from bench.ferret import start_ferretdb

from scoutly.store import companies
from scoutly.store import jobqueues as jq
from scoutly.store.mongo import Database, IndexSpec, connect, ensure_indexes

COMPANIES = [ObjectId() for _ in range(200)]  # the Jobs spread over 200 companies
RESULT = {"postingsFound": 120, "postingsNew": 3, "postingsChanged": 1, "postingsClosed": 0, "candidates": 2,
          "matches": 1, "tokens": {"prompt": 900, "completion": 100, "cached": 0}, "model": "gpt-4o-mini",
          "durationSeconds": 4.2, "errors": [], "message": "120 postings (3 new, 1 changed, 0 closed)"}  # fmt: skip


async def now_design(db: Database, i: int, at: datetime) -> None:
    job = jq.JobRef(
        namespace="bench",
        job_name=f"job-{i:07d}",
        target="bench/t",
        company=COMPANIES[i % 200],
        created_at=at,
    )
    await jq.claim(db, job=job, now=at)
    await jq.record_result(db, job=job, result=RESULT, now=at)
    await jq.mark_finished(
        db, job=job, status=jq.QueueStatus.COMPLETED, at=at, retries=0, now=at, result=RESULT
    )


async def previous_design(db: Database, i: int, at: datetime) -> None:
    """What the store did before (the same fields the previous store wrote): an insert, forward-only
    upserts filtered by jobName, and the scrape's result upserted by jobName."""
    name, coll = f"job-{i:07d}", db[jq.COLLECTION]
    ident = {"target": "bench/t", "companyId": str(COMPANIES[i % 200]), "createdAt": at, "scheduledFor": at}
    await coll.insert_one({"jobName": name, "status": "PENDING", "attempts": 0, **ident})
    await coll.update_one(
        {"jobName": name, "status": {"$in": [None, "PENDING"]}},
        {"$set": {"status": "PROCESSING", "lastAttemptAt": at, "attempts": 1, **ident},
         "$setOnInsert": {"jobName": name}},
        upsert=True,
    )  # fmt: skip
    await coll.update_one({"jobName": name}, {"$set": {"result": RESULT}}, upsert=True)
    await coll.update_one(
        {"jobName": name, "status": {"$in": [None, "PENDING", "PROCESSING"]}},
        {"$set": {"status": "COMPLETED", "finishedAt": at, "attempts": 1, "error": None, "reason": None,
                  "result": RESULT, **ident},
         "$setOnInsert": {"jobName": name}},
        upsert=True,
    )  # fmt: skip


async def insert_only(db: Database, i: int, at: datetime) -> None:
    await db[jq.COLLECTION].insert_one(
        {"jobName": f"job-{i:07d}", "status": "completed", "target": "bench/t", "createdAt": at}
    )


PREVIOUS_INDEXES = (IndexSpec(jq.COLLECTION, (("jobName", 1),), unique=True),)


async def company_reads(db: Database, n: int, rounds: int = 5) -> dict[str, object]:
    at = datetime.now(UTC)
    docs = [
        {"_id": ObjectId(), "companyID": f"c{i}", "company": f"Company {i}", "careers_url": "https://x.io/jobs",
         "lastSuccessfulScrape": at, "work_model": "HYBRID", "headquarters": "x", "openToApplication": False,
         "createdAt": at, "updatedAt": at, "__v": 0}
        for i in range(n)
    ]  # fmt: skip
    for k in range(0, n, 1000):
        await db["companies"].insert_many(docs[k : k + 1000])
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        rows = await companies.last_scrapes(db)
        times.append(time.perf_counter() - t0)
        assert len(rows) == n
    return {"companies": n, "read_seconds_median": round(statistics.median(times), 3), "rounds": rounds}


async def main(jobs: int, batch: int, n_companies: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="scoutly-bench-jq-"))
    fdb, uri = start_ferretdb(tmp)
    client = connect(uri)
    rows: list[dict[str, object]] = []
    try:
        for kind, write, indexes in (
            ("now", now_design, jq.INDEXES),
            ("previous", previous_design, PREVIOUS_INDEXES),
            ("insert_only", insert_only, ()),
        ):
            db = client[f"bench_{kind}"]
            await ensure_indexes(db, indexes)
            at = datetime.now(UTC)
            for start in range(0, jobs, batch):
                t0 = time.perf_counter()
                for i in range(start, start + batch):
                    await write(db, i, at)
                ms = 1000 * (time.perf_counter() - t0) / batch
                rows.append({"kind": kind, "docs_before": start, "ms_per_job": round(ms, 2)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        reads = await company_reads(client["bench_companies"], n_companies) if n_companies else None
    finally:
        await client.close()
        fdb.stop()
    return {"jobs": jobs, "batch": batch, "rows": rows, "company_reads": reads}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--companies", type=int, default=10_000)
    a = ap.parse_args()
    print(json.dumps(asyncio.run(main(a.jobs, a.batch, a.companies)), indent=2))
