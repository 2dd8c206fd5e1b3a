"""Watch events in, keys out: each event updates the caches (the only writer of views into the Store) and
queues the key of what changed; `prime` and `take_over`; the view of a Job's target for the job key
(read from the API when its event has not arrived yet)."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from scoutly import metrics
from scoutly.controller.base import ControllerBase
from scoutly.controller.companies import CompanyChange
from scoutly.controller.jobs import (
    LABEL_MANAGED_BY,
    LABEL_TARGET,
    MANAGED_BY,
    JobView,
    job_view,
    pod_blocked,
)
from scoutly.controller.outcome import pod_ended
from scoutly.controller.state import TargetView, target_view
from scoutly.controller.statuswriter import target_path
from scoutly.kube.client import ApiError, ns_path

log = logging.getLogger("scoutly.controller")


class Reconciler(ControllerBase):
    def on_companies_loaded(self) -> None:
        self.app_history.on_companies_loaded()

    def on_company_changes(self, changes: list[CompanyChange]) -> None:
        self.app_history.on_company_changes(changes)

    async def take_over(self) -> None:
        """Just became the leader: reconcile what the standby only observed (statuses, outcomes of Jobs
        still held by our finalizer), then let the dispatcher run."""
        held: list[JobView] = []
        for key, view in list(self.targets.items()):
            view.handled = True
            self._reconcile_soon(key)
            self.dispatcher.schedule(view)
            held += [j for j in view.jobs.values() if (j.terminal or j.deleting) and j.has_finalizer]
        for jobs in list(self.store.orphan_jobs.values()):
            held += [j for j in jobs.values() if j.has_finalizer and (j.terminal or j.deleting)]
        for job in held:
            self.job_reconciler.hold(job)
        self.dispatcher.wake()

    async def prime(self, namespaces: Sequence[str]) -> None:
        """List every target and every Job of ours (paged) before the first dispatch, so the cap picks
        the highest ranks of all targets rather than of whichever event arrived first, and a restarted
        operator knows each running Job before it could create a second one. Listing is linear in the
        object count: 10,000 targets take seconds (docs/performance.md)."""
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
                    self.store.index_company(view)
                    self.dispatcher.schedule(view)
        for target, rest in jobs.items():  # their target is gone or not listed yet: kept for its event
            for job in rest:
                self.store.orphan_jobs[target][job.name] = job
        metrics.active_scrapes.set(len(self.active))
        await self.app_history.load()
        self.ready.set()
        self.dispatcher.start()

    def _adopt_known_jobs(self, view: TargetView, known_jobs: Iterable[JobView]) -> None:
        """Listed Jobs of the target (prime): a restarted operator sees a running Job before it could
        dispatch a second one."""
        for job in known_jobs:
            if job.target_uid == view.uid and job.name not in view.jobs:
                view.jobs[job.name] = job
                if not job.terminal and not job.deleting:
                    self.active.add(job.key)

    async def on_target_event(self, body: dict[str, Any], event_type: str | None) -> None:
        """A ScrapeTarget was listed, added, modified or deleted: update the cache, queue its key."""
        self._touch()
        metrics.watch_events.labels("scrapetargets").inc()
        self.target_events += 1
        self.ready.set()
        meta = body.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if event_type == "DELETED":
            self.targets.pop(key, None)
            self.dispatcher.drop(key)
            self.store.by_company.drop(key)
            if self.settings.metrics_per_target:
                with contextlib.suppress(KeyError):
                    metrics.target_last_success.remove(*key.split("/", 1))
            self.locks.prune(key)
            # at once, not batched: nothing folds into a deletion, and its open jobqueues documents
            # fail here (a Job of a deleted target has no company to write its own through)
            self.queue.add(("target", key))
            return
        async with self.locks.of(key):
            previous = self.targets.get(key)
            view = target_view(body, previous, self._admit)
            if previous is None or previous.uid != view.uid:
                view.jobs.update(self.store.orphan_jobs.pop(key, {}))
                self.app_history.seed_last_scrape(view)
            self.targets[key] = view
            self.store.index_company(view)
            if not self.leading():  # a standby keeps its state warm and writes nothing
                self.dispatcher.schedule(view)
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
            self.dispatcher.schedule(view)

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
                view.ended.pop(job.name, None)
            self.store.orphan_jobs.get(job.target, {}).pop(job.name, None)
            self.mirror.forget(job.namespace, job.name)
            self.job_reconciler.forget(job.key)
            self.recorder.forget(job.key)
            self.dispatcher.wake()
            return
        if job.terminal or job.deleting:
            self.active.discard(job.key)
        else:
            self.active.add(job.key)
        metrics.active_scrapes.set(len(self.active))
        view = self.targets.get(job.target)
        if view is not None and view.uid == job.target_uid:
            self.store.cache_job(view, job)
        self.job_reconciler.soon(job)

    async def on_pod_event(self, body: dict[str, Any]) -> None:
        """A scrape pod changed: when its container cannot start (a missing Secret, an image that is not
        there), the target says so on its Scraping condition and in one warning Event, at once, instead
        of sitting in Running until the Job's deadline."""
        metrics.watch_events.labels("pods").inc()
        meta = body.get("metadata") or {}
        view = self.store.view_by_label(
            meta.get("namespace") or "", (meta.get("labels") or {}).get(LABEL_TARGET)
        )
        if view is None:
            return
        labels = meta.get("labels") or {}
        end = pod_ended(body)
        known = view.jobs.get(labels.get("job-name", ""))
        if end is not None and known is not None and known.has_finalizer:
            view.ended.setdefault(known.name, {})[meta.get("name") or ""] = end
        if not self.leading():
            return
        found = pod_blocked(body)
        job = found[0] if found else labels.get("job-name", "")
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

    async def _view_for(self, job: JobView) -> TargetView | None:
        """The view of the Job's target; read from the API when its watch event has not arrived yet
        (only for Jobs that need it), None when the target is gone."""
        view = self.targets.get(job.target)
        if view is not None:
            return view if view.uid == job.target_uid else None
        if job.terminal and not job.has_finalizer:
            self.store.orphan_jobs[job.target][job.name] = job
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
        view.jobs.update(self.store.orphan_jobs.pop(job.target, {}))
        self.app_history.seed_last_scrape(view)
        self.targets[job.target] = view
        self.store.index_company(view)
        self.dispatcher.schedule(view)
        return view
