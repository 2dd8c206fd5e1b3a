"""The status a target should have, derived from its view and Jobs (pure; `now` passed in).

Only differences are written (`status_patch`), so an idle cluster sees no writes at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scoutly.api.models import Phase
from scoutly.api.summary import RunSummary
from scoutly.controller.jobs import JobPhase, JobView, iso, parse_time
from scoutly.controller.state import Policy, TargetView
from scoutly.scheduling.policy import format_duration


def failure_text(job: JobView, summary: RunSummary | None, summary_error: str | None) -> str:
    """Why a Job failed, in the scrape's own words when it said (its run summary's message, e.g.
    "greenhouse source failed: HTTP 503 ..."), else the Job's condition (reason: message)."""
    if summary is not None and summary.message:
        return summary.message
    text = job.reason or "Unknown"
    if job.message:
        text += f": {job.message}"
    if summary_error:
        text += f" ({summary_error})"
    return text


def apply_outcome(
    status: dict[str, Any], job: JobView, summary: RunSummary | None, summary_error: str | None
) -> dict[str, Any] | None:
    """The status after a finished Job, or None when this outcome is already recorded (idempotent:
    an outcome counts once, in finish order, however often the Job's events are replayed)."""
    finish = job.finish or job.created
    last = status.get("lastJob") or {}
    if last.get("name") == job.name:
        return None
    last_finish = parse_time(last.get("finish"))
    if last_finish and finish and finish < last_finish:
        return None
    ok = job.phase is JobPhase.SUCCEEDED
    new = dict(status)
    message = (summary.message if summary else None) if ok else failure_text(job, summary, summary_error)
    lastjob: dict[str, Any] = {
        "name": job.name,
        "result": "Succeeded" if ok else "Failed",
        "reason": job.reason if not ok else None,
        "start": iso(job.start) if job.start else None,
        "finish": iso(finish) if finish else None,
        "message": message[:1024] if message else None,
    }
    if summary:
        lastjob.update(
            postingsFound=summary.postingsFound,
            postingsNew=summary.postingsNew,
            matches=summary.matches,
            tokens=summary.tokens.total,
        )
    new["lastJob"] = {k: v for k, v in lastjob.items() if v is not None}
    if ok:
        new["lastSuccessfulScrape"] = iso(finish) if finish else None
        new["consecutiveFailures"] = 0
    else:
        new["lastFailureTime"] = iso(finish) if finish else None
        new["consecutiveFailures"] = int(status.get("consecutiveFailures") or 0) + 1
    return new


def _phase(view: TargetView) -> Phase:
    active = view.active_jobs
    if active:
        return Phase.Running if any(j.phase is JobPhase.RUNNING for j in active) else Phase.Scheduled
    if view.suspended:
        return Phase.Suspended
    result = (view.status.get("lastJob") or {}).get("result")
    return {"Succeeded": Phase.Succeeded, "Failed": Phase.Failed}.get(result or "", Phase.Idle)


def _condition(
    previous: list[dict[str, Any]],
    kind: str,
    ok: bool,
    reason: str,
    message: str,
    now: datetime,
    generation: int,
) -> dict[str, Any]:
    status = "True" if ok else "False"
    old = next((c for c in previous if c.get("type") == kind), None)
    since = old["lastTransitionTime"] if old and old.get("status") == status else iso(now)
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
        "observedGeneration": generation,
    }


def desired_status(view: TargetView, policy: Policy, now: datetime) -> dict[str, Any]:
    """Everything derived (phase, active, next time, conditions) on top of the recorded history."""
    status = dict(view.status)
    prev_conditions = list(status.get("conditions") or [])
    status["observedGeneration"] = view.generation
    active = view.active_jobs
    status["active"] = [{"name": j.name, "uid": j.uid} for j in active]
    status["phase"] = _phase(view).value
    if view.spec is None:
        status["phase"] = Phase.Failed.value
        status["nextScrapeTime"] = None
        status["conditions"] = [
            _condition(
                prev_conditions, "Ready", False, "InvalidSpec", view.spec_error or "", now, view.generation
            ),
            _condition(
                prev_conditions,
                "Scraping",
                bool(active),
                "JobActive" if active else "NoJob",
                "",
                now,
                view.generation,
            ),
            _condition(
                prev_conditions, "Failing", True, "InvalidSpec", view.spec_error or "", now, view.generation
            ),
        ]
        return status
    status["effectiveRank"] = view.rank
    status["cooldown"] = format_duration(view.cooldown(policy))
    # the due time itself, never `now`: a derived field that moved with the clock would be a write per tick
    status["nextScrapeTime"] = None if active or view.suspended else iso(view.due(policy))
    failures = int(status.get("consecutiveFailures") or 0)
    last = status.get("lastJob") or {}
    blocked = next((f"Job {j.name}: {view.blocked[j.name]}" for j in active if j.name in view.blocked), "")
    status["conditions"] = [
        _condition(
            prev_conditions,
            "Ready",
            True,
            "Suspended" if view.suspended else "Scheduling",
            "",
            now,
            view.generation,
        ),
        _condition(
            prev_conditions,
            "Scraping",
            bool(active),
            "PodBlocked" if blocked else "JobActive" if active else "NoJob",
            blocked or (active[0].name if active else ""),
            now,
            view.generation,
        ),
        _condition(
            prev_conditions,
            "Failing",
            failures > 0,
            last.get("reason") or "ScrapeFailed"
            if failures
            else "LastScrapeSucceeded"
            if last
            else "NoScrapeYet",
            (f"{failures} consecutive failures: {last.get('message') or 'no reason given'}"[:1024])
            if failures
            else "",
            now,
            view.generation,
        ),
    ]
    return status


def status_patch(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """Merge-patch body turning `current` into `desired`, or None when nothing changed."""
    patch = {k: v for k, v in desired.items() if current.get(k) != v}
    return patch or None
