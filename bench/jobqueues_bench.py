"""jobqueues writes on FerretDB as the audit trail grows: the controller's PENDING -> PROCESSING ->
COMPLETED transitions for batches of Jobs (the store's real functions), timed per batch against the
number of documents already in the collection, next to plain inserts of the same documents.

    .venv/bin/python bench/jobqueues_bench.py --jobs 2000 --batch 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for bench.*

from bench.ferret import start_ferretdb

from scoutly.store import jobqueues as jq
from scoutly.store.mongo import Database, connect, ensure_indexes


async def transitions(db: Database, name: str, at: datetime) -> None:
    common = {"job_name": name, "target": "bench/t", "company_id": None, "created_at": at}
    await jq.mark_pending(db, **common)
    await jq.mark_processing(db, **common, at=at, attempts=1)
    await jq.mark_finished(db, **common, status=jq.QueueStatus.COMPLETED, at=at, attempts=1)


async def insert_only(db: Database, name: str, at: datetime) -> None:
    await db[jq.COLLECTION].insert_one(
        {"jobName": name, "status": "COMPLETED", "target": "bench/t", "createdAt": at}
    )


async def main(jobs: int, batch: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="scoutly-bench-jq-"))
    fdb, uri = start_ferretdb(tmp)
    client = connect(uri)
    rows: list[dict[str, object]] = []
    try:
        for kind, write in (("transitions", transitions), ("insert_only", insert_only)):
            db = client[f"bench_{kind}"]
            await ensure_indexes(db)
            at = datetime.now(UTC)
            for start in range(0, jobs, batch):
                t0 = time.perf_counter()
                for i in range(start, start + batch):
                    await write(db, f"job-{i:07d}", at)
                ms = 1000 * (time.perf_counter() - t0) / batch
                rows.append({"kind": kind, "docs_before": start, "ms_per_job": round(ms, 2)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        await client.close()
        fdb.stop()
    return {"jobs": jobs, "batch": batch, "rows": rows}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=500)
    a = ap.parse_args()
    print(json.dumps(asyncio.run(main(a.jobs, a.batch)), indent=2))
