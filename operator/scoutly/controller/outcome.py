"""What a finished Job says (pure): its run summary from the pods' termination messages, the outcome's
log line and Event text, and the posting-quality warning."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scoutly.api.jobcontract import CONTAINER
from scoutly.api.summary import RunSummary, parse_summary
from scoutly.controller.jobs import JobPhase, JobView
from scoutly.controller.status import failure_text

Ended = tuple[str, str]  # a scrape container's end: (finishedAt, termination message)


def pod_ended(pod: dict[str, Any]) -> Ended | None:
    """The end of the pod's scrape container, once it terminated."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if cs.get("name") == CONTAINER and term:
            return term.get("finishedAt") or "", term.get("message") or ""
    return None


def summary_of_ends(ends: Iterable[Ended]) -> tuple[RunSummary | None, str | None]:
    """The run summary from the last pod's termination message (untrusted: validated)."""
    best: Ended | None = None
    for end in ends:
        if best is None or end[0] >= best[0]:
            best = end
    return parse_summary(best[1]) if best else (None, None)


def summary_of_pods(pods: dict[str, Any]) -> tuple[RunSummary | None, str | None]:
    return summary_of_ends(e for pod in pods.get("items", []) if (e := pod_ended(pod)) is not None)


def outcome_message(job: JobView, summary: RunSummary | None, summary_error: str | None) -> str:
    if job.phase is JobPhase.SUCCEEDED:
        if summary:
            return (
                f"Job {job.name} succeeded: {summary.postingsFound} postings ({summary.postingsNew} new), "
                f"{summary.matches} matches, {summary.tokens.total} tokens"
            )
        return f"Job {job.name} succeeded" + (f" ({summary_error})" if summary_error else "")
    return f"Job {job.name} failed: {failure_text(job, summary, summary_error)}"


def quality_event(job: JobView, summary: RunSummary | None) -> dict[str, Any] | None:
    """A warning Event (post_event arguments) when a share of postings lacking a field jumped since the
    board's previous run. The scrape pod compares (it has no API access): the summary carries the verdict."""
    q = summary.quality if summary else None
    if q is None or not q.jumps:
        return None
    detail = "; ".join(f"lacking a {j.field}: {j.before:.0%} -> {j.after:.0%}" for j in q.jumps)
    return {
        "reason": "PostingQualityDropped",
        "warning": True,
        "message": f"Job {job.name}: {q.source!s} postings {detail} of {q.rows} (parser regression or changed payload?)",
    }
