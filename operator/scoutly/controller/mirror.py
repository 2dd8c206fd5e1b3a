"""Mirror Job outcomes to MongoDB without ever blocking scheduling on it.

Writes go through a bounded backlog keyed by Job name (a newer write for a Job replaces an older one:
every write is a forward-only upsert, so the latest state is all that matters). A background task
drains it with backoff while MongoDB is down. Nothing is lost on a crash either: the controller keeps
its finalizer on a finished Job until that Job's terminal write is acknowledged here, so after a
restart the write is derived again from the Job.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.errors import PyMongoError

from scoutly.store import companies, jobqueues
from scoutly.store.mongo import Database

log = logging.getLogger("scoutly.mirror")


@dataclass
class MirrorWrite:
    job_name: str
    target: str
    company_id: str | None
    created_at: datetime
    status: jobqueues.QueueStatus
    at: datetime
    attempts: int = 0
    error: str | None = None
    reason: str | None = None
    result: dict[str, Any] | None = None
    scheduled_for: datetime | None = None

    async def apply(self, db: Database) -> None:
        s = jobqueues.QueueStatus
        if self.status is s.PENDING:
            await jobqueues.mark_pending(
                db,
                job_name=self.job_name,
                target=self.target,
                company_id=self.company_id,
                created_at=self.created_at,
                scheduled_for=self.scheduled_for,
            )
        elif self.status is s.PROCESSING:
            await jobqueues.mark_processing(
                db,
                job_name=self.job_name,
                target=self.target,
                company_id=self.company_id,
                created_at=self.created_at,
                at=self.at,
                attempts=self.attempts,
                scheduled_for=self.scheduled_for,
            )
        else:
            await jobqueues.mark_finished(
                db,
                job_name=self.job_name,
                target=self.target,
                company_id=self.company_id,
                created_at=self.created_at,
                status=self.status,
                at=self.at,
                attempts=self.attempts,
                error=self.error,
                reason=self.reason,
                result=self.result,
                scheduled_for=self.scheduled_for,
            )
            if self.status is s.COMPLETED and self.company_id:
                await companies.set_last_successful_scrape(db, company_id=self.company_id, at=self.at)


_RANK = {
    jobqueues.QueueStatus.PENDING: 0,
    jobqueues.QueueStatus.PROCESSING: 1,
    jobqueues.QueueStatus.COMPLETED: 2,
    jobqueues.QueueStatus.FAILED: 2,
}


class Mirror:
    """Backlogged MongoDB writer. `db` None means mirroring is off (acknowledges at once)."""

    def __init__(
        self,
        db: Database | None,
        *,
        max_backlog: int = 50_000,
        on_backlog: Callable[[int], None] | None = None,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.max_backlog = max_backlog
        self._backlog: OrderedDict[str, MirrorWrite] = OrderedDict()
        self._done: dict[str, asyncio.Event] = {}
        self._wake = asyncio.Event()
        self._on_backlog = on_backlog or (lambda n: None)
        self._on_drop = on_drop or (lambda: None)
        self.healthy = db is not None
        self.dropped = 0

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    def submit(self, write: MirrorWrite) -> asyncio.Event:
        """Queue a write; the returned event is set once it (or a later write for the same Job) is stored."""
        done = self._done.setdefault(write.job_name, asyncio.Event())
        if self.db is None:
            done.set()
            return done
        old = self._backlog.get(write.job_name)
        if old is None or _RANK[write.status] >= _RANK[old.status]:
            self._backlog[write.job_name] = write
            self._backlog.move_to_end(write.job_name)
        while len(self._backlog) > self.max_backlog:
            # only non-terminal writes are dropped: terminal ones are re-derived from the Jobs we hold
            victim = next((k for k, w in self._backlog.items() if _RANK[w.status] < 2), None)
            if victim is None:
                break
            del self._backlog[victim]
            self.dropped += 1
            self._on_drop()
        self._on_backlog(len(self._backlog))
        self._wake.set()
        return done

    async def run(
        self,
        *,
        retry_min: float = 0.5,
        retry_max: float = 15.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        delay = retry_min
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._backlog and self.db is not None:
                name, write = next(iter(self._backlog.items()))
                try:
                    await write.apply(self.db)
                except PyMongoError as e:
                    if self.healthy:
                        log.warning("MongoDB write failed, backlog %d: %s", len(self._backlog), e)
                    self.healthy = False
                    await sleep(delay)
                    delay = min(delay * 2, retry_max)
                    continue
                delay = retry_min
                if not self.healthy:
                    log.info("MongoDB reachable again, draining backlog of %d", len(self._backlog))
                self.healthy = True
                if self._backlog.get(name) is write:  # a newer write for the same Job may have arrived
                    del self._backlog[name]
                    self._done.pop(name, asyncio.Event()).set()
                self._on_backlog(len(self._backlog))

    def forget(self, job_name: str) -> None:
        self._done.pop(job_name, None)
