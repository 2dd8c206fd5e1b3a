"""The app's `companies` collection: the controller only records lastSuccessfulScrape."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from bson.errors import InvalidId

from scoutly.store.mongo import Database


def company_filter(company_id: str) -> dict[str, object]:
    """The app keys companies by ObjectId; accept string ids too (fixtures, other apps)."""
    try:
        return {"_id": {"$in": [ObjectId(company_id), company_id]}}
    except (InvalidId, TypeError):
        return {"_id": company_id}


async def set_last_successful_scrape(db: Database, *, company_id: str, at: datetime) -> None:
    # $max keeps the newest time when outcomes are replayed out of order
    await db["companies"].update_one(company_filter(company_id), {"$max": {"lastSuccessfulScrape": at}})
