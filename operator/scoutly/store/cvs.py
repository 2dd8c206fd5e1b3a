"""`candidatecvs` (operator-only): the text extracted from a user's CV (`users.cvUrl`), so a CV is
fetched once per `SCOUTLY_CV_MAX_AGE`, not once per company scrape. Keyed by the user's `_id`; a new
`cvUrl` makes the stored text stale at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scoutly.store.mongo import Database, Doc

COLLECTION = "candidatecvs"


async def load(db: Database, *, user_ids: list[Any]) -> dict[str, Doc]:
    """str(user _id) -> stored CV record."""
    if not user_ids:
        return {}
    return {str(d["_id"]): d async for d in db[COLLECTION].find({"_id": {"$in": user_ids}})}


async def save(
    db: Database, *, user_id: Any, cv_url: str, text: str, error: str | None, sha256: str | None, at: datetime
) -> None:
    await db[COLLECTION].update_one(
        {"_id": user_id},
        {"$set": {"cvUrl": cv_url, "text": text, "error": error, "sha256": sha256, "fetchedAt": at}},
        upsert=True,
    )
