"""`savedjobs` (src/models/SavedJob.ts): where the app shows a user's matches. The operator adds a
match the way the app's ResultsStorageStep does: one document per (userId, jobId = the posting's URL),
status `WANT_TO_APPLY`, skipped when the user has it already, never rewritten afterwards (the user owns
its status and notes from then on).

`userId` is `String(users._id)` (ResultsStorageStep writes Mongoose's `user.id`). Documents of the older
app generation (`user`/`company` ObjectIds and `url`) count as "has it already" too. What the operator
needs beside the app's fields lives under one `scoutly` key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from bson import ObjectId
from pymongo.errors import BulkWriteError

from scoutly.store import appschema
from scoutly.store.companies import oid_of
from scoutly.store.mongo import Database, Doc, IndexSpec

COLLECTION = "savedjobs"
DUPLICATE_KEY = 11000
log = logging.getLogger("scoutly.store")

# the app's own indexes (SavedJob.ts). MongoDB refuses the unique one while documents of the older
# generation (no userId/jobId: all keyed null) are there; ensure_indexes reports that and goes on.
INDEXES = (
    IndexSpec(COLLECTION, (("userId", 1),), owner="app"),
    IndexSpec(COLLECTION, (("userId", 1), ("jobId", 1)), unique=True, owner="app"),
)


async def saved_pairs(db: Database, *, user_ids: Sequence[str], urls: Sequence[str]) -> set[tuple[str, str]]:
    """(userId, jobId) of the given users' saved jobs among `urls`, in both app generations."""
    if not user_ids or not urls:
        return set()
    oids = [o for o in (oid_of(u) for u in user_ids) if o is not None]
    query: Doc = {
        "$or": [
            {"userId": {"$in": list(user_ids)}, "jobId": {"$in": list(urls)}},
            {"user": {"$in": oids}, "url": {"$in": list(urls)}},
        ]
    }
    out: set[tuple[str, str]] = set()
    async for d in db[COLLECTION].find(query, {"userId": 1, "jobId": 1, "user": 1, "url": 1}):
        if d.get("userId") is not None and d.get("jobId") is not None:
            out.add((str(d["userId"]), str(d["jobId"])))
        elif d.get("user") is not None and d.get("url") is not None:
            out.add((str(d["user"]), str(d["url"])))
    return out


def saved_job(
    *,
    user_id: str,
    url: str,
    company: ObjectId,
    title: str,
    score: int,
    reasons: Iterable[str],
    location: str | None,
    salary: dict[str, Any] | None,
    now: Any,
    scoutly: dict[str, Any],
) -> Doc:
    """A new saved job exactly as ResultsStorageStep creates one (plus `scoutly`)."""
    good = [r for r in reasons if r]
    doc: Doc = {
        "_id": ObjectId(),
        "userId": user_id,
        "jobId": url,
        "companyId": company,
        "status": appschema.ApplicationStatus.WANT_TO_APPLY.value,
        "title": title,
        "url": url,
        "goodFitReasons": good,
        "considerationPoints": [],
        "stretchGoals": [],
        "suitabilityScore": max(0, min(100, score)),
        "techStack": [],
        "languageRequirements": [],
        "notes": f"AI Analysis Summary: {score}% match - {', '.join(good)}",
        "createdAt": now,
        "updatedAt": now,
        "__v": 0,
        "scoutly": scoutly,
    }
    if location:
        doc["location"] = location
    if salary:
        doc["salary"] = salary
    appschema.check(COLLECTION, doc)
    return doc


async def insert_new(db: Database, docs: Sequence[Doc]) -> int:
    """Insert; a duplicate (saved meanwhile, the app's unique index) is skipped. Returns how many
    were inserted."""
    if not docs:
        return 0
    try:
        res = await db[COLLECTION].insert_many(list(docs), ordered=False)
        return len(res.inserted_ids)
    except BulkWriteError as e:
        errors = e.details.get("writeErrors", [])
        if e.details.get("writeConcernErrors") or any(err.get("code") != DUPLICATE_KEY for err in errors):
            raise
        return int(e.details.get("nInserted", len(docs) - len(errors)))
