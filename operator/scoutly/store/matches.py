"""`jobmatches` (operator-only): one verdict per (posting, user), matches and non-matches alike, with
the posting and profile hashes it was made for, so an unchanged pair is never scored twice. The app
shows matches from `savedjobs` (store/savedjobs.py), written beside these.

Written like `jobpostings` (see there): a new verdict is inserted with `match_id` of its natural key as
`_id`, a stored one is updated by its own `_id` (`load` returns whole documents, `_id` included)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pymongo import InsertOne, UpdateOne

from scoutly.store.mongo import Database, Doc, IndexSpec
from scoutly.store.postings import Write, bulk_by_id, key_id

COLLECTION = "jobmatches"
INDEXES = (
    IndexSpec(COLLECTION, (("source", 1), ("board", 1), ("nativeId", 1), ("userId", 1)), unique=True),
    IndexSpec(COLLECTION, (("userId", 1), ("score", -1))),
)


def match_id(source: str, board: str, native_id: str, user_id: str) -> str:
    return key_id("match", source, board, native_id, user_id)


async def load(
    db: Database, *, source: str, board: str, user_ids: Iterable[str]
) -> dict[tuple[str, str], Doc]:
    """(nativeId, userId) -> stored verdict for the board and users."""
    out: dict[tuple[str, str], Doc] = {}
    cursor = db[COLLECTION].find({"source": source, "board": board, "userId": {"$in": list(user_ids)}})
    async for d in cursor:
        out[(str(d["nativeId"]), str(d["userId"]))] = d
    return out


async def save(
    db: Database,
    *,
    source: str,
    board: str,
    docs: Iterable[Mapping[str, Any]],
    stored: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> int:
    """Write verdicts (each with nativeId and userId); returns how many were written. `stored`: what
    `load` returned; those are updated by their `_id`, the others inserted with `match_id`."""
    ops: list[Write] = []
    fallbacks: dict[int, UpdateOne] = {}
    for d in docs:
        nid, uid = str(d["nativeId"]), str(d["userId"])
        fields = {**{k: v for k, v in d.items() if k != "_id"}, "source": source, "board": board}
        natural = {"source": source, "board": board, "nativeId": d["nativeId"], "userId": d["userId"]}
        fallbacks[len(ops)] = UpdateOne(natural, {"$set": fields}, upsert=True)
        prev = (stored or {}).get((nid, uid))
        if prev is not None and "_id" in prev:
            ops.append(UpdateOne({"_id": prev["_id"]}, {"$set": fields}, upsert=True))
        else:
            ops.append(InsertOne({"_id": match_id(source, board, nid, uid), **fields}))
    await bulk_by_id(db, COLLECTION, ops, fallbacks)
    return len(ops)
