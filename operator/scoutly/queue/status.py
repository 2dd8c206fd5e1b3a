"""`scoutly queue status`: counts by status (the app's own documents and the operator's side by side),
oldest pending, stuck processing, recent failures, each target's last outcome.

A table for people, JSON for scripts; the exit code makes it a health check (0 healthy, 1 unhealthy,
2 MongoDB unreachable or bad arguments). Works against any MongoDB URI (MongoDB or FerretDB).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from scoutly.store import queue_status as q
from scoutly.store.jobqueues import QueueStatus
from scoutly.store.mongo import Database, Doc

EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_ERROR = 0, 1, 2


@dataclass(frozen=True)
class Thresholds:
    max_pending_age: timedelta = timedelta(hours=1)
    """Unhealthy when the oldest `pending` document is older than this (the operator claims its Jobs
    as `processing`: a `pending` one is the app's, waiting for a worker)."""
    max_processing_age: timedelta | None = timedelta(hours=2)
    """Unhealthy when a document has been `processing` longer than this (since `lastAttemptAt`, when its
    worker or Job claimed it): a worker that died mid-job leaves it so forever (None: no limit)."""
    max_failures: int | None = None
    """Unhealthy when more documents than this failed within the window (None: no limit)."""
    max_consecutive_failures: int = 3
    """Unhealthy when a target's last N outcomes in the window all failed."""


@dataclass
class TargetOutcome:
    target: str
    jobName: str
    status: str
    finishedAt: str | None
    reason: str | None
    consecutiveFailures: int


@dataclass
class QueueReport:
    now: str
    windowSeconds: float
    counts: dict[str, int]
    bySource: dict[str, dict[str, int]]
    oldestPending: dict[str, Any] | None
    oldestProcessing: dict[str, Any] | None
    processing: list[dict[str, Any]]  # every `processing` document, oldest claim first
    failuresInWindow: int
    recentFailures: list[dict[str, Any]]
    targets: list[TargetOutcome]
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["healthy"] = self.healthy
        return out


def _iso(v: Any) -> str | None:
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat(timespec="seconds")
    return None if v is None else str(v)


def _age(doc: Doc | None, now: datetime, key: str) -> float | None:
    t = doc.get(key) if doc else None
    if not isinstance(t, datetime):
        return None
    return (now - (t if t.tzinfo else t.replace(tzinfo=UTC))).total_seconds()


def _label(doc: Doc) -> str:
    """The operator's documents name their Job; the app's are known by `_id`."""
    return str(doc.get("jobName") or f"app:{doc.get('_id')}")


def _target(doc: Doc) -> str:
    """The operator's documents name their target; the app's, their company."""
    return str(doc.get("target") or f"company:{doc.get('companyId')}")


def _summary(doc: Doc | None, now: datetime) -> dict[str, Any] | None:
    if doc is None:
        return None
    return {
        "jobName": _label(doc),
        "target": _target(doc),
        "createdAt": _iso(doc.get("createdAt")),
        "ageSeconds": _age(doc, now, "createdAt"),
    }


def _source(doc: Doc) -> str:
    return "operator" if doc.get("jobName") else "app"


def processing_by_age(docs: list[Doc], now: datetime) -> list[dict[str, Any]]:
    """Pure: `processing` documents, oldest claim first, aged from `lastAttemptAt` (set when the app's
    worker or the operator's Job claimed it), else `createdAt`."""
    out = []
    for d in docs:
        started = (
            d.get("lastAttemptAt") if isinstance(d.get("lastAttemptAt"), datetime) else d.get("createdAt")
        )
        out.append(
            {
                "source": _source(d),
                "jobName": _label(d),
                "target": _target(d),
                "processingSince": _iso(started),
                "ageSeconds": _age({"t": started}, now, "t"),
            }
        )
    return sorted(out, key=lambda x: -(x["ageSeconds"] or 0))


def target_outcomes(finished_newest_first: list[Doc]) -> list[TargetOutcome]:
    """Pure: each target's newest outcome and how many failures in a row end its history."""
    by_target: dict[str, list[Doc]] = {}
    for d in finished_newest_first:
        by_target.setdefault(_target(d), []).append(d)
    out = []
    for target, docs in sorted(by_target.items()):
        streak = 0
        for d in docs:
            if d.get("status") != QueueStatus.FAILED.value:
                break
            streak += 1
        last = docs[0]
        out.append(
            TargetOutcome(
                target=target,
                jobName=_label(last),
                status=str(last.get("status")),
                finishedAt=_iso(last.get("completedAt")),
                reason=last.get("reason"),
                consecutiveFailures=streak,
            )
        )
    return out


def stuck_processing(report: QueueReport, t: Thresholds) -> list[dict[str, Any]]:
    """Pure: the `processing` documents older than `t.max_processing_age`, oldest first."""
    if t.max_processing_age is None:
        return []
    limit = t.max_processing_age.total_seconds()
    return [d for d in report.processing if (d["ageSeconds"] or 0) > limit]


def problems(report: QueueReport, t: Thresholds) -> list[str]:
    """Pure: what makes the queue unhealthy under thresholds `t` (empty: healthy)."""
    found = []
    pending = report.oldestPending
    if (
        pending
        and pending["ageSeconds"] is not None
        and pending["ageSeconds"] > t.max_pending_age.total_seconds()
    ):
        found.append(
            f"oldest pending job {pending['jobName']} is {_human(pending['ageSeconds'])} old "
            f"(limit {_human(t.max_pending_age.total_seconds())})"
        )
    stuck = stuck_processing(report, t)
    if stuck and t.max_processing_age is not None:
        by_source = {src: sum(1 for d in stuck if d["source"] == src) for src in ("app", "operator")}
        oldest = stuck[0]
        found.append(
            f"{len(stuck)} documents processing for more than "
            f"{_human(t.max_processing_age.total_seconds())} (app: {by_source['app']}, operator: "
            f"{by_source['operator']}); oldest {oldest['jobName']} ({oldest['target']}) since "
            f"{oldest['processingSince']}"
        )
    if t.max_failures is not None and report.failuresInWindow > t.max_failures:
        found.append(
            f"{report.failuresInWindow} jobs failed in the last {_human(report.windowSeconds)} "
            f"(limit {t.max_failures})"
        )
    failing = [o for o in report.targets if o.consecutiveFailures >= t.max_consecutive_failures > 0]
    if failing:
        names = ", ".join(f"{o.target} ({o.consecutiveFailures})" for o in failing[:10])
        found.append(f"{len(failing)} targets failed {t.max_consecutive_failures}+ times in a row: {names}")
    return found


async def collect(
    db: Database,
    *,
    now: datetime,
    window: timedelta,
    thresholds: Thresholds,
    failures_limit: int = 10,
) -> QueueReport:
    since = now - window
    failures_total, failures = await q.recent_failures(db, since=since, limit=failures_limit)
    by_source = await q.counts_by_source(db)
    in_progress = processing_by_age(await q.processing(db), now)
    report = QueueReport(
        now=_iso(now) or "",
        windowSeconds=window.total_seconds(),
        counts={s: sum(counts[s] for counts in by_source.values()) for s in by_source["app"]},
        bySource=by_source,
        oldestPending=_summary(await q.oldest(db, QueueStatus.PENDING), now),
        oldestProcessing=in_progress[0] if in_progress else None,
        processing=in_progress,
        failuresInWindow=failures_total,
        recentFailures=[
            {
                "jobName": _label(d),
                "target": _target(d),
                "finishedAt": _iso(d.get("completedAt")),
                "reason": d.get("reason"),
                "error": d.get("errorMessage"),
            }
            for d in failures
        ],
        targets=target_outcomes(await q.finished_since(db, since=since)),
    )
    report.problems = problems(report, thresholds)
    return report


def _human(seconds: float) -> str:
    """90 -> 1m30s, 7200 -> 2h0m, 90000 -> 1d1h."""
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60}m"
    if s >= 60:
        return f"{s // 60}m{s % 60}s"
    return f"{s}s"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers).rstrip(), *(fmt.format(*r).rstrip() for r in rows)]


