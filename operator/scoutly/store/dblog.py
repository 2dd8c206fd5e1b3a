"""The database-backed logger: log records buffered in memory and flushed to `logs` in batches
(one document per record: context, level, message, meta, timestamp). A MongoDB outage drops records
with a count, never blocks or fails the program."""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import PyMongoError

from scoutly.logs import CONTEXT_FIELDS
from scoutly.store.mongo import Database, Doc

COLLECTION = "logs"
_STD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _safe_key(k: str) -> str:
    return k.replace(".", "_").lstrip("$") or "_"


def _meta_value(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool) or v is None else str(v)[:1000]


class DbLogHandler(logging.Handler):
    def __init__(self, context: str, *, capacity: int = 10_000, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.context = context
        self._buf: deque[Doc] = deque(maxlen=capacity)
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        if len(self._buf) == self._buf.maxlen:
            self.dropped += 1
        meta = {
            _safe_key(k): _meta_value(v)
            for k, v in vars(record).items()
            if k not in _STD and (k in CONTEXT_FIELDS or not k.startswith("_"))
        }
        meta["logger"] = record.name
        self._buf.append(
            {
                "context": self.context,
                "level": record.levelname.lower(),
                "message": record.getMessage()[:4000],
                "meta": meta,
                "timestamp": datetime.fromtimestamp(record.created, UTC),
            }
        )

    async def flush_to(self, db: Database, *, requeue: bool = False) -> int:
        """Write buffered records; returns how many were written (0 when MongoDB is unreachable).

        `requeue`: on failure put the batch back in front of newer records (still bounded: the oldest
        are dropped and counted), so a long-running program keeps its records across a MongoDB outage."""
        if not self._buf:
            return 0
        batch = list(self._buf)
        self._buf.clear()
        try:
            await db[COLLECTION].insert_many([dict(d) for d in batch], ordered=False)
        except PyMongoError:
            if not requeue:
                self.dropped += len(batch)
                return 0
            newer = list(self._buf)
            keep = (batch + newer)[-(self._buf.maxlen or len(batch) + len(newer)) :]
            self.dropped += len(batch) + len(newer) - len(keep)
            self._buf.clear()
            self._buf.extend(keep)
            return 0
        return len(batch)
