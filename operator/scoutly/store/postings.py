"""`jobpostings`: one document per (source, board, nativeId). Postings gone from the board are marked
CLOSED, never deleted; a content change updates the document and its contentHash.

Writes never filter on anything but `_id`: FerretDB (SQLite backend) pushes no other filter down to
SQLite, so a filter on the natural key scans the whole collection once per document (quadratic runs).
A posting not stored yet is inserted (one batched insert, unlike an upsert per document) with an `_id`
derived from its natural key (`posting_id`); a stored one is updated by the `_id` it has, which
`load_states` reads back (documents stored by older versions have server-assigned ObjectIds). The
unique natural-key index stays: it keeps one document per posting whatever its `_id`, and a write it
refuses (someone stored the posting after we read) is retried as an upsert on the natural key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import InsertOne, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError

from scoutly.store.mongo import Database, Doc, IndexSpec

COLLECTION = "jobpostings"
OPEN, CLOSED = "OPEN", "CLOSED"
INDEXES = (
    IndexSpec(COLLECTION, (("source", 1), ("board", 1), ("nativeId", 1)), unique=True),
    IndexSpec(COLLECTION, (("companyId", 1), ("status", 1))),
)
_BATCH = 500  # ids per $in
_INSERTS_PER_CALL = 1000
# FerretDB v1.24 (SQLite) keeps each update statement's cursor, and so one of its 100 SQLite
# connections, open until the whole `update` command ends when the statement matched a document: a
# command of 100 or more such statements waits forever for a connection. Stay well below.
_UPDATES_PER_CALL = 50
DUPLICATE_KEY = 11000
Write = InsertOne[Doc] | UpdateOne | UpdateMany


def key_id(kind: str, *parts: str) -> str:
    """A deterministic, bounded `_id` for a natural key: sha256 over the JSON array of the parts (so
    untrusted parts cannot collide by concatenation), 32 hex digits (128 bits)."""
    raw = json.dumps([kind, *parts], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def posting_id(source: str, board: str, native_id: str) -> str:
    return key_id("posting", source, board, native_id)


@dataclass
class Stored:
    """What a run needs of the stored postings of one board."""

    states: dict[str, tuple[str, str]] = field(default_factory=dict)  # nativeId -> (contentHash, status)
    ids: dict[str, Any] = field(default_factory=dict)  # nativeId -> the stored document's _id


async def load_states(db: Database, *, source: str, board: str) -> Stored:
    """(contentHash, status) and `_id` of every stored posting of the board (one scan)."""
    out = Stored()
    cursor = db[COLLECTION].find(
        {"source": source, "board": board}, {"nativeId": 1, "contentHash": 1, "status": 1, "_id": 1}
    )
    async for d in cursor:
        nid = str(d["nativeId"])
        out.states[nid] = (str(d.get("contentHash", "")), str(d.get("status", OPEN)))
        out.ids[nid] = d["_id"]
    return out


def _chunks(ops: Sequence[Write]) -> list[tuple[int, Sequence[Write]]]:
    """(offset, ops) runs of one kind (inserts / updates), each small enough for one command."""
    out: list[tuple[int, Sequence[Write]]] = []
    start = 0
    for i in range(1, len(ops) + 1):
        kind = isinstance(ops[start], InsertOne)
        limit = _INSERTS_PER_CALL if kind else _UPDATES_PER_CALL
        if i == len(ops) or isinstance(ops[i], InsertOne) != kind or i - start == limit:
            out.append((start, ops[start:i]))
            start = i
    return out


async def bulk_by_id(
    db: Database, collection: str, ops: Sequence[Write], fallbacks: Mapping[int, UpdateOne]
) -> None:
    """Write `ops` (unordered) in commands FerretDB copes with. A write the natural-key unique index
    refuses (duplicate key: the document was stored after we read, under another `_id`) is retried once
    as the upsert in `fallbacks` (same index as in `ops`): slow on FerretDB, but rare."""
    retry: list[UpdateOne] = []
    for offset, chunk in _chunks(ops):
        try:
            await db[collection].bulk_write(list(chunk), ordered=False)
        except BulkWriteError as e:
            if e.details.get("writeConcernErrors"):
                raise
            for err in e.details.get("writeErrors", []):
                fb = fallbacks.get(offset + int(err["index"]))
                if err.get("code") != DUPLICATE_KEY or fb is None:
                    raise
                retry.append(fb)
    for _, chunk in _chunks(retry):
        await db[collection].bulk_write(list(chunk), ordered=False)


async def save(
    db: Database,
    *,
    source: str,
    board: str,
    upserts: Iterable[Mapping[str, Any]],
    closed_ids: Iterable[str],
    company_id: str | None,
    target: str,
    now: datetime,
    ids: Mapping[str, Any] | None = None,
) -> None:
    """Write new/changed postings (`upserts`, fields as stored) and close `closed_ids` (native ids);
    unchanged postings are not written (their board's `jobboards` record says when they were seen). `ids`: nativeId -> `_id` of the stored documents (`Stored.ids`); a posting not in it
    gets `posting_id`."""
    stored = ids or {}
    key = {"source": source, "board": board}

    def _id(native_id: str) -> Any:
        return stored[native_id] if native_id in stored else posting_id(source, board, native_id)

    ops: list[Write] = []
    fallbacks: dict[int, UpdateOne] = {}
    for doc in upserts:
        nid = str(doc["nativeId"])
        fields = {
            **{k: v for k, v in doc.items() if k != "_id"},
            **key,
            "companyId": company_id,
            "target": target,
            "status": OPEN,
            "lastChangedAt": now,
            "closedAt": None,
        }
        update = {"$set": fields, "$setOnInsert": {"firstSeenAt": now}}
        fallbacks[len(ops)] = UpdateOne({**key, "nativeId": nid}, update, upsert=True)
        if nid in stored:
            ops.append(UpdateOne({"_id": stored[nid]}, update, upsert=True))
        else:
            ops.append(InsertOne({"_id": posting_id(source, board, nid), **fields, "firstSeenAt": now}))
    closed = [_id(n) for n in closed_ids]
    for i in range(0, len(closed), _BATCH):
        ops.append(
            UpdateMany(
                {"_id": {"$in": closed[i : i + _BATCH]}, "status": OPEN},
                {"$set": {"status": CLOSED, "closedAt": now}},
            )
        )
    await bulk_by_id(db, COLLECTION, ops, fallbacks)


async def find(db: Database, *, source: str, board: str) -> list[Doc]:
    return [d async for d in db[COLLECTION].find({"source": source, "board": board})]
