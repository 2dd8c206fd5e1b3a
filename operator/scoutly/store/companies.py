"""The app's `companies` (src/models/Company.ts): the operator reads a company's identity and last
scrape, and moves `lastSuccessfulScrape` forward; it never creates or deletes a company.

A ScrapeTarget names its company by `spec.companyId`: the company's `_id` as 24 hex digits (what the
preference sync writes) or its `companyID` slug (handier by hand, e.g. `acme`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId

from scoutly.store.mongo import Database, Doc

COLLECTION = "companies"
_HEX24 = re.compile(r"^[0-9a-fA-F]{24}$")


@dataclass(frozen=True)
class CompanyRef:
    oid: ObjectId
    slug: str | None = None  # companyID
    name: str | None = None  # company


def oid_of(ref: str) -> ObjectId | None:
    """The ObjectId a reference spells directly (24 hex digits), else None (a slug)."""
    return ObjectId(ref) if _HEX24.match(ref) else None


def _ref(doc: Doc) -> CompanyRef:
    slug, name = doc.get("companyID"), doc.get("company")
    return CompanyRef(
        oid=doc["_id"],
        slug=slug if isinstance(slug, str) and slug else None,
        name=name if isinstance(name, str) and name else None,
    )


async def resolve(db: Database, ref: str) -> CompanyRef | None:
    """The company a target's `companyId` names, or None when there is none."""
    oid = oid_of(ref)
    filt: Doc = {"_id": oid} if oid is not None else {"companyID": ref}
    doc = await db[COLLECTION].find_one(filt, {"_id": 1, "companyID": 1, "company": 1})
    return _ref(doc) if doc is not None and isinstance(doc.get("_id"), ObjectId) else None


@dataclass(frozen=True)
class LastScrape:
    oid: ObjectId
    slug: str | None
    at: datetime | None


async def last_scrapes(db: Database) -> list[LastScrape]:
    """`lastSuccessfulScrape` of every company: one narrow cursor (the controller's periodic read)."""
    out: list[LastScrape] = []
    async for d in db[COLLECTION].find({}, {"_id": 1, "companyID": 1, "lastSuccessfulScrape": 1}):
        if not isinstance(d.get("_id"), ObjectId):
            continue
        at = d.get("lastSuccessfulScrape")
        slug = d.get("companyID")
        out.append(
            LastScrape(
                d["_id"], slug if isinstance(slug, str) else None, at if isinstance(at, datetime) else None
            )
        )
    return out


async def set_last_successful_scrape(db: Database, *, company: ObjectId, at: datetime, now: datetime) -> bool:
    """Move `lastSuccessfulScrape` to `at` unless it is already as new (outcomes replay out of order);
    `updatedAt` moves with it, as Mongoose's timestamps would. True when the document changed."""
    res = await db[COLLECTION].update_one(
        {
            "_id": company,
            "$or": [{"lastSuccessfulScrape": {"$lt": at}}, {"lastSuccessfulScrape": None}],
        },
        {"$set": {"lastSuccessfulScrape": at, "updatedAt": now}},
    )
    return bool(res.modified_count)
