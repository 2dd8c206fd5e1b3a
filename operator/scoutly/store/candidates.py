"""Reads of the app's `users` and `usercompanypreferences` for one scrape: who tracks the company, and
their profiles (`email`, `cvUrl`, the nested `candidateInfo`: the fields the app writes, nothing else).

`usercompanypreferences.userId` is a String holding `String(users._id)` (older app) or
`String(users.userId)` (newer app); a ScrapeTarget's trackers may name a user by either, or by email.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from scoutly.store.companies import oid_of
from scoutly.store.mongo import Database, Doc

PROFILE_FIELDS = {"_id": 1, "userId": 1, "email": 1, "cvUrl": 1, "candidateInfo": 1}


async def tracking_user_refs(db: Database, *, company: ObjectId) -> list[str]:
    """`userId` of every preference tracking the company (`isTracking: true`, as the app's scheduler
    queries it)."""
    cursor = db["usercompanypreferences"].find({"companyId": company, "isTracking": True}, {"userId": 1})
    return [str(d["userId"]) async for d in cursor if d.get("userId") not in (None, "")]


async def load_users(db: Database, *, refs: Iterable[str]) -> list[Doc]:
    """Users named by `_id`, `userId` (either as 24 hex digits) or email; each user once."""
    oids: list[Any] = []
    emails: list[str] = []
    for r in refs:
        oid = oid_of(r)
        if oid is not None:
            oids.append(oid)
        elif "@" in r:
            emails.append(r.strip().lower())  # the app stores emails lowercased
    if not oids and not emails:
        return []
    query: Doc = {"$or": [{"_id": {"$in": oids}}, {"userId": {"$in": oids}}, {"email": {"$in": emails}}]}
    out: dict[str, Doc] = {}
    async for d in db["users"].find(query, PROFILE_FIELDS):
        out.setdefault(str(d["_id"]), d)
    return list(out.values())
