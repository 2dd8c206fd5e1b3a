"""Mirror Job outcomes to MongoDB without ever blocking scheduling on it.

Writes go through a bounded backlog keyed by `<namespace>/<Job name>` (a newer write for a Job replaces an older one:
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
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from scoutly.store import companies, jobqueues
from scoutly.store.mongo import Database

log = logging.getLogger("scoutly.mirror")


class JobStage(IntEnum):
    """What the controller writes of a Job; each stage is one forward-only write."""

    CREATED = 0  # jobqueues `processing` (the claim); also for a Job found running after a restart
    SUCCEEDED = 2  # `completed`, companies.lastSuccessfulScrape moves forward
    FAILED = 3  # `failed` with the scrape's own errorMessage

    @property
    def terminal(self) -> bool:
        return self >= JobStage.SUCCEEDED


Resolve = Callable[[Database, str], Awaitable[ObjectId | None]]
Wrote = Callable[[ObjectId, datetime], None]


async def resolve_company(db: Database, ref: str) -> ObjectId | None:
    found = await companies.resolve(db, ref)
    return found.oid if found is not None else None


@dataclass
class MirrorWrite:
    job_name: str
    namespace: str
    target: str
    company_ref: str | None  # the target's spec.companyId: hex _id or companyID slug
    created_at: datetime
    stage: JobStage
    at: datetime
    retries: int = 0
    error: str | None = None
    reason: str | None = None
    result: dict[str, Any] | None = None
    scheduled_for: datetime | None = None

    async def apply(self, db: Database, *, company: ObjectId, now: datetime, wrote: Wrote) -> None:
        job = jobqueues.JobRef(
            namespace=self.namespace,
            job_name=self.job_name,
            target=self.target,
            company=company,
            created_at=self.created_at,
            scheduled_for=self.scheduled_for,
        )
        if self.stage is JobStage.CREATED:
            await jobqueues.claim(db, job=job, now=now)
        else:
            ok = self.stage is JobStage.SUCCEEDED
            await jobqueues.mark_finished(
                db,
                job=job,
                status=jobqueues.QueueStatus.COMPLETED if ok else jobqueues.QueueStatus.FAILED,
                at=self.at,
                retries=self.retries,
                now=now,
                error_message=self.error,
                reason=self.reason,
                result=self.result,
            )
            if ok:
                wrote(company, self.at)  # before the write: a read of it is then never taken for an edit
                await companies.set_last_successful_scrape(db, company=company, at=self.at, now=now)


class Mirror:
    """Backlogged MongoDB writer. `db` None means mirroring is off (acknowledges at once).

    A write for a target without a company of the app (`company_ref` unset or naming no company) is
    acknowledged without a write: the app's queue documents need a companyId."""

    def __init__(
        self,
        db: Database | None,
        *,
        max_backlog: int = 50_000,
        on_backlog: Callable[[int], None] | None = None,
        on_drop: Callable[[], None] | None = None,
        resolve: Resolve = resolve_company,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.max_backlog = max_backlog
        self._backlog: OrderedDict[str, MirrorWrite] = OrderedDict()
        self._done: dict[str, asyncio.Event] = {}
        self._wake = asyncio.Event()
        self._on_backlog = on_backlog or (lambda n: None)
        self._on_drop = on_drop or (lambda: None)
        self._resolve = resolve
        self._clock = clock or (lambda: datetime.now(UTC))
        self._companies: dict[str, ObjectId] = {}  # company_ref -> _id, once resolved
        self._claimed: set[str] = set()  # Jobs whose claim is stored: a later one would be a no-op
        self.wrote: Wrote = lambda oid, at: None  # the company feed is told of its own writes
        self.healthy = db is not None
        self.dropped = 0
        self.without_company = 0

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    @staticmethod
    def _key(namespace: str, job_name: str) -> str:
        return f"{namespace}/{job_name}"

    def submit(self, write: MirrorWrite) -> asyncio.Event:
        """Queue a write; the returned event is set once it (or a later write for the same Job) is stored."""
        key = self._key(write.namespace, write.job_name)
        if write.stage is JobStage.CREATED and key in self._claimed:
            stored = asyncio.Event()  # not the Job's shared event: its finish may still be waiting
            stored.set()
            return stored
        done = self._done.setdefault(key, asyncio.Event())
        if self.db is None:
            done.set()
            return done
        old = self._backlog.get(key)
        if old is None or write.stage >= old.stage or (write.stage.terminal and old.stage.terminal):
            self._backlog[key] = write
            self._backlog.move_to_end(key)
        while len(self._backlog) > self.max_backlog:
            # only non-terminal writes are dropped: terminal ones are re-derived from the Jobs we hold
            victim = next((k for k, w in self._backlog.items() if not w.stage.terminal), None)
            if victim is None:
                break
            del self._backlog[victim]
            self.dropped += 1
            self._on_drop()
        self._on_backlog(len(self._backlog))
        self._wake.set()
        return done

    async def _company(self, db: Database, ref: str | None) -> ObjectId | None:
        if not ref:
            return None
        # an _id spelled out is used as it is (the app's documents only need a companyId of the right
        # type); a companyID slug is looked up once
        oid = self._companies.get(ref) or companies.oid_of(ref)
        if oid is None:
            oid = await self._resolve(db, ref)
            if oid is not None:
                self._companies[ref] = oid
        return oid

    async def _apply(self, db: Database, write: MirrorWrite) -> None:
        company = await self._company(db, write.company_ref)
        if company is None:
            self.without_company += 1
            log.debug("no jobqueues document for Job %s: no company of the app", write.job_name)
            return
        await write.apply(db, company=company, now=self._clock(), wrote=self.wrote)

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
                key, write = next(iter(self._backlog.items()))
                try:
                    await self._apply(self.db, write)
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
                if self._backlog.get(key) is write:  # a newer write for the same Job may have arrived
                    del self._backlog[key]
                    self._done.pop(key, asyncio.Event()).set()
                    if write.stage is JobStage.CREATED:
                        self._claimed.add(key)
                self._on_backlog(len(self._backlog))

    def forget(self, namespace: str, job_name: str) -> None:
        key = self._key(namespace, job_name)
        self._done.pop(key, None)
        self._claimed.discard(key)
