"""The target key: write the target's status diff, then post the Events its watch events decided (best
effort: a failed post is logged, not retried); a deleted target's open jobqueues documents fail."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from scoutly.controller.events import post_event
from scoutly.controller.mirror import Mirror
from scoutly.controller.statuswriter import StatusWriter
from scoutly.controller.store import Store, TargetLocks
from scoutly.controller.workqueue import RetryLater
from scoutly.kube.client import KubeClient
from scoutly.store import jobqueues

log = logging.getLogger("scoutly.controller")


class TargetReconciler:
    def __init__(
        self,
        *,
        kube: KubeClient,
        mirror: Mirror,
        clock: Callable[[], datetime],
        store: Store,
        locks: TargetLocks,
        status: StatusWriter,
        leading: Callable[[], bool],
    ) -> None:
        self._kube = kube
        self._mirror = mirror
        self._clock = clock
        self._store = store
        self._locks = locks
        self._status = status
        self._leading = leading

    async def reconcile(self, key: str) -> None:
        if not self._leading():
            return
        view = self._store.targets.get(key)
        if view is None:
            await self._deleted(key)
            return
        async with self._locks.of(key):
            if not await self._status.sync(view):
                raise RetryLater(key)
            while view.outbox:  # best effort: a failed post is logged, not retried
                await post_event(self._kube, view, now=self._clock(), **view.outbox.pop(0))

    async def _deleted(self, key: str) -> None:
        """Jobs go with the target (ownerReference, garbage collector); their open jobqueues documents
        fail here, and each Job's own deletion records it too (whichever comes first)."""
        if self._mirror.db is not None:
            try:
                await jobqueues.fail_open(
                    self._mirror.db,
                    target=key,
                    at=self._clock(),
                    reason="TargetDeleted",
                    error="the ScrapeTarget was deleted",
                )
            except Exception as e:  # MongoDB down: each Job's deletion re-derives its FAILED write
                log.warning("could not fail open jobqueues of %s: %s", key, e)
