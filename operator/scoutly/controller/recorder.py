"""The Recorder: a finished Job's outcome recorded everywhere (status, Events, metrics, MongoDB), then its
finalizer released, and each target's Job history kept within its limits. It holds the finishing record
of each Job in progress (finish.Finishing), so a retry resumes at the step that failed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import aiohttp

from scoutly import metrics
from scoutly.config import OperatorSettings
from scoutly.controller.events import post_event
from scoutly.controller.finish import Finishing, count_outcome, count_quality, read_summary, release_finalizer
from scoutly.controller.history import expired
from scoutly.controller.jobs import JobPhase, JobView
from scoutly.controller.mirror import JobStage, Mirror, MirrorWrite
from scoutly.controller.outcome import outcome_message, quality_event
from scoutly.controller.state import TargetView
from scoutly.controller.status import apply_outcome, failure_text
from scoutly.controller.statuswriter import StatusWriter
from scoutly.controller.workqueue import RetryLater
from scoutly.faults import crash_point
from scoutly.kube.client import ApiError, KubeClient, ns_path

log = logging.getLogger("scoutly.controller")


def mirror_write(job: JobView, view: TargetView | None, stage: JobStage, now: datetime) -> MirrorWrite:
    """The MongoDB mirror's write for one stage of a Job."""
    company = view.spec.companyId if view and view.spec else None
    at = job.finish if stage.terminal else job.created
    return MirrorWrite(
        job_name=job.name,
        namespace=job.namespace,
        target=job.target,
        company_ref=company,
        created_at=job.created or now,
        stage=stage,
        at=at or now,
        retries=max(0, job.attempts - 1),
        reason=job.reason,
        scheduled_for=job.scheduled,
    )


class Recorder:
    def __init__(
        self,
        *,
        settings: OperatorSettings,
        kube: KubeClient,
        mirror: Mirror,
        clock: Callable[[], datetime],
        status: StatusWriter,
        requeue: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.mirror = mirror
        self.clock = clock
        self._status = status
        self._requeue = requeue  # the Job's key again: its mirror write landed
        self._finishing: dict[str, Finishing] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def step(self, key: str) -> str | None:
        """The finishing step the Job is at; None when it is not being finished."""
        rec = self._finishing.get(key)
        return rec.step if rec is not None else None

    def in_progress(self) -> int:
        """Jobs being finished (begun, not released yet)."""
        return len(self._finishing)

    def forget(self, key: str) -> None:
        """The Job is gone."""
        self._finishing.pop(key, None)

    async def drain(self) -> None:
        """Wait for the waits on MongoDB in flight (tests; shutdown)."""
        await asyncio.gather(*self._tasks)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, job: JobView, view: TargetView | None) -> None:
        """Record a finished (or deleted-while-running) Job everywhere, then release our finalizer. Each
        step runs once; an error leaves the record, and the retry resumes at the step that failed."""
        if not job.has_finalizer:
            self._finishing.pop(job.key, None)
            return
        rec = self._finishing.get(job.key)
        if rec is None:
            rec = self._finishing[job.key] = Finishing(job)
        elif rec.mirrored is not None and not rec.mirrored.is_set():
            return  # waiting for MongoDB: _when_mirrored comes back
        job = rec.job
        live = view if view is not None and not view.deleting else None
        if rec.step == "summary":
            if job.terminal:
                ended = view.ended.get(job.name) if view is not None else None
                rec.summary, rec.summary_error = await read_summary(self.kube, job, ended)
            else:  # deleted before it finished: the scrape did not happen
                job.phase, job.reason = (
                    JobPhase.FAILED,
                    "TargetDeleted" if view is None or view.deleting else "JobDeleted",
                )
                job.message = "the Job was deleted before it finished"
                job.finish = job.finish or self.clock()
            rec.step = "status"
        ok = job.phase is JobPhase.SUCCEEDED
        summary, summary_error = rec.summary, rec.summary_error
        if not rec.recorded and live is not None:
            new = apply_outcome(live.status, job, summary, summary_error)
            if new is not None:
                live.status = new
                count_outcome(job, summary)
                count_quality(summary)
                quality = quality_event(job, summary)
                message = outcome_message(job, summary, summary_error)
                log.log(
                    logging.INFO if ok else logging.WARNING,
                    message,
                    extra={"target": job.target, "job": job.name, "namespace": job.namespace},
                )
                if ok and self.settings.metrics_per_target and job.finish:
                    metrics.target_last_success.labels(live.namespace, live.name).set(job.finish.timestamp())
                outcome = {"reason": "ScrapeSucceeded" if ok else "ScrapeFailed", "warning": not ok}
                rec.events = [*([quality] if quality else []), {**outcome, "message": message}]
        rec.recorded = True
        if view is not None:
            view.ended.pop(job.name, None)
        if live is not None and not await self._status.sync(live):
            raise RetryLater(job.key)
        rec.step = "event"
        while rec.events and live is not None:
            await post_event(self.kube, live, now=self.clock(), strict=True, **rec.events[0])
            rec.events.pop(0)
        rec.step = "mirror"
        if rec.mirrored is None:
            write = mirror_write(job, view, JobStage.SUCCEEDED if ok else JobStage.FAILED, self.clock())
            write.error = None if ok else failure_text(job, summary, summary_error)
            if summary is not None:
                write.result = summary.model_dump(mode="json")
            rec.mirrored = self.mirror.submit(write)
            if not rec.mirrored.is_set():
                self._spawn(self._when_mirrored(job.key, rec.mirrored))
                return
        crash_point("after_mirror")
        rec.step = "release"
        await release_finalizer(self.kube, job)
        self._finishing.pop(job.key, None)
        crash_point("after_release")
        if live is not None and job.terminal:
            await self.enforce_history(live)

    async def _when_mirrored(self, key: str, done: asyncio.Event) -> None:
        await done.wait()
        if key in self._finishing:
            self._requeue(key)

    async def enforce_history(self, view: TargetView) -> None:
        """Delete the finished Jobs beyond the history limits; a failure waits for the next finish."""
        for j in expired(
            view.jobs.values(),
            succeeded=self.settings.successful_jobs_history_limit,
            failed=self.settings.failed_jobs_history_limit,
        ):
            try:
                await self.kube.delete(
                    ns_path("batch/v1", j.namespace, "jobs", j.name), preconditions={"uid": j.uid}
                )
            except ApiError as e:
                if not e.not_found and not e.conflict:
                    log.warning("could not delete old Job %s: %s", j.key, e)
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                log.warning("could not delete old Job %s: %s", j.key, e)
