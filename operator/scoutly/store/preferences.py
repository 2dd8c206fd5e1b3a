"""Bulk reads for the preference sync: every company, user id and preference, one query each.

`store.candidates` answers per-company questions (who tracks company X, their profiles) for the
scrape workload; the sync needs the whole picture at once, so it reads the three collections in bulk
with narrow projections (5,000 preferences are one cursor, not 1,000 queries).
"""

from __future__ import annotations

from scoutly.store.mongo import Database, Doc

# where the app may keep a company's careers URL; the sync uses the first one set
URL_FIELDS = ("careersUrl", "careerPageUrl", "careersPage", "jobBoardUrl", "url")
COMPANY_FIELDS: dict[str, int] = {"_id": 1, "name": 1, **dict.fromkeys(URL_FIELDS, 1)}
PREFERENCE_FIELDS = {"_id": 1, "userId": 1, "companyId": 1, "rank": 1, "isTracking": 1}


async def load_companies(db: Database) -> list[Doc]:
    return [d async for d in db["companies"].find({}, COMPANY_FIELDS)]


async def load_user_ids(db: Database) -> list[Doc]:
    return [d async for d in db["users"].find({}, {"_id": 1})]


async def load_preferences(db: Database) -> list[Doc]:
    return [d async for d in db["usercompanypreferences"].find({}, PREFERENCE_FIELDS)]
