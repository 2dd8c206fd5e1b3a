"""The controller: an in-memory due-queue fed by watch events, a dispatcher under a global cap, and the
write-back of Job outcomes to the target status, MongoDB, metrics and Events.

No per-object timers and no polling: one heap keyed by due time, woken by events. Writes happen only
when something changed (status diffs, Job creation, finalizer release, history clean-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp

from scoutly import metrics
from scoutly.api import models as m
from scoutly.api.summary import RunSummary, parse_summary
from scoutly.config import OperatorSettings
from scoutly.controller.companies import CompanyChange, CompanyFeed, CompanyTargets, takes_company_value
from scoutly.controller.events import post_event
from scoutly.controller.jobs import (
    CONTAINER,
    FINALIZER,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    JobPhase,
    JobView,
    build_job,
    image_error,
    iso,
    job_view,
    parse_time,
)
from scoutly.controller.mirror import JobStage, Mirror, MirrorWrite
from scoutly.controller.state import Policy, TargetView, target_view
from scoutly.controller.status import apply_outcome, desired_status, failure_text, status_patch
from scoutly.faults import crash_point
from scoutly.kube.client import ApiError, KubeClient, ns_path
from scoutly.scheduling.due import dispatch_key, job_name, overdue, should_dispatch
from scoutly.store import jobqueues

log = logging.getLogger("scoutly.controller")
Clock = Callable[[], datetime]


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
        dispatch_parallelism: int = 64,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.mirror = mirror
        self.clock = clock
        self.policy = Policy(
            tiers=settings.tiers, backoff_base=settings.backoff_base_delta, jitter=settings.jitter_delta
        )
        self.targets: dict[str, TargetView] = {}
        self.orphan_jobs: dict[str, dict[str, JobView]] = defaultdict(dict)  # jobs seen before their target
        self.active: set[str] = set()  # namespace/name of our Jobs pending or running
        self._heap: list[tuple[datetime, int, str]] = []
        self._seq = itertools.count()
        self._waiting: set[str] = set()
        self._wake = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._releasing: set[str] = set()  # Jobs whose finalizer release is under way
        self._tasks: set[asyncio.Task[None]] = set()
        self._status_retries: set[str] = set()
        self._status_queued: set[str] = set()
        self._status_parallel = asyncio.Semaphore(16)
        self.status_retry_base = 2.0  # seconds before the first retry of a failed status write
        self._status_retry_delay: dict[str, float] = {}
        self._parallel = asyncio.Semaphore(dispatch_parallelism)
        # status writes and Events after a dispatch: bounded apart, so Job creation keeps its connections
        self._after_parallel = asyncio.Semaphore(max(1, dispatch_parallelism // 2))
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
        if view.spec is None or view.deleting:
            return
        due = self.clock() if view.manual_pending else view.due(self.policy)
        heapq.heappush(self._heap, (due, next(self._seq), view.key))
        self._wake.set()

    def _touch(self) -> None:
        self.last_event = self.clock().timestamp()
        metrics.last_event_timestamp.set(self.last_event)

    async def take_over(self) -> None:
        """Just became the leader: write what the standby only observed (statuses, outcomes of Jobs
        still held by our finalizer), then let the dispatcher run."""
        for key, view in list(self.targets.items()):
            async with self._locks[key]:
                view.handled = True
                for job in list(view.jobs.values()):
                    if (job.terminal or job.deleting) and job.has_finalizer:
                        await self._finish(job, view)
                await self._sync_status(view)
                self._schedule(view)
        for target, jobs in list(self.orphan_jobs.items()):
            for job in list(jobs.values()):
                if job.has_finalizer and (job.terminal or job.deleting):
                    async with self._locks[target]:
                        await self._finish(job, await self._view_for(job))
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
                await post_event(
                    self.kube,
                    view,
                    reason="InvalidSpec",
                    message=view.spec_error or "",
                    now=self.clock(),
                    warning=True,
                )
            if (
                view.manual_pending
                and view.active_jobs
                and (previous is None or not previous.handled or previous.scrape_now != view.scrape_now)
            ):
                await post_event(
                    self.kube,
                    view,
                    reason="JobAlreadyActive",
                    now=self.clock(),
                    message=f"manual trigger waits for {view.active_jobs[0].name} to finish",
                )
            self._status_soon(key)
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
            self._wake.set()
            return
        if job.terminal or job.deleting:
            self.active.discard(job.key)
        else:
            self.active.add(job.key)
        metrics.active_scrapes.set(len(self.active))
        async with self._locks[job.target]:
            view = await self._view_for(job)
            previous = view.jobs.get(job.name) if view else None
            if previous is not None and previous.phase is JobPhase.RUNNING and job.phase is JobPhase.PENDING:
                job.phase = JobPhase.RUNNING  # a pod between running and counted: never go back to Pending
            if view is not None:
                view.jobs[job.name] = job
            if not self.leading():
                return
            if job.phase is JobPhase.RUNNING and not job.deleting:
                # its claim again: lost when the operator crashed right after creating the Job (the
                # mirror skips it when stored already)
                self.mirror.submit(self._mirror_write(job, view, JobStage.CREATED))
            if job.terminal or job.deleting:
                await self._finish(job, view)
            elif view is not None and (previous is None or previous.phase is not job.phase):
                await self._sync_status(view)
        self._wake.set()

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
        self._status_soon(view.key)
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
        """Record a finished (or deleted-while-running) Job everywhere, then release our finalizer."""
        if not job.has_finalizer or job.key in self._releasing:
            return
        self._releasing.add(job.key)
        summary, summary_error = (await self._summary(job)) if job.terminal else (None, None)
        if not job.terminal:  # deleted before it finished: the scrape did not happen
            job.phase, job.reason = (
                JobPhase.FAILED,
                "TargetDeleted" if view is None or view.deleting else "JobDeleted",
            )
            job.message = "the Job was deleted before it finished"
            job.finish = job.finish or self.clock()
        ok = job.phase is JobPhase.SUCCEEDED
        if view is not None and not view.deleting:
            new = apply_outcome(view.status, job, summary, summary_error)
            if new is not None:
                view.status = new
                await self._sync_status(view)
                self._count_outcome(job, summary)
                await self._report_quality(view, job, summary)
                log.log(
                    logging.INFO if ok else logging.WARNING,
                    self._outcome_message(job, summary, summary_error),
                    extra={"target": job.target, "job": job.name, "namespace": job.namespace},
                )
                if ok and self.settings.metrics_per_target and job.finish:
                    metrics.target_last_success.labels(view.namespace, view.name).set(job.finish.timestamp())
                await post_event(
                    self.kube,
                    view,
                    reason="ScrapeSucceeded" if ok else "ScrapeFailed",
                    warning=not ok,
                    now=self.clock(),
                    message=self._outcome_message(job, summary, summary_error),
                )
        write = self._mirror_write(job, view, JobStage.SUCCEEDED if ok else JobStage.FAILED)
        write.error = None if ok else failure_text(job, summary, summary_error)
        if summary is not None:
            write.result = summary.model_dump(mode="json")
        done = self.mirror.submit(write)
        self._spawn(self._release_when_mirrored(job, done, view))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release_when_mirrored(
        self, job: JobView, done: asyncio.Event, view: TargetView | None
    ) -> None:
        try:
            await done.wait()
            crash_point("after_mirror")
            await self._release(job, view)
        finally:
            self._releasing.discard(job.key)

    async def _release(self, job: JobView, view: TargetView | None) -> None:
        path = ns_path("batch/v1", job.namespace, "jobs", job.name)
        try:
            current = await self.kube.get(path)
            finalizers = current["metadata"].get("finalizers") or []
            if FINALIZER in finalizers:
                crash_point("before_release")
                idx = finalizers.index(FINALIZER)
                await self.kube.json_patch(
                    path,
                    [
                        {"op": "test", "path": f"/metadata/finalizers/{idx}", "value": FINALIZER},
                        {"op": "remove", "path": f"/metadata/finalizers/{idx}"},
                    ],
                )
        except ApiError as e:
            if not e.not_found and e.status != 422:  # gone, or the finalizer list moved: next event retries
                metrics.reconcile_errors.labels("release").inc()
                log.warning("could not release Job %s: %s", job.key, e)
            return
        crash_point("after_release")
        if view is not None and not view.deleting and job.terminal:
            await self._enforce_history(view)

    async def _summary(self, job: JobView) -> tuple[RunSummary | None, str | None]:
        """The run summary from the last pod's termination message (untrusted: validated)."""
        try:
            pods = await self.kube.get(
                ns_path("v1", job.namespace, "pods"), labelSelector=f"job-name={job.name}"
            )
        except ApiError as e:
            return None, f"could not read pods: {e.reason}"
        best: tuple[str, str] | None = None
        for pod in pods.get("items", []):
            for cs in pod.get("status", {}).get("containerStatuses") or []:
                term = (cs.get("state") or {}).get("terminated")
                if cs.get("name") == CONTAINER and term:
                    stamp = term.get("finishedAt") or ""
                    if best is None or stamp >= best[0]:
                        best = (stamp, term.get("message") or "")
        return parse_summary(best[1]) if best else (None, None)

    def _count_outcome(self, job: JobView, summary: RunSummary | None) -> None:
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

    async def _report_quality(self, view: TargetView, job: JobView, summary: RunSummary | None) -> None:
        """Posting quality of a finished scrape: counters per source, and a warning Event when a share of
        postings lacking a field jumped since the board's previous run (the scrape pod compares; it has
        no API access, so the summary carries the verdict)."""
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
        if not q.jumps:
            return
        for j in q.jumps:
            metrics.posting_quality_jumps.labels(source, j.field).inc()
        detail = "; ".join(f"lacking a {j.field}: {j.before:.0%} -> {j.after:.0%}" for j in q.jumps)
        await post_event(
            self.kube,
            view,
            reason="PostingQualityDropped",
            warning=True,
            now=self.clock(),
            message=f"Job {job.name}: {source} postings {detail} of {q.rows} (parser regression or changed payload?)",
        )

    @staticmethod
    def _outcome_message(job: JobView, summary: RunSummary | None, summary_error: str | None) -> str:
        if job.phase is JobPhase.SUCCEEDED:
            if summary:
                return (
                    f"Job {job.name} succeeded: {summary.postingsFound} postings ({summary.postingsNew} new), "
                    f"{summary.matches} matches, {summary.tokens.total} tokens"
                )
            return f"Job {job.name} succeeded" + (f" ({summary_error})" if summary_error else "")
        return f"Job {job.name} failed: {failure_text(job, summary, summary_error)}"

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
        """Keep the newest N succeeded and M failed finished Jobs of a target (like CronJob)."""
        finished = sorted(
            (j for j in view.jobs.values() if j.terminal and not j.deleting),
            key=lambda j: j.finish or j.created or datetime.min.replace(tzinfo=UTC),
            reverse=True,
        )
        limits = {
            JobPhase.SUCCEEDED: self.settings.successful_jobs_history_limit,
            JobPhase.FAILED: self.settings.failed_jobs_history_limit,
        }
        seen: dict[JobPhase, int] = defaultdict(int)
        for j in finished:
            seen[j.phase] += 1
            if seen[j.phase] > limits[j.phase] and not j.has_finalizer:
                try:
                    await self.kube.delete(
                        ns_path("batch/v1", j.namespace, "jobs", j.name), preconditions={"uid": j.uid}
                    )
                except ApiError as e:
                    if not e.not_found and not e.conflict:
                        log.warning("could not delete old Job %s: %s", j.key, e)

    # -- status -------------------------------------------------------------------------------------
    async def _sync_status(self, view: TargetView) -> None:
        desired = desired_status(view, self.policy, self.clock())
        view.remember_last_scrape(desired.get("lastSuccessfulScrape"))  # its echoes are no edits
        patch = status_patch(view.observed, desired)
        if patch is None:
            return
        crash_point("before_status")
        try:
            resp = await self.kube.merge_patch(
                target_path(view.namespace, view.name, "status"), {"status": patch}
            )
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as e:
            if isinstance(e, ApiError) and e.not_found:
                return
            metrics.reconcile_errors.labels("status").inc()
            log.warning("status write for %s failed, retrying: %s", view.key, e)
            self._retry_status_later(view.key)
            return
        crash_point("after_status")
        written = dict(resp.get("status") or desired)
        view.status = dict(written)
        view.observed = written

    def _status_soon(self, key: str) -> None:
        """Write the target's derived status from a bounded pool, not inside the event handler: kopf
        holds each event's state until its handler returns, and at start-up 10,000 handlers waiting on
        their status writes held hundreds of MiB (docs/performance.md). Queued once per target; the
        write derives the status when it runs, so later events fold into it."""
        if key in self._status_queued:
            return
        self._status_queued.add(key)

        async def write() -> None:
            async with self._status_parallel:
                self._status_queued.discard(key)
                await self._sync_status_of(key)

        self._spawn(write())

    async def _sync_status_of(self, key: str) -> None:
        """The status write of a target by key, for writes that run later: the target may be gone, or
        leadership lost, by then."""
        view = self.targets.get(key)
        if view is None or not self.leading():
            return
        async with self._locks[key]:
            await self._sync_status(view)

    def _retry_status_later(self, key: str) -> None:
        """A failed status write is retried (once pending per target, backing off to a minute): without
        it the status would stay stale until the target's next event, which may be hours away."""
        if key in self._status_retries:
            return
        delay = self._status_retry_delay.get(key, self.status_retry_base)
        self._status_retry_delay[key] = min(delay * 2, 60.0)
        self._status_retries.add(key)

        async def retry() -> None:
            await asyncio.sleep(delay)
            self._status_retries.discard(key)
            await self._sync_status_of(key)
            if key not in self._status_retries:
                self._status_retry_delay.pop(key, None)

        self._spawn(retry())

    # -- dispatch -----------------------------------------------------------------------------------
    def _collect_due(self, now: datetime) -> None:
        # strictly after the due time: the seed's `hoursSinceLastScrape > cooldownHours`
        while self._heap and self._heap[0][0] < now:
            _, _, key = heapq.heappop(self._heap)
            if key in self.targets:
                self._waiting.add(key)

    def _candidates(self, now: datetime) -> list[TargetView]:
        ready: list[TargetView] = []
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
                self._waiting.discard(key)  # its next due time is in the heap already
                continue
            if self._company_busy(view):
                continue  # stays waiting: the other target's Job event wakes the dispatcher
            ready.append(view)
        ready.sort(key=lambda v: dispatch_key(rank=v.rank, due=v.due(self.policy)))
        one_per_company: list[TargetView] = []
        companies: set[str] = set()
        for view in ready:
            company = self.by_company.of(view.key)
            if company is not None and company in companies:
                continue  # a higher-ranked target of the same company goes first
            if company is not None:
                companies.add(company)
            one_per_company.append(view)
        return one_per_company

    async def run_dispatcher(self) -> None:
        await self.ready.wait()
        while True:
            if not self.leading():
                self._wake.clear()
                await self._wake.wait()  # take_over() wakes us
                continue
            now = self.clock()
            metrics.dispatcher_heartbeat.set(now.timestamp())
            self._collect_due(now)
            candidates = self._candidates(now)
            free = self.settings.max_concurrent - len(self.active)
            chosen = candidates[: max(free, 0)]
            metrics.targets_due_waiting.set(len(candidates) - len(chosen))
            if chosen:
                await asyncio.gather(*(self._dispatch_guarded(v, now) for v in chosen))
            timeout = (
                self.heartbeat_interval
            )  # an idle pass at least this often: the heartbeat alert's signal
            if self._heap:
                timeout = min(timeout, max(0.0, (self._heap[0][0] - self.clock()).total_seconds()) + 0.01)
            self._wake.clear()
            if chosen and len(candidates) > len(chosen) and len(self.active) < self.settings.max_concurrent:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def _dispatch_guarded(self, view: TargetView, now: datetime) -> None:
        async with self._parallel:
            try:
                await self.dispatch(view, now)
            except Exception:
                metrics.reconcile_errors.labels("dispatch").inc()
                log.exception("dispatch of %s failed", view.key)

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
                    self._waiting.discard(view.key)
                    metrics.reconcile_errors.labels("create").inc()
                    await post_event(
                        self.kube,
                        view,
                        reason="FailedCreate",
                        warning=True,
                        now=now,
                        message=f"could not create Job {name}: {e.message}",
                    )
                    heapq.heappush(self._heap, (now + self.policy.backoff_base, next(self._seq), view.key))
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
        # Creating Jobs is the critical path of a wave: the status write and the Event follow outside the
        # dispatch slot (a Job event arriving first folds the status write into its own). A crash before
        # them loses nothing: the status is derived from the Jobs again on restart.
        self._spawn(self._after_dispatch(view, name, manual is not None, now))

    async def _after_dispatch(self, view: TargetView, name: str, manual: bool, now: datetime) -> None:
        async with self._after_parallel:
            try:
                async with self._locks[view.key]:
                    current = self.targets.get(view.key)
                    if current is None or current.uid != view.uid or not self.leading():
                        return
                    await self._sync_status(current)
                await post_event(
                    self.kube,
                    view,
                    reason="SuccessfulCreate",
                    now=now,
                    message=f"created Job {name}" + (" (manual trigger)" if manual else ""),
                )
            except Exception:
                metrics.reconcile_errors.labels("status").inc()
                log.exception("status after dispatching %s failed", name)

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
