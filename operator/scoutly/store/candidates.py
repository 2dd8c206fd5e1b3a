"""Reads of the app's `users` and `usercompanypreferences`: who tracks a company, and their profile."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from scoutly.store.mongo import Database, Doc

PROFILE_FIELDS = {"_id": 1, "email": 1, "candidateInfo": 1, "cvText": 1, "cvUrl": 1}


def _id_variants(value: Any) -> list[Any]:
    """The app stores ObjectIds; fixtures and other apps may use strings."""
    s = str(value)
    try:
        return [ObjectId(s), s]
    except (InvalidId, TypeError):
        return [s]


async def tracking_user_ids(db: Database, *, company_id: str) -> list[str]:
    cursor = db["usercompanypreferences"].find(
        {"companyId": {"$in": _id_variants(company_id)}, "isTracking": True}, {"userId": 1}
    )
    return [str(d["userId"]) async for d in cursor if d.get("userId") is not None]


async def load_users(db: Database, *, refs: Iterable[str]) -> list[Doc]:
    """Users by id or email (ScrapeTarget trackers may name either), each once."""
    ids: list[Any] = []
    emails: list[str] = []
    for r in refs:
        ids.extend(_id_variants(r))
        if "@" in r:
            emails.append(r)
    query: Doc = {"$or": [{"_id": {"$in": ids}}, {"email": {"$in": emails}}]}
    out: dict[str, Doc] = {}
    async for d in db["users"].find(query, PROFILE_FIELDS):
        out.setdefault(str(d["_id"]), d)
    return list(out.values())
