"""`jobmatches`: one verdict per (posting, user), with the posting and profile hashes it was made for,
so an unchanged pair is never scored twice."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pymongo
from pymongo import UpdateOne

from scoutly.store.mongo import Database, Doc

COLLECTION = "jobmatches"
INDEXES: tuple[tuple[str, list[tuple[str, int]], bool], ...] = (
    (
        COLLECTION,
        [
            ("source", pymongo.ASCENDING),
            ("board", pymongo.ASCENDING),
            ("nativeId", pymongo.ASCENDING),
            ("userId", pymongo.ASCENDING),
        ],
        True,
    ),
    (COLLECTION, [("userId", pymongo.ASCENDING), ("score", pymongo.DESCENDING)], False),
)
_BATCH = 500


async def load(
    db: Database, *, source: str, board: str, user_ids: Iterable[str]
) -> dict[tuple[str, str], Doc]:
    """(nativeId, userId) -> stored verdict for the board and users."""
    out: dict[tuple[str, str], Doc] = {}
    cursor = db[COLLECTION].find({"source": source, "board": board, "userId": {"$in": list(user_ids)}})
    async for d in cursor:
        out[(str(d["nativeId"]), str(d["userId"]))] = d
    return out


async def save(db: Database, *, source: str, board: str, docs: Iterable[Mapping[str, Any]]) -> int:
    """Upsert verdicts (each with nativeId and userId); returns how many were written."""
    ops = [
        UpdateOne(
            {"source": source, "board": board, "nativeId": d["nativeId"], "userId": d["userId"]},
            {"$set": {**d, "source": source, "board": board}},
            upsert=True,
        )
        for d in docs
    ]
    for i in range(0, len(ops), _BATCH):
        await db[COLLECTION].bulk_write(ops[i : i + _BATCH], ordered=False)
    return len(ops)
