"""`scoutly queue status`: the pure parts (per-target outcomes, health thresholds, the table)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scoutly.queue.status import (
    QueueReport,
    Thresholds,
    problems,
    processing_by_age,
    render_table,
    target_outcomes,
)

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def doc(target: str, status: str, minutes_ago: int, reason: str | None = None) -> dict[str, object]:
    return {
        "jobName": f"{target}-{minutes_ago}",
        "target": f"ns/{target}",
        "status": status,
        "completedAt": NOW - timedelta(minutes=minutes_ago),
        "reason": reason,
    }


def report(**kw: object) -> QueueReport:
    base: dict[str, object] = {
        "now": NOW.isoformat(),
        "windowSeconds": 86400.0,
        "counts": {"pending": 0, "processing": 0, "completed": 0, "failed": 0},
        "bySource": {
            "app": {"pending": 0, "processing": 0, "completed": 0, "failed": 0},
            "operator": {"pending": 0, "processing": 0, "completed": 0, "failed": 0},
        },
        "oldestPending": None,
        "oldestProcessing": None,
        "processing": [],
        "failuresInWindow": 0,
        "recentFailures": [],
        "targets": [],
    }
    base.update(kw)
    return QueueReport(**base)  # type: ignore[arg-type]


def test_target_outcomes_take_the_newest_and_count_the_failure_streak() -> None:
    docs = [  # newest first, as the query returns them
        doc("a", "failed", 1, "BackoffLimitExceeded"),
        doc("b", "completed", 2),
        doc("a", "failed", 3, "DeadlineExceeded"),
        doc("a", "completed", 4),
        doc("a", "failed", 5),
    ]
    out = {o.target: o for o in target_outcomes(docs)}
    assert out["ns/a"].status == "failed"
    assert out["ns/a"].reason == "BackoffLimitExceeded"
    assert out["ns/a"].consecutiveFailures == 2
    assert out["ns/b"].consecutiveFailures == 0


def test_the_apps_documents_are_named_by_id_and_company() -> None:
    """The app's own queue documents have no jobName or target."""
    app_doc = {
        "_id": "65f0000000000000000000aa",
        "companyId": "65f0000000000000000000c1",
        "status": "failed",
        "completedAt": NOW,
    }
    (out,) = target_outcomes([app_doc])
    assert out.target == "company:65f0000000000000000000c1" and out.jobName == "app:65f0000000000000000000aa"


def test_thresholds() -> None:
    assert problems(report(), Thresholds()) == []
    old = {"jobName": "x-1", "target": "ns/x", "createdAt": "", "ageSeconds": 7200.0}
    found = problems(report(oldestPending=old), Thresholds(max_pending_age=timedelta(hours=1)))
    assert len(found) == 1 and "x-1" in found[0] and "2h0m" in found[0]
    assert problems(report(oldestPending=old), Thresholds(max_pending_age=timedelta(hours=3))) == []
    assert problems(report(failuresInWindow=5), Thresholds(max_failures=4))
    assert not problems(report(failuresInWindow=5), Thresholds())
    streak = target_outcomes([doc("a", "failed", i) for i in range(3)])
    assert problems(report(targets=streak), Thresholds(max_consecutive_failures=3))
    assert not problems(report(targets=streak), Thresholds(max_consecutive_failures=0))


def test_table_names_every_section() -> None:
    r = report(
        targets=target_outcomes([doc("a", "completed", 1)]),
        counts={"pending": 2, "failed": 1},
        bySource={"app": {"pending": 2, "failed": 0}, "operator": {"pending": 0, "failed": 1}},
    )
    text = render_table(r)
    lines = text.splitlines()
    assert lines[1].split() == ["SOURCE", "pending", "failed"]
    assert [ln.split() for ln in lines[2:5]] == [
        ["app", "2", "0"],
        ["operator", "0", "1"],
        ["total", "2", "1"],
    ]
    for part in (
        "JOBQUEUES BY STATUS",
        "pending",
        "oldest pending: none",
        "LAST OUTCOME PER TARGET",
        "ns/a",
        "HEALTHY",
    ):
        assert part in text


def test_processing_is_aged_from_its_claim_and_gated_by_the_threshold() -> None:
    app_claimed = {  # the app's worker: queued 5 h ago, claimed (lastAttemptAt) 3 h ago, never finished
        "_id": "65f0000000000000000000ab",
        "companyId": "65f0000000000000000000c1",
        "status": "processing",
        "createdAt": NOW - timedelta(hours=5),
        "lastAttemptAt": NOW - timedelta(hours=3),
    }
    op_running = {
        "jobName": "acme-1",
        "target": "ns/acme",
        "status": "processing",
        "createdAt": NOW - timedelta(minutes=10),
        "lastAttemptAt": NOW - timedelta(minutes=10),
    }
    legacy = {"_id": "x", "companyId": "c", "status": "processing", "createdAt": NOW - timedelta(hours=1)}
    rows = processing_by_age([op_running, legacy, app_claimed], NOW)
    assert [(r["source"], r["ageSeconds"]) for r in rows] == [
        ("app", 3 * 3600.0),
        ("app", 3600.0),  # lastAttemptAt missing (older models): from createdAt
        ("operator", 600.0),
    ]
    r = report(processing=rows, oldestProcessing=rows[0])
    (found,) = problems(r, Thresholds(max_processing_age=timedelta(hours=2)))
    assert "1 documents processing for more than 2h0m (app: 1, operator: 0)" in found
    assert "app:65f0000000000000000000ab" in found
    (found,) = problems(r, Thresholds(max_processing_age=timedelta(minutes=5)))
    assert "(app: 2, operator: 1)" in found
    assert problems(r, Thresholds(max_processing_age=None)) == []
    text = render_table(r, Thresholds(max_processing_age=timedelta(hours=2)))
    assert "STUCK PROCESSING: 1" in text
