"""The operator's database logger: the app's batch format (one document per flush), bounded buffer,
records kept across a failed flush, drops counted in scoutly_db_log_dropped_total, nothing written
unless `logs` is the app's capped collection. A fake database stands in for MongoDB (the live test is
tests/integration/observability/test_db_logs.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from pymongo.errors import AutoReconnect

from scoutly import metrics
from scoutly.controller.operator import DbLogFlusher
from scoutly.store import appschema


class FakeColl:
    def __init__(self) -> None:
        self.down = False
        self.docs: list[dict[str, Any]] = []

    async def insert_one(self, doc: dict[str, Any]) -> None:
        if self.down:
            raise AutoReconnect("down")
        self.docs.append(doc)


class FakeDb(dict[str, FakeColl]):
    def __init__(self, capped: bool | None) -> None:
        super().__init__()
        self.capped = capped  # None: no `logs` collection

    def __missing__(self, key: str) -> FakeColl:
        self[key] = FakeColl()
        return self[key]

    async def list_collections(self, filter: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        async def gen() -> AsyncIterator[dict[str, Any]]:
            if self.capped is not None and filter == {"name": "logs"}:
                yield {"name": "logs", "options": {"capped": True} if self.capped else {}}

        return gen()


def record(msg: str, level: int = logging.INFO, **extra: Any) -> logging.LogRecord:
    r = logging.makeLogRecord(
        {"name": "scoutly.controller", "levelno": level, "levelname": logging.getLevelName(level), "msg": msg}
    )
    r.__dict__.update(extra)
    return r


def sample(name: str) -> float:
    return float(metrics.REGISTRY.get_sample_value(name) or 0.0)


async def test_records_wait_out_an_outage_and_overflow_is_counted() -> None:
    db = FakeDb(capped=True)
    flusher = DbLogFlusher(db, capacity=3)
    dropped = sample("scoutly_db_log_dropped_total")
    written = sample("scoutly_db_log_written_total")

    db["logs"].down = True
    for i in range(2):
        flusher.handler.emit(record(f"m{i}", target="ns/a", job="a-1"))
    assert await flusher.flush() == 0  # kept for the next attempt
    for i in range(2, 4):
        flusher.handler.emit(record(f"m{i}", logging.WARNING))  # one more than fits: the oldest goes
    db["logs"].down = False
    assert await flusher.flush() == 3
    (batch,) = db["logs"].docs  # one document for the whole flush, as the app's logger saves them
    assert appschema.problems("logs", batch) == []
    assert [e["message"] for e in batch["entries"]] == ["m1", "m2", "m3"]
    assert [e["level"] for e in batch["entries"]] == ["info", "warn", "warn"]
    first = batch["entries"][0]
    assert first["context"] == "scoutly-operator" and first["data"]["target"] == "ns/a"
    assert first["data"]["job"] == "a-1" and batch["processId"].startswith("scoutly-operator-")
    assert sample("scoutly_db_log_dropped_total") == dropped + 1
    assert sample("scoutly_db_log_written_total") == written + 3


async def test_a_batch_holds_at_most_max_entries() -> None:
    db = FakeDb(capped=True)
    flusher = DbLogFlusher(db, max_entries=2)
    for i in range(5):
        flusher.handler.emit(record(f"m{i}"))
    assert await flusher.flush() == 2
    assert await flusher.flush() == 2
    assert [len(d["entries"]) for d in db["logs"].docs] == [2, 2]
    assert flusher.handler.pending == 1


async def test_nothing_is_written_without_the_apps_capped_collection() -> None:
    """The operator creates nothing capped of its own, and an uncapped `logs` would only grow."""
    for capped in (None, False):
        db = FakeDb(capped=capped)
        flusher = DbLogFlusher(db)
        dropped = sample("scoutly_db_log_dropped_total")
        flusher.handler.emit(record("m"))
        assert await flusher.flush() == 0
        assert "logs" not in db or db["logs"].docs == []
        assert flusher.handler.unavailable and "capped" in flusher.handler.unavailable
        assert sample("scoutly_db_log_dropped_total") == dropped + 1
