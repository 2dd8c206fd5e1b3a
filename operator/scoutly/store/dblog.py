"""The database-backed logger, in the app's format (src/models/Log.ts, src/services/logService.ts):
records are buffered in memory and written as ONE batch document per flush, `{processId, context,
startTime, endTime, entries: [{timestamp, level, message, context, data, sequence}]}`, into the capped
`logs` collection the app created.

The operator creates nothing capped of its own and never floods the app's records out of that
collection: it writes only while `logs` exists and is capped; a batch holds at most `max_entries`
records; the scrape writes one batch per run (the app's worker writes one per job, too) and the
controller one per flush interval (`SCOUTLY_DB_LOG_INTERVAL`). A MongoDB outage or a missing collection
drops records with a count, never blocks or fails the program.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from scoutly.logs import CONTEXT_FIELDS
from scoutly.store import appschema
from scoutly.store.mongo import Database, Doc

COLLECTION = "logs"
MAX_MESSAGE = 4000
_STD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn"}


def app_level(levelno: int) -> str:
    """The app's LogLevel for a Python level (`warn`, not `warning`; CRITICAL is `error`)."""
    if levelno >= logging.ERROR:
        return "error"
    return _LEVELS.get(levelno, "debug" if levelno < logging.INFO else "info")


def _safe_key(k: str) -> str:
    return k.replace(".", "_").lstrip("$") or "_"


def _data_value(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool) or v is None else str(v)[:1000]


async def capped_logs_collection(db: Database) -> bool:
    """True when `logs` exists and is capped (created by the app's Log model)."""
    async for info in await db.list_collections(filter={"name": COLLECTION}):
        return bool((info.get("options") or {}).get("capped"))
    return False


class DbLogHandler(logging.Handler):
    def __init__(
        self,
        context: str,
        *,
        process_id: str,
        capacity: int = 10_000,
        max_entries: int = 1000,
        level: int = logging.INFO,
    ) -> None:
        super().__init__(level)
        self.context = context
        self.process_id = process_id
        self.max_entries = max_entries
        self._buf: deque[Doc] = deque(maxlen=capacity)
        self._sequence = 0
        self._capped: bool | None = None
        self.dropped = 0
        self.batches = 0
        self.unavailable: str | None = None  # why the last flush wrote nothing

    def emit(self, record: logging.LogRecord) -> None:
        if len(self._buf) == self._buf.maxlen:
            self.dropped += 1
        data = {
            _safe_key(k): _data_value(v)
            for k, v in vars(record).items()
            if k not in _STD and (k in CONTEXT_FIELDS or not k.startswith("_"))
        }
        data["logger"] = record.name
        message = record.getMessage()[:MAX_MESSAGE] or "(empty)"
        self._buf.append(
            {
                "timestamp": datetime.fromtimestamp(record.created, UTC),
                "level": app_level(record.levelno),
                "message": message,
                "context": self.context,
                "data": data,
                "sequence": self._sequence,
            }
        )
        self._sequence += 1

    @property
    def pending(self) -> int:
        return len(self._buf)

    def batch(self, entries: list[Doc]) -> Doc:
        doc: Doc = {
            "_id": ObjectId(),
            "processId": self.process_id,
            "context": self.context,
            "startTime": entries[0]["timestamp"],
            "endTime": entries[-1]["timestamp"],
            "entries": entries,
            "__v": 0,
        }
        appschema.check(COLLECTION, doc)
        return doc

    async def flush_to(self, db: Database, *, requeue: bool = False) -> int:
        """Write the oldest `max_entries` buffered records as one batch; returns how many were written
        (0 when MongoDB is unreachable or `logs` is not the app's capped collection).

        `requeue`: on failure keep the records for the next flush (still bounded: the oldest are dropped
        and counted), so a long-running program keeps them across a MongoDB outage. Without it (a
        scrape run's single flush) records that do not fit one batch are dropped and counted."""
        if not self._buf:
            return 0
        try:
            if not self._capped:
                self._capped = await capped_logs_collection(db)
            if not self._capped:
                self.unavailable = "the app's capped `logs` collection does not exist"
                self.dropped += len(self._buf)
                self._buf.clear()
                return 0
            entries = [self._buf.popleft() for _ in range(min(self.max_entries, len(self._buf)))]
            try:
                await db[COLLECTION].insert_one(self.batch(entries))
            except PyMongoError:
                keep = entries + list(self._buf)  # back in front of records logged meanwhile
                overflow = max(0, len(keep) - (self._buf.maxlen or len(keep)))
                self.dropped += overflow
                self._buf.clear()
                self._buf.extend(keep[overflow:])
                raise
        except PyMongoError as e:
            self.unavailable = f"MongoDB: {type(e).__name__}"
            if not requeue:
                self.dropped += len(self._buf)
                self._buf.clear()
            return 0
        self.unavailable = None
        self.batches += 1
        if not requeue and self._buf:
            self.dropped += len(self._buf)
            self._buf.clear()
        return len(entries)
