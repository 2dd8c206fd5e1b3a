"""The Dispatcher: the due and dispatch keys. A target whose due time came waits for the admission gate
(admission.py); each dispatcher pass creates the Jobs the gate lets through, under the global cap, and
retries a failed create with backoff. It reads the caches (Store) and writes only the Jobs it created
into them; the status write and the Event of a new Job follow from the target's key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from scoutly import metrics
from scoutly.config import OperatorSettings
from scoutly.controller.admission import Admission, Candidate, admit
from scoutly.controller.events import post_event
from scoutly.controller.jobs import build_job, job_view
from scoutly.controller.mirror import JobStage, Mirror
from scoutly.controller.recorder import mirror_write
from scoutly.controller.state import Policy, TargetView
from scoutly.controller.store import Store, TargetLocks
from scoutly.controller.workqueue import Backoff, WorkQueue
from scoutly.faults import crash_point
from scoutly.kube.client import ApiError, KubeClient, error_kind, ns_path, transient
from scoutly.scheduling.due import job_name, should_dispatch

log = logging.getLogger("scoutly.controller")


QueueKey = tuple[str, str]  # ("job", "<ns>/<Job>"), ("target" or "due", "<ns>/<target>"), DISPATCH
DISPATCH: QueueKey = ("dispatch", "")  # one dispatcher pass


class Dispatcher:
    def __init__(
        self,
        *,
        settings: OperatorSettings,
        kube: KubeClient,
        mirror: Mirror,
        clock: Callable[[], datetime],
        policy: Policy,
        store: Store,
        locks: TargetLocks,
        queue: WorkQueue[QueueKey],
        leading: Callable[[], bool],
        reconcile_soon: Callable[[str], None],
        parallelism: int = 64,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.mirror = mirror
        self.clock = clock
        self.policy = policy
        self.store = store
        self.locks = locks
        self.queue = queue
        self.leading = leading
        self._reconcile_soon = reconcile_soon  # the target's key: its status write and Events
        self.backoff: Backoff[str] = Backoff(base=0.5, cap=300.0)  # failed creates, per target
        self.heartbeat_interval = 15.0  # seconds between dispatcher passes at the most, when idle
        self._parallel = asyncio.Semaphore(parallelism)
        self._waiting: set[str] = set()  # due now, waiting for the admission gate
        self._started = False  # from the end of prime(): the first pass sees every target and Job

    def start(self) -> None:
        """Passes run from here (the caches are primed), each one the queue's DISPATCH key."""
        self._started = True
        self.wake()

    def wake(self) -> None:
        """A dispatcher pass soon: a slot freed, a target became due, leadership came."""
        self.queue.add(DISPATCH)

    def drop(self, key: str) -> None:
        """The target is gone: it waits no more."""
        self._waiting.discard(key)

    def schedule(self, view: TargetView) -> None:
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

    def on_due(self, key: str) -> None:
        """A target's due time came: it waits for the admission gate, or is queued for its due time again
        when that moved later since."""
        view = self.store.targets.get(key)
        if view is None or view.spec is None or view.deleting:
            return
        if not view.manual_pending and self.clock() <= view.due(self.policy):
            self.schedule(view)
            return
        self._waiting.add(key)
        self.wake()

    def _admission(self, now: datetime) -> Admission:
        """Ask the admission gate which waiting targets get a slot now; targets no longer due leave the
        waiting set (their next due time is queued already)."""
        candidates: list[Candidate] = []
        for key in list(self._waiting):
            view = self.store.targets.get(key)
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
                    company=self.store.by_company.of(key),
                    company_busy=self.store.company_busy(view),
                )
            )
        return admit(candidates, free=self.settings.max_concurrent - len(self.store.active))

    async def run(self) -> None:
        """The DISPATCH key."""
        if not self._started or not self.leading():
            return  # take_over() wakes it
        if await self.dispatch_pass():
            self.wake()  # more are waiting and slots are free: again at once
        # a pass at least this often, idle or not: the heartbeat alert's signal
        self.queue.add_after(DISPATCH, self.heartbeat_interval)

    async def dispatch_pass(self) -> bool:
        """Dispatch the waiting targets the admission gate lets through now. True when more are waiting
        and slots are still free (the next pass should follow at once)."""
        now = self.clock()
        metrics.dispatcher_heartbeat.set(now.timestamp())
        admission = self._admission(now)
        chosen = [self.store.targets[c.key] for c in admission.chosen]
        metrics.targets_due_waiting.set(len(admission.waiting))
        if chosen:
            await asyncio.gather(*(self._dispatch_guarded(v, now) for v in chosen))
        return bool(chosen and admission.waiting and len(self.store.active) < self.settings.max_concurrent)

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
        delay = max(at_least, timedelta(seconds=self.backoff.when(key)))
        self.queue.add_after(("due", key), delay.total_seconds())

    async def _failed_create(self, view: TargetView, now: datetime, message: str) -> None:
        await post_event(self.kube, view, reason="FailedCreate", warning=True, now=now, message=message)

    async def dispatch(self, view: TargetView, now: datetime) -> None:
        async with self.locks.of(view.key):
            if (
                not self.leading()
                or self.store.targets.get(view.key) is not view
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
                    await self._failed_create(view, now, f"could not create Job {name}: {e.message}")
                    self._retry_dispatch(view.key, now, at_least=self.policy.backoff_base)
                    return
                created = await self.kube.get(f"{path}/{name}")
                owner: dict[str, Any] = next(
                    (o for o in created["metadata"].get("ownerReferences") or [] if o.get("controller")), {}
                )
                if owner.get("uid") != view.uid:
                    self._waiting.discard(view.key)
                    await self._failed_create(view, now, f"Job {name} exists and is not ours")
                    return
                log.info("adopted existing Job %s", name)
            crash_point("after_create")
            self.backoff.forget(view.key)
            job = job_view(created)
            assert job is not None
            view.jobs[job.name] = job
            self._waiting.discard(view.key)
            if not job.terminal:
                self.store.active.add(job.key)
            metrics.active_scrapes.set(len(self.store.active))
            metrics.jobs_created.labels("manual" if manual else "schedule").inc()
            log.info(
                "created Job %s", name, extra={"target": view.key, "job": name, "namespace": view.namespace}
            )
            metrics.dispatch_lag.observe(
                max(0.0, ((job.created or now) - due).total_seconds()) if manual is None else 0.0
            )
            self.mirror.submit(mirror_write(job, view, JobStage.CREATED, self.clock()))
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
