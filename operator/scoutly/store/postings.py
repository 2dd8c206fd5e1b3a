"""`jobpostings`: one document per (source, board, nativeId). Postings gone from the board are marked
CLOSED, never deleted; a content change updates the document and its contentHash."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pymongo
from pymongo import UpdateMany, UpdateOne

from scoutly.store.mongo import Database, Doc

COLLECTION = "jobpostings"
OPEN, CLOSED = "OPEN", "CLOSED"
INDEXES: tuple[tuple[str, list[tuple[str, int]], bool], ...] = (
    (
        COLLECTION,
        [("source", pymongo.ASCENDING), ("board", pymongo.ASCENDING), ("nativeId", pymongo.ASCENDING)],
        True,
    ),
    (COLLECTION, [("companyId", pymongo.ASCENDING), ("status", pymongo.ASCENDING)], False),
)
_BATCH = 500


async def load_states(db: Database, *, source: str, board: str) -> dict[str, tuple[str, str]]:
    """nativeId -> (contentHash, status) of every stored posting of the board."""
    out: dict[str, tuple[str, str]] = {}
    cursor = db[COLLECTION].find(
        {"source": source, "board": board}, {"nativeId": 1, "contentHash": 1, "status": 1, "_id": 0}
    )
    async for d in cursor:
        out[str(d["nativeId"])] = (str(d.get("contentHash", "")), str(d.get("status", OPEN)))
    return out


async def save(
    db: Database,
    *,
    source: str,
    board: str,
    upserts: Iterable[Mapping[str, Any]],
    seen_ids: Iterable[str],
    closed_ids: Iterable[str],
    company_id: str | None,
    target: str,
    now: datetime,
) -> None:
    """Write new/changed postings (`upserts`, fields as stored), touch `seen_ids`, close `closed_ids`."""
    key = {"source": source, "board": board}
    ops: list[UpdateOne | UpdateMany] = []
    for doc in upserts:
        ops.append(
            UpdateOne(
                {**key, "nativeId": doc["nativeId"]},
                {
                    "$set": {
                        **doc,
                        **key,
                        "companyId": company_id,
                        "target": target,
                        "status": OPEN,
                        "lastSeenAt": now,
                        "lastChangedAt": now,
                        "closedAt": None,
                    },
                    "$setOnInsert": {"firstSeenAt": now},
                },
                upsert=True,
            )
        )
    seen = list(seen_ids)
    for i in range(0, len(seen), _BATCH):
        ops.append(
            UpdateMany({**key, "nativeId": {"$in": seen[i : i + _BATCH]}}, {"$set": {"lastSeenAt": now}})
        )
    closed = list(closed_ids)
    for i in range(0, len(closed), _BATCH):
        ops.append(
            UpdateMany(
                {**key, "nativeId": {"$in": closed[i : i + _BATCH]}, "status": OPEN},
                {"$set": {"status": CLOSED, "closedAt": now}},
            )
        )
    for i in range(0, len(ops), _BATCH):
        await db[COLLECTION].bulk_write(ops[i : i + _BATCH], ordered=False)


async def find(db: Database, *, source: str, board: str) -> list[Doc]:
    return [d async for d in db[COLLECTION].find({"source": source, "board": board})]
