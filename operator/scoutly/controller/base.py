"""The controller's wiring: the work queue, and the objects the keys are routed to, each built with the
collaborators it uses (Store, TargetLocks, StatusWriter, TargetReconciler, JobReconciler, Recorder,
Dispatcher, AppHistory); the routing of each key and the counting of its errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from scoutly import metrics
from scoutly.api import models as m
from scoutly.config import OperatorSettings
from scoutly.controller.apphistory import AppHistory
from scoutly.controller.companies import CompanyFeed
from scoutly.controller.dispatch import DISPATCH, Dispatcher, QueueKey
from scoutly.controller.jobkey import JobReconciler
from scoutly.controller.jobs import (
    JobView,
    image_error,
)
from scoutly.controller.mirror import Mirror
from scoutly.controller.recorder import Recorder
from scoutly.controller.state import Policy, TargetView
from scoutly.controller.statuswriter import StatusWriter
from scoutly.controller.store import Store, TargetLocks
from scoutly.controller.targetkey import TargetReconciler
from scoutly.controller.workqueue import Backoff, RetryLater, Timers, WorkQueue
from scoutly.kube.client import KubeClient, error_kind

log = logging.getLogger("scoutly.controller")


Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class QueueMetrics:
    """The work queue's observer: client-go's workqueue metrics, by key kind."""

    def depth(self, key: QueueKey, delta: int) -> None:
        metrics.workqueue_depth.labels(key[0]).inc(delta)

    def started(self, key: QueueKey, waited: float) -> None:
        metrics.workqueue_queue_duration.labels(key[0]).observe(waited)

    def finished(self, key: QueueKey, took: float) -> None:
        metrics.workqueue_work_duration.labels(key[0]).observe(took)

    def retried(self, key: QueueKey) -> None:
        metrics.workqueue_retries.labels(key[0]).inc()


def lane(key: QueueKey) -> int:
    """The work queue's lanes. First the keys whose handler makes no API call: a due time firing, a
    dispatcher pass (whose creates are the critical path of a wave). Then the Jobs: a finished Job holds
    up its target's next run until its outcome is recorded. Last the target keys, the status writes and
    Events: a target's later changes fold into one write while it waits."""
    if key[0] == "due" or key == DISPATCH:
        return 0
    return 1 if key[0] == "job" else 2


class ControllerBase:
    """The queue, the objects its keys go to, and the controller's public surface over them."""

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
        self.store = Store()
        self.locks = TargetLocks()
        # every key's work: status writes, Job handling and its retries, due times (a delayed add each)
        self.queue: WorkQueue[QueueKey] = WorkQueue(
            self._handle_queued,
            workers=settings.workers,
            backoff=Backoff(base=0.5, cap=300.0),
            on_error=self._queue_error,
            timers=timers,
            lane=lane,
            observer=QueueMetrics(),
        )
        self.status_writer = StatusWriter(kube, self.policy, clock)
        # the job key's finishing steps; a Job waiting for MongoDB comes back as its key
        self.recorder = Recorder(
            settings=settings,
            kube=kube,
            mirror=mirror,
            clock=clock,
            status=self.status_writer,
            requeue=lambda key: self.queue.add(("job", key)),
        )
        self.target_reconciler = TargetReconciler(
            kube=kube,
            mirror=mirror,
            clock=clock,
            store=self.store,
            locks=self.locks,
            status=self.status_writer,
            leading=lambda: self.leading(),
        )
        self.dispatcher = Dispatcher(
            settings=settings,
            kube=kube,
            mirror=mirror,
            clock=clock,
            policy=self.policy,
            store=self.store,
            locks=self.locks,
            queue=self.queue,
            leading=lambda: self.leading(),
            reconcile_soon=self._reconcile_soon,
            parallelism=dispatch_parallelism,
        )
        self.job_reconciler = JobReconciler(
            mirror=mirror,
            clock=clock,
            store=self.store,
            locks=self.locks,
            recorder=self.recorder,
            view_for=self._view_for,
            leading=lambda: self.leading(),
            enqueue=lambda key: self.queue.add(("job", key)),
            reconcile_soon=self._reconcile_soon,
            wake=self.dispatcher.wake,
        )
        self.app_history = AppHistory(
            store=self.store,
            reconcile_soon=self._reconcile_soon,
            schedule=self.dispatcher.schedule,
            wake=self.dispatcher.wake,
        )
        self.ready = asyncio.Event()
        self.last_event: float = 0.0
        self.target_events = 0
        self.leading: Callable[[], bool] = lambda: True  # replaced by the Lease elector in HA mode
        metrics.max_concurrent.set(settings.max_concurrent)

    @property
    def dispatch_backoff(self) -> Backoff[str]:
        return self.dispatcher.backoff

    @property
    def heartbeat_interval(self) -> float:
        return self.dispatcher.heartbeat_interval

    @heartbeat_interval.setter
    def heartbeat_interval(self, seconds: float) -> None:
        self.dispatcher.heartbeat_interval = seconds

    async def dispatch_pass(self) -> bool:
        return await self.dispatcher.dispatch_pass()

    @property
    def targets(self) -> dict[str, TargetView]:
        return self.store.targets

    @property
    def active(self) -> set[str]:
        return self.store.active

    @property
    def companies(self) -> CompanyFeed | None:
        return self.store.companies

    @companies.setter
    def companies(self, feed: CompanyFeed | None) -> None:
        self.store.companies = feed

    def _admit(self, spec: m.ScrapeTargetSpec) -> str | None:
        """The operator's own policy on a valid spec (a refused image: InvalidSpec, and no Job)."""
        return image_error(spec, self.settings)

    def _touch(self) -> None:
        self.last_event = self.clock().timestamp()
        metrics.last_event_timestamp.set(self.last_event)

    def _reconcile_soon(self, key: str) -> None:
        """Reconcile the target from the work queue: write the derived status when it differs, post the
        Events its watch events decided. Not inside the event handler: kopf holds each event's state until
        its handler returns, and at start-up 10,000 handlers waiting on their status writes held hundreds
        of MiB (docs/performance.md). The status is derived when the reconcile runs, so later events
        fold into it, and for `status_batch` they wait to be folded (the first change's wait wins)."""
        self.queue.add_after(("target", key), self.settings.status_batch.total_seconds())

    def _queue_error(self, key: QueueKey, e: Exception) -> None:
        if isinstance(e, RetryLater):
            return  # counted where it failed
        kind, name = key
        step = self.recorder.step(name) if kind == "job" else None
        stage = "finish" if step is not None else kind
        metrics.reconcile_errors.labels(stage, error_kind(e)).inc()
        log.warning(
            "%s %s failed%s, retrying with backoff: %s",
            kind,
            name,
            f" at {step}" if step is not None else "",
            e if str(e) else type(e).__name__,
        )

    # the intake's, defined by reconcile.py
    async def _view_for(self, job: JobView) -> TargetView | None:
        raise NotImplementedError

    async def _handle_queued(self, key: QueueKey) -> None:
        kind, name = key
        if kind == "due":
            self.dispatcher.on_due(name)
        elif kind == "job":
            await self.job_reconciler.reconcile(name)
        elif kind == "target":
            await self.target_reconciler.reconcile(name)
        elif key == DISPATCH:
            await self.dispatcher.run()
