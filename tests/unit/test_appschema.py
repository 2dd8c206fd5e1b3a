"""The app-schema validators (scoutly.store.appschema) and the index definitions MongoDB gets.

FerretDB accepts indexes MongoDB refuses and refuses partial ones MongoDB needs, so the definitions are
asserted here as data, not only through FerretDB's answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId

from scoutly.store import appschema, jobqueues, matches, postings, savedjobs, tokens
from scoutly.store.dblog import DbLogHandler
from scoutly.store.mongo import IndexSpec
from tests import appdata

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_fixtures_are_what_the_models_store() -> None:
    c = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme", last_scrape=NOW, ranking=80)
    new = appdata.user(
        "A@X.io", info=appdata.candidate_info(), cv_url="https://drive.google.com/file/d/x/view"
    )
    old = appdata.user("b@x.io", generation="old", tracked=[("acme", 90)])
    assert appschema.problems("companies", c) == []
    assert appschema.problems("users", new) == []
    assert appschema.problems("users", old, appschema.LegacyUser) == []
    assert appschema.problems("users", old)  # the older generation has no userId
    for p in (appdata.preference(new, c, 94.5), appdata.preference(old, c, 10)):
        assert appschema.problems("usercompanypreferences", p) == []
    assert appdata.preference(new, c)["userId"] == str(new["userId"])
    assert appdata.preference(old, c)["userId"] == str(old["_id"])
    for q in (
        appdata.app_queue_doc(c),
        appdata.app_queue_doc(c, "processing"),
        appdata.app_queue_doc(c, legacy=True),
    ):
        assert appschema.problems("jobqueues", q) == []
    legacy = appdata.legacy_saved_job(new, c, "https://x.io/1")
    assert appschema.problems("savedjobs", legacy, appschema.LegacySavedJob) == []
    assert appschema.problems("savedjobs", legacy)  # no userId/jobId/companyId: not the newer model


def _queue(**over: Any) -> dict[str, Any]:
    doc = {
        "_id": ObjectId(),
        "companyId": ObjectId(),
        "status": "processing",
        "retryCount": 0,
        "createdAt": NOW,
        "updatedAt": NOW,
        "__v": 0,
    }
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not ...}


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"status": "PENDING"}, "status"),  # the app's enum is lowercase
        ({"companyId": str(ObjectId())}, "companyId"),  # an ObjectId, not its hex string
        ({"companyId": ...}, "companyId"),  # required
        ({"createdAt": ...}, "createdAt"),  # timestamps: true
        ({"createdAt": NOW.isoformat()}, "createdAt"),  # a Date, not a string
        ({"retryCount": -1}, "retryCount"),  # min 0
        ({"retryCount": True}, "retryCount"),  # a Number, not a bool
    ],
)
def test_jobqueue_documents_the_app_would_refuse(over: dict[str, Any], field: str) -> None:
    found = appschema.problems("jobqueues", _queue(**over))
    assert found and all(p.startswith(field) for p in found), found
    with pytest.raises(appschema.AppSchemaError, match=field):
        appschema.check("jobqueues", _queue(**over))


def test_required_strings_refuse_the_empty_string() -> None:
    """Mongoose's `required` fails on "" for Strings (not for arrays: [] is fine)."""
    doc = tokens.usage_doc(
        process_id="job-1", estimated=10, prompt=5, completion=3, price_input=0, price_output=0,
        user_email="a@x.io", company_id="acme", company_name="Acme", at=NOW, scoutly={},
    )  # fmt: skip
    assert doc["actualTokens"] == 8 and doc["costEstimate"]["isFreeUsage"] is True
    assert appschema.problems("tokenusages", {**doc, "userEmail": ""})
    assert appschema.problems("tokenusages", {**doc, "operation": "match"})
    with pytest.raises(appschema.AppSchemaError, match="companyName"):
        tokens.usage_doc(
            process_id="job-1", estimated=10, prompt=5, completion=3, price_input=0.15, price_output=0.6,
            user_email="a@x.io", company_id="acme", company_name="", at=NOW, scoutly={},
        )  # fmt: skip


def test_token_costs_follow_the_prices() -> None:
    doc = tokens.usage_doc(
        process_id="job-1", estimated=2_000_000, prompt=1_000_000, completion=500_000, price_input=0.15,
        price_output=0.6, user_email="a@x.io", company_id="acme", company_name="Acme", at=NOW, scoutly={},
    )  # fmt: skip
    cost = doc["costEstimate"]
    assert (cost["input"], cost["output"], cost["total"]) == (0.15, 0.3, pytest.approx(0.45))
    assert cost["isFreeUsage"] is False and cost["currency"] == "USD"


