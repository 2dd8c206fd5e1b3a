"""The controller's caches, written by the watch-event intake only: targets and their Jobs as the watches
last showed them, Jobs seen before their target, our Jobs pending or running, and the company index; and
the per-target locks that keep a cache update from replacing a view while a reconcile or a dispatch of
that target is between API calls (they write to the view they hold)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from scoutly.controller.companies import CompanyFeed, CompanyTargets
from scoutly.controller.jobs import JobPhase, JobView, target_label
from scoutly.controller.state import TargetView


class Store:
    def __init__(self) -> None:
        self.targets: dict[str, TargetView] = {}
        self.orphan_jobs: dict[str, dict[str, JobView]] = defaultdict(dict)  # jobs seen before their target
        self.active: set[str] = set()  # namespace/name of our Jobs pending or running
        # the app's companies.lastSuccessfulScrape (controller/companies.py); None without MongoDB
        self.companies: CompanyFeed | None = None
        self.by_company = CompanyTargets()

    def cache_job(self, view: TargetView, job: JobView) -> None:
        previous = view.jobs.get(job.name)
        if previous is not None and previous.phase is JobPhase.RUNNING and job.phase is JobPhase.PENDING:
            job.phase = JobPhase.RUNNING  # a pod between running and counted: never go back to Pending
        view.jobs[job.name] = job
        if job.terminal or job.deleting:
            view.blocked.pop(job.name, None)

    def view_by_label(self, namespace: str, label: str | None) -> TargetView | None:
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

    def company_key(self, view: TargetView) -> str | None:
        ref = view.spec.companyId if view.spec else None
        if not ref:
            return None
        return self.companies.key(ref) if self.companies is not None else f"ref:{ref}"

    def index_company(self, view: TargetView) -> None:
        self.by_company.assign(view.key, self.company_key(view))

    def company_busy(self, view: TargetView) -> bool:
        """Another target of the same company has a Job running (or one whose outcome is unrecorded):
        like the app's own guard, one company is scraped by one Job at a time."""
        key = self.by_company.of(view.key)
        for other in self.by_company.targets(key) if key is not None else ():
            o = self.targets.get(other)
            if other != view.key and o is not None and (o.active_jobs or o.unrecorded_jobs):
                return True
        return False

    def views_of_company(self, key: str) -> list[TargetView]:
        return [v for k in self.by_company.targets(key) if (v := self.targets.get(k)) is not None]


class TargetLocks:
    """One lock per target, dropped with the target."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def of(self, key: str) -> asyncio.Lock:
        return self._locks[key]

    def prune(self, key: str) -> None:
        lock = self._locks.get(key)
        if lock is not None and not lock.locked():
            del self._locks[key]
