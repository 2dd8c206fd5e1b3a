"""`jobboards`: one document per fetched board (source, board), written once per run. It says when the
board was last fetched and last listed completely: every OPEN posting of the board was on it at
`lastCompleteAt`, so unchanged postings need no write of their own (on FerretDB each written document
costs a scan of the collection; touching 2,000 unchanged postings took 50 s per run)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scoutly.store.mongo import Database, Doc
from scoutly.store.postings import key_id

COLLECTION = "jobboards"


def board_id(source: str, board: str) -> str:
    return key_id("board", source, board)


async def record_fetch(
    db: Database,
    *,
    source: str,
    board: str,
    target: str,
    company_id: str | None,
    open_postings: int,
    complete: bool,
    now: datetime,
) -> None:
    fields: dict[str, Any] = {
        "source": source,
        "board": board,
        "target": target,
        "companyId": company_id,
        "lastFetchedAt": now,
        "openPostings": open_postings,
    }
    if complete:
        fields["lastCompleteAt"] = now
    await db[COLLECTION].update_one(
        {"_id": board_id(source, board)},
        {"$set": fields, "$setOnInsert": {"firstFetchedAt": now}},
        upsert=True,
    )


async def find(db: Database, *, source: str, board: str) -> Doc | None:
    return await db[COLLECTION].find_one({"_id": board_id(source, board)})
