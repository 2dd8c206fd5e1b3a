"""Finishing one of our Jobs: the record of steps done so far, and the API calls and counters it needs.

The steps, in order: read the run summary, apply the outcome to the target status (counted and logged
once), write the status, post the Events, mirror to MongoDB, release the finalizer. A failed step leaves
the record, and the retry resumes at that step: however often the API connection drops, the outcome is
applied, counted and announced once (Recorder.finish drives the steps)."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from scoutly import metrics
from scoutly.api.summary import RunSummary
from scoutly.controller.jobs import FINALIZER, JobPhase, JobView
from scoutly.controller.outcome import Ended, summary_of_ends, summary_of_pods
from scoutly.faults import crash_point
from scoutly.kube.client import ApiError, KubeClient, ns_path, transient


@dataclass
class Finishing:
    job: JobView  # as first seen finished: the outcome is derived from it
    step: str = "summary"  # summary, status, event, mirror, release: for logs
    summary: RunSummary | None = None
    summary_error: str | None = None
    recorded: bool = False
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # post_event arguments left
    mirrored: asyncio.Event | None = None


async def read_summary(
    kube: KubeClient, job: JobView, ended: dict[str, Ended] | None = None
) -> tuple[RunSummary | None, str | None]:
    """The run summary of a finished Job: from the pods watch when it saw as many pods end as the Job
    counts (`ended`, by pod name), else from a read of its pods. A transport error raises (the summary is
    there, only the read failed: retried); an API refusal is recorded as the reason there is none."""
    if ended and len(ended) >= job.attempts > 0:
        return summary_of_ends(ended.values())
    try:
        pods = await kube.get(ns_path("v1", job.namespace, "pods"), labelSelector=f"job-name={job.name}")
    except ApiError as e:
        if transient(e):
            raise
        return None, f"could not read pods: {e.reason}"
    return summary_of_pods(pods)


def _remove_at(index: int) -> list[dict[str, Any]]:
    return [
        {"op": "test", "path": f"/metadata/finalizers/{index}", "value": FINALIZER},
        {"op": "remove", "path": f"/metadata/finalizers/{index}"},
    ]


async def release_finalizer(kube: KubeClient, job: JobView) -> None:
    """Remove our finalizer: one patch at the index the watch showed, no read first. When the list moved
    under us (the patch's test fails) or the Job is gone, read it and try again; raises on any other
    failure (the key is retried)."""
    path = ns_path("batch/v1", job.namespace, "jobs", job.name)
    crash_point("before_release")
    try:
        await kube.json_patch(path, _remove_at(job.finalizer_at))
        return
    except ApiError as e:
        if e.not_found:
            return
        if e.status not in (409, 422):  # a failed test is 422; anything else is the API's to retry
            raise
    try:
        current = await kube.get(path)
        finalizers = current["metadata"].get("finalizers") or []
        if FINALIZER in finalizers:
            await kube.json_patch(path, _remove_at(finalizers.index(FINALIZER)))
    except ApiError as e:
        if not e.not_found:
            raise


def count_outcome(job: JobView, summary: RunSummary | None) -> None:
    ok = job.phase is JobPhase.SUCCEEDED
    result = "succeeded" if ok else "failed"
    metrics.jobs_finished.labels(result, "Completed" if ok else (job.reason or "Unknown")).inc()
    if job.start and job.finish:
        metrics.job_duration.labels(result).observe(max(0.0, (job.finish - job.start).total_seconds()))
    if summary:
        metrics.postings.labels("found").inc(summary.postingsFound)
        metrics.postings.labels("new").inc(summary.postingsNew)
        metrics.matches.inc(summary.matches)
        model = summary.model or "unknown"
        for kind in ("prompt", "completion", "cached"):
            metrics.llm_tokens.labels(model, kind).inc(getattr(summary.tokens, kind))


def count_quality(summary: RunSummary | None) -> None:
    """Posting-quality counters per source of a finished scrape."""
    q = summary.quality if summary else None
    if q is None:
        return
    source = str(q.source)
    metrics.posting_rows.labels(source).inc(q.rows)
    for field, n in (
        ("title", q.missingTitle),
        ("url", q.missingUrl),
        ("location", q.missingLocation),
        ("date", q.missingDate),
    ):
        metrics.postings_missing.labels(source, field).inc(n)
    for j in q.jumps:
        metrics.posting_quality_jumps.labels(source, j.field).inc()
