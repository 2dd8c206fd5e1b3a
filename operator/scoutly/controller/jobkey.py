"""The job key: mirror the newest state of one of our Jobs (its claim again while it runs), hand a
finished or deleted Job to the Recorder, and let the dispatcher count the freed slot. It holds the
newest view of each Job with work left: the queue carries keys only, and a Job whose target is not
cached yet has no other home until its key runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from scoutly.controller.jobs import JobPhase, JobView
from scoutly.controller.mirror import JobStage, Mirror
from scoutly.controller.recorder import Recorder, mirror_write
from scoutly.controller.state import TargetView
from scoutly.controller.store import Store, TargetLocks


class JobReconciler:
    def __init__(
        self,
        *,
        mirror: Mirror,
        clock: Callable[[], datetime],
        store: Store,
        locks: TargetLocks,
        recorder: Recorder,
        view_for: Callable[[JobView], Awaitable[TargetView | None]],
        leading: Callable[[], bool],
        enqueue: Callable[[str], None],
        reconcile_soon: Callable[[str], None],
        wake: Callable[[], None],
    ) -> None:
        self._mirror = mirror
        self._clock = clock
        self._store = store
        self._locks = locks
        self._recorder = recorder
        self._view_for = view_for  # the intake's: the target's view, read from the API when not cached
        self._leading = leading
        self._enqueue = enqueue  # the Job's key
        self._reconcile_soon = reconcile_soon  # the target's key
        self._wake = wake  # a dispatcher pass
        self._pending: dict[str, JobView] = {}

    def soon(self, job: JobView) -> None:
        """Reconcile the Job from the work queue (its newest state: events in between fold into one)."""
        self._pending[job.key] = job
        self._enqueue(job.key)

    def hold(self, job: JobView) -> None:
        """Reconcile the Job again, keeping a newer event's view if one is waiting (take_over)."""
        self._pending.setdefault(job.key, job)
        self._enqueue(job.key)

    def forget(self, key: str) -> None:
        """The Job is gone."""
        self._pending.pop(key, None)

    def pending(self) -> int:
        """Jobs with work left."""
        return len(self._pending)

    async def reconcile(self, key: str) -> None:
        first = self._pending.get(key)
        if first is None:
            return
        async with self._locks.of(first.target):
            job = self._pending.get(key)  # a newer event may have come while we waited
            if job is None:
                return
            view = await self._view_for(job)
            if view is not None:
                self._store.cache_job(view, job)
            if self._leading():
                if job.phase is JobPhase.RUNNING and not job.deleting:
                    # its claim again: lost when the operator crashed right after creating the Job (the
                    # mirror skips it when stored already)
                    self._mirror.submit(mirror_write(job, view, JobStage.CREATED, self._clock()))
                if job.terminal or job.deleting:
                    await self._recorder.finish(job, view)
                elif view is not None:
                    self._reconcile_soon(view.key)
            if self._recorder.step(key) is None and self._pending.get(key) is job:
                del self._pending[key]
        self._wake()
