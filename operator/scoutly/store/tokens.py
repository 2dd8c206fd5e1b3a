"""`tokenusages`: one document per LLM call, with the counts exactly as the server reported them."""

from __future__ import annotations

from datetime import datetime

import pymongo

from scoutly.store.mongo import Database, Doc

COLLECTION = "tokenusages"
INDEXES: tuple[tuple[str, list[tuple[str, int]], bool], ...] = (
    (COLLECTION, [("target", pymongo.ASCENDING), ("createdAt", pymongo.DESCENDING)], False),
    (COLLECTION, [("userId", pymongo.ASCENDING), ("createdAt", pymongo.DESCENDING)], False),
)


async def record(
    db: Database,
    *,
    model: str,
    prompt: int,
    completion: int,
    cached: int,
    target: str,
    user_id: str,
    company_id: str | None,
    job_name: str | None,
    purpose: str,
    at: datetime,
) -> None:
    doc: Doc = {
        "model": model,
        "promptTokens": prompt,
        "completionTokens": completion,
        "cachedTokens": cached,
        "totalTokens": prompt + completion,
        "target": target,
        "userId": user_id,
        "companyId": company_id,
        "jobName": job_name,
        "purpose": purpose,
        "createdAt": at,
    }
    await db[COLLECTION].insert_one(doc)


async def find(db: Database, *, target: str) -> list[Doc]:
    return [d async for d in db[COLLECTION].find({"target": target})]
