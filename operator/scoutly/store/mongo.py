"""Connection and start-up indexes. Works on MongoDB and on FerretDB (the embedded default), which
refuses partial indexes and has no TTL indexes, transactions or change streams."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from pymongo.uri_parser import parse_uri

Doc = dict[str, Any]
Database = AsyncDatabase[Doc]

DEFAULT_DB = "scoutly"
log = logging.getLogger("scoutly.store")


@dataclass(frozen=True)
class IndexSpec:
    """One index as MongoDB gets it. `partial` is a partialFilterExpression: an index on an operator-only
    field that must never refuse the app's own documents (which lack the field) is unique only where the
    field exists. FerretDB v1.24 refuses partial indexes, so there they are skipped (nothing the
    operator does depends on them: its writes are keyed by `_id`)."""

    collection: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    partial: Mapping[str, Any] | None = field(default=None, hash=False)
    owner: str = "operator"  # "app": the app's Mongoose model declares the same index

    @property
    def name(self) -> str:
        """MongoDB's default name (`field_1_other_-1`), the one Mongoose's autoIndex gives as well."""
        return "_".join(f"{k}_{d}" for k, d in self.keys)

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"name": self.name}
        if self.unique:
            opts["unique"] = True
        if self.partial is not None:
            opts["partialFilterExpression"] = dict(self.partial)
        return opts


def connect(uri: str, *, timeout_ms: int = 5000, app_name: str = "scoutly") -> AsyncMongoClient[Doc]:
    """A client that fails fast (server selection `timeout_ms`) instead of hanging when MongoDB is down."""
    return AsyncMongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, appname=app_name, tz_aware=True
    )


def database(client: AsyncMongoClient[Doc], uri: str, default: str = DEFAULT_DB) -> Database:
    """The database named in the URI path, else `default`."""
    name = parse_uri(uri).get("database") or default
    return client[name]


async def is_ferretdb(db: Database) -> bool:
    """FerretDB answers buildInfo with fields of its own (`ferretdbVersion`, `ferretdbFeatures`)."""
    info = await db.client.admin.command("buildInfo")
    return any(k.startswith("ferretdb") for k in info)


async def ensure_indexes(db: Database, specs: Iterable[IndexSpec]) -> list[str]:
    """Create the indexes that are missing; returns the names skipped or refused, each logged.

    An index MongoDB refuses (the app's unique savedjobs index next to documents of the older app
    generation, an existing index of the same name with other options) is reported, never fatal: the
    operator's writes do not depend on any of them for correctness."""
    ferret = await is_ferretdb(db)
    skipped: list[str] = []
    for spec in specs:
        where = f"{spec.collection}.{spec.name}"
        if spec.partial is not None and ferret:
            skipped.append(where)
            log.debug("index %s skipped: FerretDB refuses partial indexes", where)
            continue
        try:
            await db[spec.collection].create_index(list(spec.keys), **spec.options())
        except OperationFailure as e:
            skipped.append(where)
            log.warning("index %s not created: %s", where, str(e)[:300])
    return skipped
