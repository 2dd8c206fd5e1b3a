"""The operator's database logger: bounded buffer, records kept across a failed flush, drops counted in
scoutly_db_log_dropped_total. A fake collection stands in for MongoDB (the live test is in
tests/integration/observability/test_db_logs.py)."""

from __future__ import annotations

import logging
from typing import Any

from pymongo.errors import AutoReconnect

from scoutly import metrics
from scoutly.controller.operator import DbLogFlusher


class FakeColl:
    def __init__(self) -> None:
        self.down = False
        self.docs: list[dict[str, Any]] = []

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> None:
        if self.down:
            raise AutoReconnect("down")
        self.docs.extend(docs)


class FakeDb(dict[str, FakeColl]):
    def __missing__(self, key: str) -> FakeColl:
        self[key] = FakeColl()
        return self[key]


def record(msg: str, **extra: Any) -> logging.LogRecord:
    r = logging.makeLogRecord(
        {"name": "scoutly.controller", "levelno": logging.INFO, "levelname": "INFO", "msg": msg}
    )
    r.__dict__.update(extra)
    return r


async def test_records_wait_out_an_outage_and_overflow_is_counted() -> None:
    db = FakeDb()
    flusher = DbLogFlusher(db, capacity=3)
    dropped = metrics.REGISTRY.get_sample_value("scoutly_db_log_dropped_total") or 0.0
    written = metrics.REGISTRY.get_sample_value("scoutly_db_log_written_total") or 0.0

    db["logs"].down = True
    for i in range(2):
        flusher.handler.emit(record(f"m{i}", target="ns/a", job="a-1"))
    assert await flusher.flush() == 0  # kept for the next attempt
    for i in range(2, 4):
        flusher.handler.emit(record(f"m{i}"))  # one more than fits: the oldest goes
    db["logs"].down = False
    assert await flusher.flush() == 3
    assert [d["message"] for d in db["logs"].docs] == ["m1", "m2", "m3"]
    first = db["logs"].docs[0]
    assert (
        first["context"] == "operator" and first["meta"]["target"] == "ns/a" and first["meta"]["job"] == "a-1"
    )
    assert metrics.REGISTRY.get_sample_value("scoutly_db_log_dropped_total") == dropped + 1
    assert metrics.REGISTRY.get_sample_value("scoutly_db_log_written_total") == written + 3
