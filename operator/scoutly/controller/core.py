"""The controller: an in-memory due-queue fed by watch events, a dispatcher under a global cap, and the
write-back of Job outcomes to the target status, MongoDB, metrics and Events.

No per-object timers and no polling: one heap keyed by due time, woken by events. Writes happen only
when something changed (status diffs, Job creation, finalizer release, history clean-up). Any failed
write (transport errors included) is retried through the keyed work queue (workqueue.py) with
per-key exponential backoff and counted in scoutly_reconcile_errors_total.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from scoutly import metrics
from scoutly.api import models as m
from scoutly.config import OperatorSettings
from scoutly.controller.admission import Admission, Candidate, admit
from scoutly.controller.companies import CompanyChange, CompanyFeed, CompanyTargets, takes_company_value
from scoutly.controller.events import post_event
from scoutly.controller.finish import Finishing, count_outcome, count_quality, read_summary, release_finalizer
from scoutly.controller.history import expired
from scoutly.controller.jobs import (
    LABEL_MANAGED_BY,
    LABEL_TARGET,
    MANAGED_BY,
    JobPhase,
    JobView,
    build_job,
    image_error,
    iso,
    job_view,
    parse_time,
    pod_blocked,
    target_label,
)
from scoutly.controller.mirror import JobStage, Mirror, MirrorWrite
from scoutly.controller.outcome import outcome_message, quality_event
from scoutly.controller.state import Policy, TargetView, target_view
from scoutly.controller.status import apply_outcome, desired_status, failure_text, status_patch
from scoutly.controller.workqueue import Backoff, RetryLater, Timers, WorkQueue
from scoutly.faults import crash_point
from scoutly.kube.client import ApiError, KubeClient, error_kind, ns_path, transient
from scoutly.scheduling.due import job_name, overdue, should_dispatch
from scoutly.store import jobqueues

log = logging.getLogger("scoutly.controller")
Clock = Callable[[], datetime]
QueueKey = tuple[str, str]  # ("job", "<ns>/<Job>"), ("target" or "due", "<ns>/<target>")


def utcnow() -> datetime:
    return datetime.now(UTC)


def target_path(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    return ns_path(m.API_VERSION, namespace, m.PLURAL, name, sub)


class Controller:
    def __init__(
        self,
        settings: OperatorSettings,
        kube: KubeClient,
        mirror: Mirror,
        *,
        clock: Clock = utcnow,
        timers: Timers | None = None,
        dispatch_parallelism: int = 64,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.mirror = mirror
        self.clock = clock
        self.policy = Policy(
            tiers=settings.cooldown_tiers, backoff_base=settings.backoff_base, jitter=settings.jitter
        )
        self.targets: dict[str, TargetView] = {}
        self.orphan_jobs: dict[str, dict[str, JobView]] = defaultdict(dict)  # jobs seen before their target
        self.active: set[str] = set()  # namespace/name of our Jobs pending or running
        self._waiting: set[str] = set()  # due now, waiting for the admission gate
        self._wake = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: set[asyncio.Task[None]] = set()
        # Jobs with work left (the newest event of each) and the finishing steps done so far
        self._jobs_pending: dict[str, JobView] = {}
        self._finishing: dict[str, Finishing] = {}
        # every key's work: status writes, Job handling and its retries, due times (a delayed add each)
        self.queue: WorkQueue[QueueKey] = WorkQueue(
            self._handle_queued,
            workers=16,
            backoff=Backoff(base=0.5, cap=300.0),
            on_error=self._queue_error,
            timers=timers,
        )
        self.dispatch_backoff: Backoff[str] = Backoff(base=0.5, cap=300.0)
        self._parallel = asyncio.Semaphore(dispatch_parallelism)
        # status writes and Events after a dispatch: bounded apart, so Job creation keeps its connections
        self.ready = asyncio.Event()
        self.last_event: float = 0.0
        self.target_events = 0
        self.leading: Callable[[], bool] = lambda: True  # replaced by the Lease elector in HA mode
        self.heartbeat_interval = 15.0  # seconds between dispatcher passes at the most, when idle
        # the app's companies.lastSuccessfulScrape (controller/companies.py); None without MongoDB
        self.companies: CompanyFeed | None = None
        self.by_company = CompanyTargets()
        metrics.max_concurrent.set(settings.max_concurrent)

    def _admit(self, spec: m.ScrapeTargetSpec) -> str | None:
        """The operator's own policy on a valid spec (a refused image: InvalidSpec, and no Job)."""
        return image_error(spec, self.settings)

    # -- feeding the queue --------------------------------------------------------------------------
    def _schedule(self, view: TargetView) -> None:
        """Queue the target's due time (a delayed add; the earliest pending one wins, and a target found
        not due yet when it fires is queued again for its current due time)."""
        if view.spec is None or view.deleting:
            return
        now = self.clock()
        due = now if view.manual_pending else view.due(self.policy)
        # strictly after the due time: the seed's `hoursSinceLastScrape > cooldownHours`
        delay = (due - now).total_seconds()
        delay = delay + 0.01 if delay >= 0 and not view.manual_pending else 0.0
        self.queue.add_after(("due", view.key), delay)

    def _touch(self) -> None:
        self.last_event = self.clock().timestamp()
        metrics.last_event_timestamp.set(self.last_event)

    async def take_over(self) -> None:
        """Just became the leader: reconcile what the standby only observed (statuses, outcomes of Jobs
        still held by our finalizer), then let the dispatcher run."""
        for key, view in list(self.targets.items()):
            view.handled = True
            self._reconcile_soon(key)
            self._schedule(view)
            for j in view.jobs.values():
                if (j.terminal or j.deleting) and j.has_finalizer:
                    self._job_soon(j)
        for jobs in list(self.orphan_jobs.values()):
            for j in jobs.values():
                if j.has_finalizer and (j.terminal or j.deleting):
                    self._job_soon(j)
        self._wake.set()

    async def prime(self, namespaces: Sequence[str]) -> None:
        """List every target and every Job of ours (paged) before the first dispatch, so the cap picks
        the highest ranks of all targets rather than of whichever event arrived first, and a restarted
        operator knows each running Job before it could create a second one. kopf's indexes promised the
        same, at a cost quadratic in the object count (every indexed object wakes every waiting worker):
        10,000 targets took minutes to start; listing them takes seconds (docs/performance.md)."""
        scopes: list[str | None] = list(namespaces) or [None]
        jobs: dict[str, list[JobView]] = defaultdict(list)
        for ns in scopes:
            for item in await self.kube.list_all(
                ns_path("batch/v1", ns, "jobs"), labelSelector=f"{LABEL_MANAGED_BY}={MANAGED_BY}"
            ):
                job = job_view(item)
                if job is not None:
                    jobs[job.target].append(job)
                    if not job.terminal and not job.deleting:
                        self.active.add(job.key)
        for ns in scopes:
            for body in await self.kube.list_all(target_path(ns or "")):
                meta = body.get("metadata") or {}
                key = f"{meta.get('namespace')}/{meta.get('name')}"
                if key not in self.targets:
                    view = target_view(body, None, self._admit)
                    self._adopt_known_jobs(view, jobs.pop(key, []))
                    self.targets[key] = view
                    self._index_company(view)
                    self._schedule(view)
        for target, rest in jobs.items():  # their target is gone or not listed yet: kept for its event
            for job in rest:
                self.orphan_jobs[target][job.name] = job
        metrics.active_scrapes.set(len(self.active))
        await self._load_company_history()
        self.ready.set()

    def _adopt_known_jobs(self, view: TargetView, known_jobs: Iterable[JobView]) -> None:
        for job in known_jobs:
            if job.target_uid == view.uid and job.name not in view.jobs:
                view.jobs[job.name] = job
                if not job.terminal and not job.deleting:
                    self.active.add(job.key)

    async def on_target_event(
        self, body: dict[str, Any], event_type: str | None, known_jobs: Iterable[JobView] = ()
    ) -> None:
        """A ScrapeTarget was listed, added, modified or deleted. `known_jobs` are its Jobs from kopf's
        index, complete before any handler runs: a restarted operator sees a running Job before it could
        dispatch a second one."""
        self._touch()
        metrics.watch_events.labels("scrapetargets").inc()
        self.target_events += 1
        self.ready.set()
        meta = body.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if event_type == "DELETED":
            view = self.targets.pop(key, None)
            self._waiting.discard(key)
            self.by_company.drop(key)
            if self.settings.metrics_per_target:
                with contextlib.suppress(KeyError):
                    metrics.target_last_success.remove(*key.split("/", 1))
            await self._target_deleted(key, view)
            return
        async with self._locks[key]:
            previous = self.targets.get(key)
            view = target_view(body, previous, self._admit)
            if previous is None or previous.uid != view.uid:
                view.jobs.update(self.orphan_jobs.pop(key, {}))
                self._adopt_known_jobs(view, known_jobs)
                self._seed_last_scrape(view)
            self.targets[key] = view
            self._index_company(view)
            if not self.leading():  # a standby keeps its state warm and writes nothing
                self._schedule(view)
                return
            view.handled = True
            # the status remembers what was reported: one Event per bad generation, across restarts too
            ready: dict[str, Any] = next(
                (c for c in view.observed.get("conditions") or [] if c.get("type") == "Ready"), {}
            )
            reported = (
                ready.get("reason") == "InvalidSpec"
                and ready.get("message") == view.spec_error
                and ready.get("observedGeneration") == view.generation
            )
            if view.spec is None and not reported:
                log.warning("target %s cannot be scheduled: %s", key, view.spec_error)
                view.outbox.append(
                    {"reason": "InvalidSpec", "message": view.spec_error or "", "warning": True}
                )
            if (
                view.manual_pending
                and view.active_jobs
                and (previous is None or not previous.handled or previous.scrape_now != view.scrape_now)
            ):
                view.outbox.append(
                    {
                        "reason": "JobAlreadyActive",
                        "message": f"manual trigger waits for {view.active_jobs[0].name} to finish",
                    }
                )
            self._reconcile_soon(key)
            self._schedule(view)

    async def on_job_event(self, body: dict[str, Any], event_type: str | None) -> None:
        """One of our Jobs changed: mirror it, record its outcome, release it."""
        self._touch()
        metrics.watch_events.labels("jobs").inc()
        job = job_view(body)
        if job is None:
            return
        if event_type == "DELETED":
            self.active.discard(job.key)
            view = self.targets.get(job.target)
            if view:
                view.jobs.pop(job.name, None)
            self.orphan_jobs.get(job.target, {}).pop(job.name, None)
            self.mirror.forget(job.namespace, job.name)
            self._jobs_pending.pop(job.key, None)
            self._finishing.pop(job.key, None)
            self._wake.set()
            return
        if job.terminal or job.deleting:
            self.active.discard(job.key)
        else:
            self.active.add(job.key)
        metrics.active_scrapes.set(len(self.active))
        view = self.targets.get(job.target)
        if view is not None and view.uid == job.target_uid:
            self._cache_job(view, job)
        self._job_soon(job)

    def _cache_job(self, view: TargetView, job: JobView) -> None:
        previous = view.jobs.get(job.name)
        if previous is not None and previous.phase is JobPhase.RUNNING and job.phase is JobPhase.PENDING:
            job.phase = JobPhase.RUNNING  # a pod between running and counted: never go back to Pending
        view.jobs[job.name] = job
        if job.terminal or job.deleting:
            view.blocked.pop(job.name, None)

    def _job_soon(self, job: JobView) -> None:
        """Reconcile the Job from the work queue (its newest state: events in between fold into one)."""
        self._jobs_pending[job.key] = job
        self.queue.add(("job", job.key))

    def _reconcile_soon(self, key: str) -> None:
        """Reconcile the target from the work queue: post the Events its watch events decided, write the
        derived status when it differs. Not inside the event handler: kopf holds each event's state until
        its handler returns, and at start-up 10,000 handlers waiting on their status writes held hundreds
        of MiB (docs/performance.md). The status is derived when the reconcile runs, so later events
        fold into it."""
        self.queue.add(("target", key))

    async def _reconcile_job(self, key: str) -> None:
        """Mirror the newest state of one of our Jobs, record its outcome, release it."""
        first = self._jobs_pending.get(key)
        if first is None:
            return
        async with self._locks[first.target]:
            job = self._jobs_pending.get(key)  # a newer event may have come while we waited
            if job is None:
                return
            view = await self._view_for(job)
            if view is not None:
                self._cache_job(view, job)
            if self.leading():
                if job.phase is JobPhase.RUNNING and not job.deleting:
                    # its claim again: lost when the operator crashed right after creating the Job (the
                    # mirror skips it when stored already)
                    self.mirror.submit(self._mirror_write(job, view, JobStage.CREATED))
                if job.terminal or job.deleting:
                    await self._finish(job, view)
                elif view is not None:
                    self._reconcile_soon(view.key)
            if key not in self._finishing and self._jobs_pending.get(key) is job:
                del self._jobs_pending[key]
        self._wake.set()

    async def _reconcile_target(self, key: str) -> None:
        view = self.targets.get(key)
        if view is None or not self.leading():
            return
        async with self._locks[key]:
            if not await self._sync_status(view):
                raise RetryLater(key)
            while view.outbox:  # best effort: a failed post is logged, not retried
                await post_event(self.kube, view, now=self.clock(), **view.outbox.pop(0))

    async def _handle_queued(self, key: QueueKey) -> None:
        kind, name = key
        if kind == "due":
            self._on_due(name)
        elif kind == "job":
            await self._reconcile_job(name)
        elif kind == "target":
            await self._reconcile_target(name)

    def _on_due(self, key: str) -> None:
        """A target's due time came: it waits for the admission gate, or is queued for its due time again
        when that moved later since."""
        view = self.targets.get(key)
        if view is None or view.spec is None or view.deleting:
            return
        if not view.manual_pending and self.clock() <= view.due(self.policy):
            self._schedule(view)
            return
        self._waiting.add(key)
        self._wake.set()

    def _queue_error(self, key: QueueKey, e: Exception) -> None:
        if isinstance(e, RetryLater):
            return  # counted where it failed
        kind, name = key
        finishing = self._finishing.get(name) if kind == "job" else None
        stage = "finish" if finishing is not None else kind
        metrics.reconcile_errors.labels(stage, error_kind(e)).inc()
        log.warning(
            "%s %s failed%s, retrying with backoff: %s",
            kind,
            name,
            f" at {finishing.step}" if finishing is not None else "",
            e if str(e) else type(e).__name__,
        )

    async def on_pod_event(self, body: dict[str, Any]) -> None:
        """A scrape pod changed: when its container cannot start (a missing Secret, an image that is not
        there), the target says so on its Scraping condition and in one warning Event, at once, instead
        of sitting in Running until the Job's deadline."""
        metrics.watch_events.labels("pods").inc()
        meta = body.get("metadata") or {}
        view = self._view_by_label(meta.get("namespace") or "", (meta.get("labels") or {}).get(LABEL_TARGET))
        if view is None or not self.leading():
            return
        found = pod_blocked(body)
        job = found[0] if found else (meta.get("labels") or {}).get("job-name", "")
        reason = found[1] if found else None
        if view.blocked.get(job) == reason or job not in view.jobs:
            return
        if reason is None:
            view.blocked.pop(job, None)
        else:
            view.blocked[job] = reason
            view.outbox.append(
                {
                    "reason": "PodBlocked",
                    "warning": True,
                    "message": f"Job {job}: pod {meta.get('name')} cannot start: {reason}",
                }
            )
        self._reconcile_soon(view.key)

    def _view_by_label(self, namespace: str, label: str | None) -> TargetView | None:
        """The target whose scoutly.io/target label this is: its name, or its hash-shortened form for
        names over 63 characters (then found by comparing, which only pod events of such targets pay)."""
        if not label:
            return None
        view = self.targets.get(f"{namespace}/{label}")
        if view is not None or len(label) < 63:
            return view
        return next(
            (v for v in self.targets.values() if v.namespace == namespace and target_label(v.name) == label),
            None,
        )

    async def _view_for(self, job: JobView) -> TargetView | None:
        """The view of the Job's target; read from the API when its watch event has not arrived yet
        (only for Jobs that need it), None when the target is gone."""
        view = self.targets.get(job.target)
        if view is not None:
            return view if view.uid == job.target_uid else None
        if job.terminal and not job.has_finalizer:
            self.orphan_jobs[job.target][job.name] = job
            return None
        namespace, name = job.target.split("/", 1)
        try:
            body = await self.kube.get(target_path(namespace, name))
        except ApiError as e:
            if e.not_found:
                return None
            raise
        if body["metadata"].get("uid") != job.target_uid:
            return None
        view = target_view(body, None, self._admit)
        view.jobs.update(self.orphan_jobs.pop(job.target, {}))
        self._seed_last_scrape(view)
        self.targets[job.target] = view
        self._index_company(view)
        self._schedule(view)
        return view

    # -- the app's scrape history (companies.lastSuccessfulScrape) ------------------------------------
    def _company_key(self, view: TargetView) -> str | None:
        ref = view.spec.companyId if view.spec else None
        if not ref:
            return None
        return self.companies.key(ref) if self.companies is not None else f"ref:{ref}"

    def _index_company(self, view: TargetView) -> None:
        self.by_company.assign(view.key, self._company_key(view))

    def _company_busy(self, view: TargetView) -> bool:
        """Another target of the same company has a Job running (or one whose outcome is unrecorded):
        like the app's own guard, one company is scraped by one Job at a time."""
        key = self.by_company.of(view.key)
        for other in self.by_company.targets(key) if key is not None else ():
            o = self.targets.get(other)
            if other != view.key and o is not None and (o.active_jobs or o.unrecorded_jobs):
                return True
        return False

    def _set_last_scrape(self, view: TargetView, at: datetime | None) -> None:
        """Schedule the target from `at` (from the app's history): status, NEXT SCRAPE, the due-queue."""
        value = iso(at) if at is not None else None
        if view.status.get("lastSuccessfulScrape") == value:
            return
        view.status = {**view.status, "lastSuccessfulScrape": value}
        view.remember_last_scrape(value)
        self._reconcile_soon(view.key)
        self._schedule(view)

    def _seed_last_scrape(self, view: TargetView) -> None:
        """A target new to the operator (or re-created) without a last scrape of its own takes its
        company's: a company the app scraped 2 h ago is not due again at once."""
        if self.companies is None or view.spec is None or not view.spec.companyId:
            return
        if view.status.get("lastSuccessfulScrape"):
            return
        known, at = self.companies.last_scrape(view.spec.companyId)
        if not known:
            self.companies.kick()  # a company newer than the last read: read again now
        elif at is not None:
            view.status = {**view.status, "lastSuccessfulScrape": iso(at)}
            view.remember_last_scrape(iso(at))

    def _adopt_newer(self, views: list[TargetView], at: datetime | None) -> None:
        own = [parse_time(v.status.get("lastSuccessfulScrape")) for v in views]
        for v, take in zip(views, takes_company_value(own, at), strict=True):
            if take:
                self._set_last_scrape(v, at)

    def _views_of_company(self, key: str) -> list[TargetView]:
        return [v for k in self.by_company.targets(key) if (v := self.targets.get(k)) is not None]

    async def _load_company_history(self) -> None:
        """The first read of the app's history, before the first dispatch. A failure is logged: the
        targets are then scheduled from their status alone, and the first read that works later
        (CompanyFeed.run) applies it then (`on_companies_loaded`)."""
        if self.companies is None:
            return
        try:
            await self.companies.refresh()
        except Exception as e:  # MongoDB down: scheduling must go on
            log.warning("could not read the app's companies.lastSuccessfulScrape at start: %s", e)

    def on_companies_loaded(self) -> None:
        """After the first read: company slugs resolve now; a company scraped more recently than any of
        its targets (by the app, while the operator was away) moves them; targets without a last scrape
        of their own take the company's."""
        assert self.companies is not None
        for view in self.targets.values():
            self._index_company(view)
        for key in self.by_company.companies():
            known, at = self.companies.last_scrape(key[4:] if key.startswith("ref:") else key)
            if known:
                self._adopt_newer(self._views_of_company(key), at)
        self._wake.set()

    def on_company_changes(self, changes: list[CompanyChange]) -> None:
        """The periodic read found companies changed (edits: every target of the company follows) or
        new (their targets take the value unless they have a newer one)."""
        for change in changes:
            views = self._views_of_company(str(change.oid))
            if change.first_seen:
                for v in views:  # slug-named targets whose company was unknown until now
                    self._index_company(v)
                self._adopt_newer(self._views_of_company(str(change.oid)), change.at)
            else:
                for v in views:
                    log.info(
                        "company %s: lastSuccessfulScrape edited to %s, %s reschedules",
                        change.oid,
                        iso(change.at) if change.at else None,
                        v.key,
                    )
                    self._set_last_scrape(v, change.at)
        self._wake.set()

    # -- outcomes -----------------------------------------------------------------------------------
    async def _finish(self, job: JobView, view: TargetView | None) -> None:
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
                rec.summary, rec.summary_error = await read_summary(self.kube, job)
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
        if live is not None and not await self._sync_status(live):
            raise RetryLater(job.key)
        rec.step = "event"
        while rec.events and live is not None:
            await post_event(self.kube, live, now=self.clock(), strict=True, **rec.events[0])
            rec.events.pop(0)
        rec.step = "mirror"
        if rec.mirrored is None:
            write = self._mirror_write(job, view, JobStage.SUCCEEDED if ok else JobStage.FAILED)
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
            await self._enforce_history(live)

    async def _when_mirrored(self, key: str, done: asyncio.Event) -> None:
        await done.wait()
        if key in self._finishing:
            self.queue.add(("job", key))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _mirror_write(self, job: JobView, view: TargetView | None, stage: JobStage) -> MirrorWrite:
        company = view.spec.companyId if view and view.spec else None
        at = job.finish if stage.terminal else job.created
        return MirrorWrite(
            job_name=job.name,
            namespace=job.namespace,
            target=job.target,
            company_ref=company,
            created_at=job.created or self.clock(),
            stage=stage,
            at=at or self.clock(),
            retries=max(0, job.attempts - 1),
            reason=job.reason,
            scheduled_for=job.scheduled,
        )

    async def _target_deleted(self, key: str, view: TargetView | None) -> None:
        # Jobs go with the target (ownerReference, garbage collector); their open documents fail here,
        # and each Job's own deletion event records it too (whichever comes first).
        if self.mirror.db is not None:
            try:
                await jobqueues.fail_open(
                    self.mirror.db,
                    target=key,
                    at=self.clock(),
                    reason="TargetDeleted",
                    error="the ScrapeTarget was deleted",
                )
            except Exception as e:  # MongoDB down: each Job's deletion re-derives its FAILED write
                log.warning("could not fail open jobqueues of %s: %s", key, e)

    async def _enforce_history(self, view: TargetView) -> None:
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

    # -- status -------------------------------------------------------------------------------------
    async def _sync_status(self, view: TargetView) -> bool:
        """Write the difference between the derived and the observed status. False when the write failed
        (counted here; the caller's key is retried with backoff)."""
        desired = desired_status(view, self.policy, self.clock())
        view.remember_last_scrape(desired.get("lastSuccessfulScrape"))  # its echoes are no edits
        patch = status_patch(view.observed, desired)
        if patch is None:
            return True
        crash_point("before_status")
        try:
            resp = await self.kube.merge_patch(
                target_path(view.namespace, view.name, "status"), {"status": patch}
            )
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as e:
            if isinstance(e, ApiError) and e.not_found:
                return True  # the target is gone
            metrics.reconcile_errors.labels("status", error_kind(e)).inc()
            log.warning("status write for %s failed, retrying: %s", view.key, str(e) or type(e).__name__)
            return False
        crash_point("after_status")
        written = dict(resp.get("status") or desired)
        view.status = dict(written)
        view.observed = written
        return True

    # -- dispatch -----------------------------------------------------------------------------------
    def _admission(self, now: datetime) -> Admission:
        """Ask the admission gate which waiting targets get a slot now; targets no longer due leave the
        waiting set (their next due time is queued already)."""
        candidates: list[Candidate] = []
        for key in list(self._waiting):
            view = self.targets.get(key)
            if view is None or view.spec is None or view.deleting:
                self._waiting.discard(key)
                continue
            if not view.dispatchable() or not should_dispatch(
                now=now,
                due=view.due(self.policy),
                active=bool(view.active_jobs),
                suspended=view.suspended,
                manual_pending=view.manual_pending,
            ):
                self._waiting.discard(key)
                continue
            candidates.append(
                Candidate(
                    key=key,
                    rank=view.rank,
                    due=view.due(self.policy),
                    company=self.by_company.of(key),
                    company_busy=self._company_busy(view),
                )
            )
        return admit(candidates, free=self.settings.max_concurrent - len(self.active))

    async def run_dispatcher(self) -> None:
        await self.ready.wait()
        while True:
            self._wake.clear()
            if not self.leading():
                await self._wake.wait()  # take_over() wakes us
                continue
            if await self.dispatch_pass():
                continue
            with contextlib.suppress(TimeoutError):
                # an idle pass at least this often: the heartbeat alert's signal
                await asyncio.wait_for(self._wake.wait(), timeout=self.heartbeat_interval)

    async def dispatch_pass(self) -> bool:
        """Dispatch the waiting targets the admission gate lets through now. True when more are waiting
        and slots are still free (the next pass should follow at once)."""
        now = self.clock()
        metrics.dispatcher_heartbeat.set(now.timestamp())
        admission = self._admission(now)
        chosen = [self.targets[c.key] for c in admission.chosen]
        metrics.targets_due_waiting.set(len(admission.waiting))
        if chosen:
            await asyncio.gather(*(self._dispatch_guarded(v, now) for v in chosen))
        return bool(chosen and admission.waiting and len(self.active) < self.settings.max_concurrent)

    async def _dispatch_guarded(self, view: TargetView, now: datetime) -> None:
        async with self._parallel:
            try:
                await self.dispatch(view, now)
            except Exception as e:
                metrics.reconcile_errors.labels("dispatch", error_kind(e)).inc()
                if transient(e):
                    log.warning("dispatch of %s failed, retrying with backoff: %s", view.key, e)
                else:
                    log.exception("dispatch of %s failed", view.key)
                self._retry_dispatch(view.key, now)

    def _retry_dispatch(self, key: str, now: datetime, at_least: timedelta = timedelta(0)) -> None:
        """Try the target again after its backoff (doubling per failure in a row): through the due-queue,
        so the retry still goes by the cap and rank order."""
        self._waiting.discard(key)
        delay = max(at_least, timedelta(seconds=self.dispatch_backoff.when(key)))
        self.queue.add_after(("due", key), delay.total_seconds())

    async def dispatch(self, view: TargetView, now: datetime) -> None:
        async with self._locks[view.key]:
            if (
                not self.leading()
                or self.targets.get(view.key) is not view
                or not view.dispatchable()
                or view.spec is None
            ):
                return
            manual = view.scrape_now if view.manual_pending else None
            due = view.due(self.policy)
            now = self.clock()
            # re-check under the lock: an outcome recorded since the candidates were picked moves `due`
            if not should_dispatch(
                now=now, due=due, active=False, suspended=view.suspended, manual_pending=manual is not None
            ):
                self._waiting.discard(view.key)
                return
            slot = due if manual is None else now
            name = job_name(target=view.name, slot=slot, manual_token=manual)
            crash_point("after_decide")
            body = build_job(
                name=name,
                namespace=view.namespace,
                target_name=view.name,
                target_uid=view.uid,
                spec=view.spec,
                scheduled=slot,
                manual_token=manual,
                settings=self.settings,
            )
            path = ns_path("batch/v1", view.namespace, "jobs")
            try:
                created = await self.kube.create(path, body)
            except ApiError as e:
                if not e.already_exists:
                    if transient(e):
                        raise  # retried with backoff by _dispatch_guarded
                    metrics.reconcile_errors.labels("create", error_kind(e)).inc()
                    await post_event(
                        self.kube,
                        view,
                        reason="FailedCreate",
                        warning=True,
                        now=now,
                        message=f"could not create Job {name}: {e.message}",
                    )
                    self._retry_dispatch(view.key, now, at_least=self.policy.backoff_base)
                    return
                created = await self.kube.get(f"{path}/{name}")
                owner: dict[str, Any] = next(
                    (o for o in created["metadata"].get("ownerReferences") or [] if o.get("controller")), {}
                )
                if owner.get("uid") != view.uid:
                    self._waiting.discard(view.key)
                    await post_event(
                        self.kube,
                        view,
                        reason="FailedCreate",
                        warning=True,
                        now=now,
                        message=f"Job {name} exists and is not ours",
                    )
                    return
                log.info("adopted existing Job %s", name)
            crash_point("after_create")
            self.dispatch_backoff.forget(view.key)
            job = job_view(created)
            assert job is not None
            view.jobs[job.name] = job
            self._waiting.discard(view.key)
            if not job.terminal:
                self.active.add(job.key)
            metrics.active_scrapes.set(len(self.active))
            metrics.jobs_created.labels("manual" if manual else "schedule").inc()
            log.info(
                "created Job %s", name, extra={"target": view.key, "job": name, "namespace": view.namespace}
            )
            metrics.dispatch_lag.observe(
                max(0.0, ((job.created or now) - due).total_seconds()) if manual is None else 0.0
            )
            self.mirror.submit(self._mirror_write(job, view, JobStage.CREATED))
            status = dict(view.status)
            status["lastScheduleTime"] = created["metadata"].get("creationTimestamp")
            if manual is not None:
                status["lastManualTrigger"] = manual
            view.status = status
            # Creating Jobs is the critical path of a wave: the status write and the Event follow from
            # the target's reconcile, outside the dispatch slot. A crash before them loses nothing: the
            # status is derived from the Jobs again on restart.
            view.outbox.append(
                {
                    "reason": "SuccessfulCreate",
                    "message": f"created Job {name}" + (" (manual trigger)" if manual is not None else ""),
                }
            )
            self._reconcile_soon(view.key)

    # -- views for metrics and probes ---------------------------------------------------------------
    def phases(self) -> dict[str, int]:
        counts = dict.fromkeys((p.value for p in m.Phase), 0)
        for v in self.targets.values():
            phase = (v.status or {}).get("phase")
            if phase in counts:
                counts[phase] += 1
        return counts

    def overdue_count(self) -> int:
        """Targets more than one cooldown past due since their last success (the overdue alert's signal)."""
        now = self.clock()
        return sum(
            1
            for v in self.targets.values()
            if v.spec is not None
            and not v.suspended
            and overdue(history=v.history(), cooldown=v.cooldown(self.policy), now=now)
        )

    def failure_streaks(self, thresholds: Iterable[int]) -> dict[int, int]:
        """For each N in `thresholds`: targets (not suspended) whose last N or more scrapes failed."""
        streaks = [
            int((v.status or {}).get("consecutiveFailures") or 0)
            for v in self.targets.values()
            if v.spec is not None and not v.suspended
        ]
        return {n: sum(1 for s in streaks if s >= n) for n in thresholds}
