"""Connection and start-up indexes. Works on MongoDB and FerretDB (no TTL/partial indexes, no transactions)."""

from __future__ import annotations

from typing import Any

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.uri_parser import parse_uri

Doc = dict[str, Any]
Database = AsyncDatabase[Doc]

DEFAULT_DB = "scoutly"

# (collection, keys, unique). The unique ones keep one document per natural key; the scrape's writes
# filter on `_id` (derived from that key, store/postings.py:key_id) because FerretDB pushes down no other.
INDEXES: tuple[tuple[str, list[tuple[str, int]], bool], ...] = (
    ("jobqueues", [("jobName", pymongo.ASCENDING)], True),
    ("jobqueues", [("status", pymongo.ASCENDING), ("createdAt", pymongo.ASCENDING)], False),
    ("jobqueues", [("target", pymongo.ASCENDING), ("createdAt", pymongo.DESCENDING)], False),
    ("logs", [("timestamp", pymongo.DESCENDING)], False),
)


def connect(uri: str, *, timeout_ms: int = 5000, app_name: str = "scoutly") -> AsyncMongoClient[Doc]:
    """A client that fails fast (server selection `timeout_ms`) instead of hanging when MongoDB is down."""
    return AsyncMongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, appname=app_name, tz_aware=True
    )


def database(client: AsyncMongoClient[Doc], uri: str, default: str = DEFAULT_DB) -> Database:
    """The database named in the URI path, else `default`."""
    name = parse_uri(uri).get("database") or default
    return client[name]


async def ensure_indexes(
    db: Database, extra: tuple[tuple[str, list[tuple[str, int]], bool], ...] = ()
) -> None:
    for coll, keys, unique in (*INDEXES, *extra):
        await db[coll].create_index(keys, unique=unique)