def render_table(report: QueueReport, thresholds: Thresholds | None = None) -> str:
    lines = ["JOBQUEUES BY STATUS (app: the app's own documents; operator: its Jobs')"]
    rows = [[src, *(str(n) for n in counts.values())] for src, counts in report.bySource.items()]
    rows.append(["total", *(str(n) for n in report.counts.values())])
    lines += _table(["SOURCE", *report.counts], rows)
    doc = report.oldestPending
    if doc:
        lines.append(
            f"oldest pending: {doc['jobName']} ({doc['target']}), created {doc['createdAt']}, "
            f"{_human(doc['ageSeconds'] or 0)} ago"
        )
    else:
        lines.append("oldest pending: none")
    doc = report.oldestProcessing
    if doc:
        lines.append(
            f"oldest processing: {doc['jobName']} ({doc['target']}, {doc['source']}), processing since "
            f"{doc['processingSince']}, {_human(doc['ageSeconds'] or 0)}"
        )
    else:
        lines.append("oldest processing: none")
    stuck = stuck_processing(report, thresholds or Thresholds())
    if stuck:
        lines += ["", f"STUCK PROCESSING: {len(stuck)}"]
        lines += _table(
            ["SOURCE", "JOB", "TARGET", "PROCESSING SINCE", "AGE"],
            [
                [
                    d["source"],
                    d["jobName"],
                    d["target"],
                    d["processingSince"] or "",
                    _human(d["ageSeconds"] or 0),
                ]
                for d in stuck[:20]
            ],
        )
    lines += ["", f"FAILURES IN THE LAST {_human(report.windowSeconds).upper()}: {report.failuresInWindow}"]
    if report.recentFailures:
        lines += _table(
            ["FINISHED", "TARGET", "JOB", "REASON", "ERROR"],
            [
                [
                    f["finishedAt"] or "",
                    f["target"] or "",
                    f["jobName"] or "",
                    f["reason"] or "",
                    (f["error"] or "")[:60],
                ]
                for f in report.recentFailures
            ],
        )
    lines += ["", "LAST OUTCOME PER TARGET"]
    lines += _table(
        ["TARGET", "STATUS", "FINISHED", "REASON", "FAILURES IN A ROW", "JOB"],
        [
            [o.target, o.status, o.finishedAt or "", o.reason or "", str(o.consecutiveFailures), o.jobName]
            for o in report.targets
        ],
    )
    lines.append("")
    if report.healthy:
        lines.append("HEALTHY")
    else:
        lines.append("UNHEALTHY")
        lines += [f"- {p}" for p in report.problems]
    return "\n".join(lines) + "\n"


async def run(
    *,
    uri: str,
    database: str,
    window: timedelta,
    thresholds: Thresholds,
    output: str,
    out: TextIO,
    err: TextIO,
    failures_limit: int = 10,
    timeout_ms: int = 5000,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    from pymongo.errors import PyMongoError

    from scoutly.store.mongo import connect
    from scoutly.store.mongo import database as pick_database

    client = connect(uri, timeout_ms=timeout_ms, app_name="scoutly-queue-status")
    try:
        db = pick_database(client, uri, database)
        report = await collect(
            db, now=clock(), window=window, thresholds=thresholds, failures_limit=failures_limit
        )
    except PyMongoError as e:
        msg = f"MongoDB unreachable: {type(e).__name__}: {str(e).splitlines()[0][:300]}"
        if output == "json":
            out.write(json.dumps({"healthy": False, "problems": [msg]}) + "\n")
        print(f"error: {msg}", file=err)
        return EXIT_ERROR
    finally:
        await client.close()
    if output == "json":
        out.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        out.write(render_table(report, thresholds))
    return EXIT_HEALTHY if report.healthy else EXIT_UNHEALTHY
