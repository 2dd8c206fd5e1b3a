"""The app's scrape history, `companies.lastSuccessfulScrape`, as the controller schedules from it.

FerretDB has no change streams, so the controller reads `{_id, companyID, lastSuccessfulScrape}` of
every company once at start and then every `SCOUTLY_COMPANY_POLL_INTERVAL` (one narrow cursor; 10,000
companies cost about ... on FerretDB, docs/performance.md). What it reports:

- `loaded`: the first read, before the first dispatch: a new target (or one re-created) takes its last
  scrape from its company, so a company the app scraped 2 h ago is not scraped again at once.
- a change of a company's value that the operator did not write itself: an edit (the app's worker
  scraped it, someone changed the document) that moves the schedule of the company's targets at once.
- a company seen for the first time after the first read.

The values the operator writes itself (`wrote`) are not edits: two targets naming one company keep
their own schedules. A MongoDB outage only delays the next read; scheduling goes on from the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId
from pymongo.errors import PyMongoError

from scoutly.store import companies
from scoutly.store.mongo import Database

log = logging.getLogger("scoutly.controller")


@dataclass(frozen=True)
class CompanyChange:
    oid: ObjectId
    at: datetime | None
    first_seen: bool  # a company that appeared after the first read (else: an edit)


OnChanges = Callable[[list[CompanyChange]], None]


class CompanyFeed:
    def __init__(
        self,
        db: Database,
        *,
        interval: float,
        on_changes: OnChanges,
        on_loaded: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.interval = interval
        self.on_changes = on_changes
        self.on_loaded = on_loaded
        self.loaded = False
        self.reads = 0
        self._at: dict[ObjectId, datetime | None] = {}
        self._slugs: dict[str, ObjectId] = {}
        self._ours: dict[ObjectId, deque[datetime]] = defaultdict(lambda: deque(maxlen=16))
        self._kick = asyncio.Event()

    # -- lookups ------------------------------------------------------------------------------------
    def oid_for(self, ref: str | None) -> ObjectId | None:
        """The company a target's `companyId` names: its `_id` spelled out, or a known `companyID`."""
        if not ref:
            return None
        return companies.oid_of(ref) or self._slugs.get(ref)

    def key(self, ref: str | None) -> str | None:
        """A stable key of the company a target names (targets with one key are one company)."""
        if not ref:
            return None
        oid = self.oid_for(ref)
        return str(oid) if oid is not None else f"ref:{ref}"

    def last_scrape(self, ref: str | None) -> tuple[bool, datetime | None]:
        """(known, lastSuccessfulScrape) of the company `ref` names, as last read."""
        oid = self.oid_for(ref)
        if oid is None or oid not in self._at:
            return False, None
        return True, self._at[oid]

    def wrote(self, oid: ObjectId, at: datetime) -> None:
        """The operator is writing `at` itself: when it shows up in a read it is no edit."""
        self._ours[oid].append(at)

    def kick(self) -> None:
        """Read again soon (a target names a company not seen yet)."""
        self._kick.set()

    # -- reading ------------------------------------------------------------------------------------
    async def refresh(self) -> list[CompanyChange]:
        """One read; returns (and reports) what changed since the previous one."""
        rows = await companies.last_scrapes(self.db)
        self.reads += 1
        changes: list[CompanyChange] = []
        for row in rows:
            if row.slug:
                self._slugs[row.slug] = row.oid
            missing = row.oid not in self._at
            prev = self._at.get(row.oid)
            self._at[row.oid] = row.at
            if not self.loaded:
                continue
            if missing:
                changes.append(CompanyChange(row.oid, row.at, first_seen=True))
            elif prev != row.at and (row.at is None or row.at not in self._ours.get(row.oid, ())):
                changes.append(CompanyChange(row.oid, row.at, first_seen=False))
        first = not self.loaded
        self.loaded = True
        if first:
            self.on_loaded()
        elif changes:
            self.on_changes(changes)
        return changes

    async def run(self) -> None:
        """Read every `interval` seconds (sooner when kicked); errors are logged, the loop goes on."""
        failed = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=self.interval)
            self._kick.clear()
            try:
                await self.refresh()
                if failed:
                    log.info("reading companies.lastSuccessfulScrape works again")
                failed = False
            except PyMongoError as e:
                if not failed:
                    log.warning("reading companies.lastSuccessfulScrape failed (retried): %s", e)
                failed = True


class CompanyTargets:
    """Which targets name which company (company keys from `CompanyFeed.key`). Targets of one company
    are one company to the app: one active scrape at a time, and its history feeds them all."""

    def __init__(self) -> None:
        self._targets: dict[str, set[str]] = defaultdict(set)
        self._of: dict[str, str] = {}

    def assign(self, target: str, company: str | None) -> None:
        old = self._of.get(target)
        if old == company:
            return
        self.drop(target)
        if company is not None:
            self._of[target] = company
            self._targets[company].add(target)

    def drop(self, target: str) -> None:
        old = self._of.pop(target, None)
        if old is not None:
            self._targets[old].discard(target)
            if not self._targets[old]:
                del self._targets[old]

    def of(self, target: str) -> str | None:
        return self._of.get(target)

    def targets(self, company: str) -> set[str]:
        return set(self._targets.get(company, ()))

    def companies(self) -> list[str]:
        return list(self._targets)


def takes_company_value(own: Iterable[datetime | None], at: datetime | None) -> list[bool]:
    """Pure: which of a company's targets (their own last scrapes) take the company's `at`: all, when it
    is newer than every one of theirs (someone else scraped the company: the app's worker, or an
    operator that lost its status); else those without one."""
    mine = list(own)
    if at is None:
        return [False] * len(mine)
    newest = max((t for t in mine if t is not None), default=None)
    return [newest is None or at > newest or t is None for t in mine]
