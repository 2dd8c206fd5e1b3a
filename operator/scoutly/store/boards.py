"""`jobboards`: one document per fetched board (source, board), written once per run. It says when the
board was last fetched and last listed completely: every OPEN posting of the board was on it at
`lastCompleteAt`, so unchanged postings need no write of their own (on FerretDB each written document
costs a scan of the collection; touching 2,000 unchanged postings took 50 s per run).

The record also keeps what the next run needs from this one: `conditional` (per board URL the ETag and
Last-Modified its server sent, with the `parserVersion` that read the response: a newer parser must see
the body again, so it ignores them) and `quality` (the shares of postings lacking a field, the baseline
of the next run's quality check)."""

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
    conditional: list[dict[str, Any]] | None = None,
    parser_version: int | None = None,
    quality: dict[str, Any] | None = None,
) -> None:
    """`conditional`: [{url, etag, lastModified}] to replace the stored ones (None keeps them, [] drops
    them); `quality`: this run's posting quality (None keeps the last)."""
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
    if conditional is not None:
        fields["conditional"] = conditional[:20]
        fields["parserVersion"] = parser_version
    if quality is not None:
        fields["quality"] = quality
    await db[COLLECTION].update_one(
        {"_id": board_id(source, board)},
        {"$set": fields, "$setOnInsert": {"firstFetchedAt": now}},
        upsert=True,
    )


async def find(db: Database, *, source: str, board: str) -> Doc | None:
    return await db[COLLECTION].find_one({"_id": board_id(source, board)})


def conditional_of(doc: Doc | None, *, parser_version: int) -> dict[str, dict[str, str | None]]:
    """The stored validators by URL (`etag`, `lastModified`), or none when a different parser version
    read the responses they describe (or the record is malformed)."""
    if not doc or doc.get("parserVersion") != parser_version or not isinstance(doc.get("conditional"), list):
        return {}
    out: dict[str, dict[str, str | None]] = {}
    for row in doc["conditional"]:
        if isinstance(row, dict) and isinstance(row.get("url"), str):
            etag, modified = row.get("etag"), row.get("lastModified")
            out[row["url"]] = {
                "etag": etag if isinstance(etag, str) else None,
                "lastModified": modified if isinstance(modified, str) else None,
            }
    return out