def test_saved_job_is_what_results_storage_creates() -> None:
    doc = savedjobs.saved_job(
        user_id=str(ObjectId()), url="https://x.io/jobs/1", company=ObjectId(), title="Backend Engineer",
        score=82, reasons=["Python", "Remote"], location="Berlin", salary={"min": 70000, "currency": "EUR"},
        now=NOW, scoutly={"target": "ns/acme"},
    )  # fmt: skip
    assert appschema.problems("savedjobs", doc) == []
    assert doc["jobId"] == doc["url"] and doc["status"] == "WANT_TO_APPLY"
    assert doc["notes"] == "AI Analysis Summary: 82% match - Python, Remote"
    assert (doc["considerationPoints"], doc["stretchGoals"]) == ([], [])


def test_log_batches_are_the_apps_format() -> None:
    import logging

    h = DbLogHandler("scrape:ns/acme", process_id="acme-1")
    for level, msg in ((logging.INFO, "a"), (logging.WARNING, "b"), (logging.CRITICAL, "c")):
        h.emit(
            logging.makeLogRecord({"name": "scoutly.scrape", "levelno": level, "levelname": "X", "msg": msg})
        )
    entries = [h._buf.popleft() for _ in range(3)]
    doc = h.batch(entries)
    assert appschema.problems("logs", doc) == []
    assert [e["level"] for e in doc["entries"]] == ["info", "warn", "error"]
    assert [e["sequence"] for e in doc["entries"]] == [0, 1, 2]
    assert doc["processId"] == "acme-1" and doc["startTime"] <= doc["endTime"]


def _all_specs() -> list[IndexSpec]:
    return [*jobqueues.INDEXES, *savedjobs.INDEXES, *postings.INDEXES, *matches.INDEXES]


def test_jobqueues_idempotency_index_is_partial() -> None:
    """MongoDB could not build a unique index on jobName next to the app's documents (which have none):
    every one of their missing values would be the same null key."""
    spec = next(s for s in jobqueues.INDEXES if s.keys == (("jobName", 1),))
    assert spec.unique and spec.partial == {"jobName": {"$exists": True}}
    assert spec.options() == {
        "name": "jobName_1",
        "unique": True,
        "partialFilterExpression": {"jobName": {"$exists": True}},
    }


APP_COLLECTIONS = {
    "companies",
    "users",
    "usercompanypreferences",
    "jobqueues",
    "savedjobs",
    "tokenusages",
    "logs",
}
APP_FIELDS = {
    "jobqueues": {
        "companyId",
        "status",
        "createdAt",
        "updatedAt",
        "lastAttemptAt",
        "completedAt",
        "errorMessage",
        "retryCount",
    },
    "savedjobs": {"userId", "jobId", "companyId", "status"},
}


def test_no_index_on_an_app_collection_refuses_the_apps_documents() -> None:
    """On the app's collections, an index of the operator's own that is unique must be partial; the
    unique ones the operator creates otherwise are the app's own declarations (same keys, same name)."""
    for spec in _all_specs():
        if spec.collection not in APP_COLLECTIONS or not spec.unique:
            continue
        own_fields = {k for k, _ in spec.keys} - APP_FIELDS.get(spec.collection, set())
        if spec.owner == "operator":
            assert spec.partial is not None, spec
            assert own_fields, spec
        else:
            assert not own_fields, spec


def test_app_indexes_match_the_models() -> None:
    assert [(s.keys, s.unique) for s in jobqueues.INDEXES if s.owner == "app"] == [
        ((("status", 1), ("createdAt", 1)), False),
        ((("companyId", 1), ("status", 1)), False),
    ]
    assert [(s.keys, s.unique, s.name) for s in savedjobs.INDEXES] == [
        ((("userId", 1),), False, "userId_1"),
        ((("userId", 1), ("jobId", 1)), True, "userId_1_jobId_1"),
    ]


def test_job_document_ids_are_stable_and_namespaced() -> None:
    a = jobqueues.doc_id("team-a", "acme-1767225600")
    assert a == jobqueues.doc_id("team-a", "acme-1767225600")
    assert a != jobqueues.doc_id("team-b", "acme-1767225600")
    assert isinstance(a, ObjectId)
