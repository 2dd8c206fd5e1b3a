"""Bulk reads for the preference sync: every company, user and preference, one narrow cursor each.

Only fields the app writes are read: `companies.{_id, companyID, company, careers_url}`,
`users.{_id, userId, email}`, `usercompanypreferences.{_id, userId, companyId, rank, isTracking}`.
The stale `companies.ranking` and `users.trackedCompanies` are not read, as the app no longer reads them.
`store.candidates` answers the per-company questions of the scrape workload.
"""

from __future__ import annotations

from scoutly.store.mongo import Database, Doc

COMPANY_FIELDS = {"_id": 1, "companyID": 1, "company": 1, "careers_url": 1}
USER_FIELDS = {"_id": 1, "userId": 1, "email": 1}
PREFERENCE_FIELDS = {"_id": 1, "userId": 1, "companyId": 1, "rank": 1, "isTracking": 1}


async def load_companies(db: Database) -> list[Doc]:
    return [d async for d in db["companies"].find({}, COMPANY_FIELDS)]


async def load_users(db: Database) -> list[Doc]:
    return [d async for d in db["users"].find({}, USER_FIELDS)]


async def load_preferences(db: Database) -> list[Doc]:
    return [d async for d in db["usercompanypreferences"].find({}, PREFERENCE_FIELDS)]
