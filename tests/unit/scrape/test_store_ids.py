"""Store writes of the scrape: deterministic `_id`s from natural keys, new documents inserted, stored ones
(legacy ObjectId `_id`s included) updated by `_id`, commands small enough for FerretDB, and the natural-key
retry after a duplicate-key error. No database: the collection records the bulk writes it is given."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from pymongo import InsertOne, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError

from scoutly.store import matches, postings

NOW = datetime(2026, 1, 2, tzinfo=UTC)


class FakeCollection:
    def __init__(self, fail_first: list[dict[str, Any]] | None = None) -> None:
        self.batches: list[list[Any]] = []
        self.fail_first = fail_first  # writeErrors raised by the first bulk_write

    async def bulk_write(self, ops: list[Any], *, ordered: bool) -> None:
        assert ordered is False
        self.batches.append(list(ops))
        if self.fail_first is not None:
            errors, self.fail_first = self.fail_first, None
            raise BulkWriteError({"writeErrors": errors})


class FakeDb:
    def __init__(self, coll: FakeCollection) -> None:
        self.coll = coll

    def __getitem__(self, name: str) -> FakeCollection:
        return self.coll


def _filters(ops: list[Any]) -> list[dict[str, Any]]:
    """The `_id` an insert writes, the filter of an update."""
    return [{"_id": op._doc["_id"]} if isinstance(op, InsertOne) else op._filter for op in ops]


def test_key_ids_are_deterministic_bounded_and_unambiguous() -> None:
    a = postings.posting_id("greenhouse", "acme", "1")
    assert a == postings.posting_id("greenhouse", "acme", "1")
    assert len(a) == 32 and int(a, 16) >= 0
    assert len(postings.posting_id("x", "y" * 10_000, "z")) == 32
    # parts that concatenate to the same string still get different ids
    assert postings.posting_id("greenhouse", "a:b", "c") != postings.posting_id("greenhouse", "a", "b:c")
    assert postings.posting_id("s", 'a","b', "c") != postings.posting_id("s", "a", 'b","c')
    assert postings.posting_id("s", "b", "n") != matches.match_id("s", "b", "n", "")
    assert matches.match_id("s", "b", "n", "u1") != matches.match_id("s", "b", "n", "u2")


async def test_posting_writes_insert_new_and_update_stored_by_id() -> None:
    coll = FakeCollection()
    legacy, legacy_closed = ObjectId(), ObjectId()
    await postings.save(
        FakeDb(coll),  # type: ignore[arg-type]
        source="greenhouse",
        board="acme",
        upserts=[{"nativeId": "new", "title": "A"}, {"nativeId": "old", "title": "B", "_id": "ignored"}],
        closed_ids=["gone"],
        company_id="c1",
        target="ns/acme",
        now=NOW,
        ids={"old": legacy, "gone": legacy_closed},
    )
    inserts, updates = coll.batches
    assert [type(op) for op in inserts] == [InsertOne]
    new = inserts[0]._doc
    assert new["_id"] == postings.posting_id("greenhouse", "acme", "new")
    assert (new["nativeId"], new["source"], new["status"], new["firstSeenAt"]) == (
        "new",
        "greenhouse",
        "OPEN",
        NOW,
    )
    assert _filters(updates) == [
        {"_id": legacy},
        {"_id": {"$in": [legacy_closed]}, "status": "OPEN"},
    ]
    assert [type(op) for op in updates] == [UpdateOne, UpdateMany]
    assert updates[0]._upsert
    fields = updates[0]._doc["$set"]
    assert "_id" not in fields and fields["nativeId"] == "old" and fields["title"] == "B"
    assert updates[0]._doc["$setOnInsert"] == {"firstSeenAt": NOW}


async def test_commands_stay_small_for_ferretdb() -> None:
    """FerretDB v1.24 (SQLite) hangs on an update command of >= 100 statements that match documents."""
    coll = FakeCollection()
    ids = {str(i): ObjectId() for i in range(1200)}
    await postings.save(
        FakeDb(coll),  # type: ignore[arg-type]
        source="s",
        board="b",
        upserts=[{"nativeId": str(i)} for i in range(130)] + [{"nativeId": f"n{i}"} for i in range(2500)],
        closed_ids=list(ids)[130:],
        company_id=None,
        target="ns/t",
        now=NOW,
        ids=ids,
    )
    kinds = [(type(b[0]).__name__, len(b)) for b in coll.batches]
    assert kinds == [
        ("UpdateOne", 50),
        ("UpdateOne", 50),
        ("UpdateOne", 30),
        ("InsertOne", 1000),
        ("InsertOne", 1000),
        ("InsertOne", 500),
        ("UpdateMany", 3),  # 1,070 closed ids, 500 per $in
    ]
    assert [len(op._filter["_id"]["$in"]) for op in coll.batches[-1]] == [500, 500, 70]


async def test_duplicate_natural_key_is_retried_on_the_natural_key() -> None:
    coll = FakeCollection(fail_first=[{"index": 1, "code": 11000, "errmsg": "E11000 duplicate key"}])
    await matches.save(
        FakeDb(coll),  # type: ignore[arg-type]
        source="s",
        board="b",
        docs=[{"nativeId": "1", "userId": "u1"}, {"nativeId": "2", "userId": "u1"}],
    )
    first, retry = coll.batches
    assert _filters(first) == [
        {"_id": matches.match_id("s", "b", "1", "u1")},
        {"_id": matches.match_id("s", "b", "2", "u1")},
    ]
    assert all(isinstance(op, InsertOne) for op in first)
    assert _filters(retry) == [{"source": "s", "board": "b", "nativeId": "2", "userId": "u1"}]
    assert retry[0]._upsert and "_id" not in retry[0]._doc["$set"]


async def test_other_write_errors_are_not_swallowed() -> None:
    coll = FakeCollection(fail_first=[{"index": 0, "code": 2, "errmsg": "bad value"}])
    with pytest.raises(BulkWriteError):
        await matches.save(
            FakeDb(coll),  # type: ignore[arg-type]
            source="s",
            board="b",
            docs=[{"nativeId": "1", "userId": "u1"}],
        )
    assert len(coll.batches) == 1


async def test_match_writes_keep_a_stored_id() -> None:
    coll = FakeCollection()
    legacy = ObjectId()
    n = await matches.save(
        FakeDb(coll),  # type: ignore[arg-type]
        source="s",
        board="b",
        docs=[{"nativeId": "1", "userId": "u1", "score": 3}, {"nativeId": "2", "userId": "u1"}],
        stored={("1", "u1"): {"_id": legacy, "nativeId": "1", "userId": "u1"}},
    )
    assert n == 2
    updates, inserts = coll.batches
    assert _filters(updates) == [{"_id": legacy}] and updates[0]._doc["$set"]["score"] == 3
    assert _filters(inserts) == [{"_id": matches.match_id("s", "b", "2", "u1")}]
