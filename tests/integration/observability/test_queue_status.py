"""`scoutly queue status` on a seeded database (FerretDB): the CLI end to end, table and JSON, exit codes."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.testing.env import LocalEnv
from scoutly.testing.procs import free_port
from tests import appdata

pytestmark = [pytest.mark.mongo]


HOOLI = appdata.company("hooli", "Hooli", "https://jobs.lever.co/hooli")


async def seed(db: AsyncDatabase[dict[str, Any]]) -> list[dict[str, Any]]:
    """Operator documents (jobName, target) and the app's own (its scheduler's `pending` ones), all in
    the app's format."""
    now = datetime.now(UTC)

    def doc(job: str, target: str, status: str, minutes_ago: int, **extra: Any) -> dict[str, Any]:
        created = now - timedelta(minutes=minutes_ago)
        d: dict[str, Any] = {
            "_id": ObjectId(),
            "jobName": job,
            "target": f"ns/{target}",
            "companyId": ObjectId(),
            "status": status,
            "retryCount": 0,
            "createdAt": created,
            "updatedAt": created,
            "__v": 0,
        }
        if status in ("completed", "failed"):
            d["completedAt"] = created + timedelta(minutes=1)
        d.update(extra)
        return d

    app_pending = [
        appdata.app_queue_doc(HOOLI, "pending", at=now - timedelta(minutes=90)),
        appdata.app_queue_doc(HOOLI, "pending", at=now - timedelta(minutes=5)),
    ]
    # the app's worker claimed this one 3 hours ago and died: `processing` for good
    app_stuck = appdata.app_queue_doc(HOOLI, "processing", at=now - timedelta(hours=3))
    docs = [
        doc("acme-1", "acme", "completed", 300),
        doc("acme-2", "acme", "completed", 100),
        doc("initech-1", "initech", "completed", 400),
        *(
            doc(
                f"initech-{i}",
                "initech",
                "failed",
                300 - i * 50,
                reason="BackoffLimitExceeded",
                errorMessage="exit 1",
            )
            for i in range(2, 5)
        ),
        doc("globex-1", "globex", "failed", 30, reason="DeadlineExceeded", errorMessage="too slow"),
        doc("globex-2", "globex", "processing", 20),
        *app_pending,
        app_stuck,
        doc("old-1", "old", "failed", 60 * 48, reason="BackoffLimitExceeded"),  # outside the window
    ]
    assert appdata.validate_all("jobqueues", docs) == []
    await db["jobqueues"].insert_many(docs)
    return [*app_pending, app_stuck]


def run_cli(*args: str) -> tuple[int, str, str]:
    from scoutly.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(["queue", "status", *args])
    return rc, out.getvalue(), err.getvalue()


async def test_queue_status_reports_and_gates_on_thresholds(
    local_env: LocalEnv, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    *app_pending, app_stuck = await seed(mongo_db)
    uri = local_env.mongo_uri
    common = ["--mongodb-uri", uri, "--database", mongo_db.name]

    # defaults: oldest pending is 90 minutes old (> 1h), the app's worker left a document processing for
    # 3 hours (> 2h) and initech failed 3 times in a row -> unhealthy
    rc, out, _ = await _in_thread(run_cli, *common, "-o", "json")
    report = json.loads(out)
    assert rc == 1
    # the counts the app's fileQueueStatus prints, in its casing, and split by who wrote them
    assert report["counts"] == {"pending": 2, "processing": 2, "completed": 3, "failed": 5}
    assert report["bySource"] == {
        "app": {"pending": 2, "processing": 1, "completed": 0, "failed": 0},
        "operator": {"pending": 0, "processing": 1, "completed": 3, "failed": 5},
    }
    stuck_label = f"app:{app_stuck['_id']}"
    assert [(d["source"], d["jobName"]) for d in report["processing"]] == [
        ("app", stuck_label),
        ("operator", "globex-2"),
    ]
    assert 2.9 * 3600 < report["processing"][0]["ageSeconds"] < 3.1 * 3600
    assert report["oldestPending"]["jobName"] == f"app:{app_pending[0]['_id']}"
    assert report["oldestPending"]["target"] == f"company:{HOOLI['_id']}"
    assert 85 * 60 < report["oldestPending"]["ageSeconds"] < 95 * 60
    assert report["oldestProcessing"]["jobName"] == stuck_label
    assert report["failuresInWindow"] == 4  # old-1 is outside the 24h window
    assert [f["jobName"] for f in report["recentFailures"]] == [
        "globex-1",
        "initech-4",
        "initech-3",
        "initech-2",
    ]
    assert report["recentFailures"][0]["reason"] == "DeadlineExceeded"
    assert report["recentFailures"][0]["error"] == "too slow"
    targets = {t["target"]: t for t in report["targets"]}
    assert targets["ns/acme"]["status"] == "completed" and targets["ns/acme"]["jobName"] == "acme-2"
    assert targets["ns/initech"]["consecutiveFailures"] == 3
    assert targets["ns/initech"]["reason"] == "BackoffLimitExceeded"
    assert targets["ns/globex"]["consecutiveFailures"] == 1
    assert "ns/old" not in targets
    assert report["healthy"] is False and len(report["problems"]) == 3
    assert any(
        p.startswith("1 documents processing for more than 2h0m (app: 1, operator: 0)")
        for p in report["problems"]
    )

    # only the stuck document left to complain about: exit 1 on it alone, and the table lists it
    rc, out, _ = await _in_thread(
        run_cli, *common, "--max-pending-age", "2h", "--max-consecutive-failures", "4"
    )
    assert rc == 1 and "STUCK PROCESSING: 1" in out and stuck_label in out
    assert [ln.split() for ln in out.splitlines()[2:5]] == [
        ["app", "2", "1", "0", "0"],
        ["operator", "0", "1", "3", "5"],
        ["total", "2", "2", "3", "5"],
    ]

    # thresholds loosened: healthy, exit 0; the table for people names the same facts
    rc, out, _ = await _in_thread(
        run_cli,
        *common,
        "--max-pending-age",
        "2h",
        "--max-processing-age",
        "4h",
        "--max-consecutive-failures",
        "4",
        "--failures",
        "2",
    )
    assert rc == 0, out
    for part in (
        "pending  processing  completed  failed",
        str(app_pending[0]["_id"]),
        "globex-1",
        "ns/initech",
        "HEALTHY",
    ):
        assert part in out
    assert "initech-2" not in out.split("LAST OUTCOME")[0]  # --failures 2 lists two

    # a failure budget
    rc, out, _ = await _in_thread(
        run_cli, *common, "--max-pending-age", "2h", "--max-processing-age", "0s", "--max-failures", "3"
    )
    assert rc == 1 and "4 jobs failed" in out

    # unreachable MongoDB: exit 2 with the reason, quickly
    rc, out, err = await _in_thread(
        run_cli, "--mongodb-uri", f"mongodb://127.0.0.1:{free_port()}/x", "-o", "json"
    )
    assert rc == 2 and "MongoDB unreachable" in err
    assert json.loads(out)["healthy"] is False


async def _in_thread(fn: Any, *args: str) -> tuple[int, str, str]:
    """The CLI runs its own event loop (asyncio.run), so call it off this test's loop."""
    import asyncio

    result: tuple[int, str, str] = await asyncio.to_thread(fn, *args)
    return result
