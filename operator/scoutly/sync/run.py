"""I/O of the preference sync: read MongoDB (store.preferences), list targets, apply the plan.

Writes are server-side apply with field manager `scoutly-sync` and only the fields the sync owns, so a
user's `kubectl edit` of anything else survives. Targets whose owned fields already match cost no write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from scoutly.api import models as m
from scoutly.kube.client import ApiError, KubeClient, ns_path
from scoutly.store import preferences
from scoutly.store.mongo import Database
from scoutly.sync.plan import FIELD_MANAGER, Plan, plan_sync

log = logging.getLogger("scoutly.sync")

DEFAULT_NAMESPACE = "scoutly"
CONCURRENCY = 16


@dataclass
class SyncReport:
    namespace: str
    dry_run: bool
    plan: Plan
    errors: list[dict[str, str]] = field(default_factory=list)  # failed writes, per target
    writes: int = 0
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {**self.plan.counts(), "errors": len(self.errors), "writes": self.writes}

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "dryRun": self.dry_run,
            "counts": self.counts(),
            "actions": [a.as_dict() for a in self.plan.actions],
            "problems": [p.as_dict() for p in self.plan.problems],
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        c = self.counts()
        return ", ".join(f"{k} {v}" for k, v in c.items()) + f" in {self.seconds:.2f}s"


async def list_targets(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    return await kube.list_all(ns_path(m.API_VERSION, namespace, m.PLURAL))


async def run_sync(
    *, db: Database, kube: KubeClient, namespace: str = DEFAULT_NAMESPACE, dry_run: bool = False
) -> SyncReport:
    """One reconcile of MongoDB preferences into ScrapeTargets. Raises only on fatal errors (reads)."""
    started = time.monotonic()
    companies, users, prefs = await asyncio.gather(
        preferences.load_companies(db), preferences.load_users(db), preferences.load_preferences(db)
    )
    targets = await list_targets(kube, namespace)
    plan = plan_sync(companies=companies, users=users, preferences=prefs, targets=targets)
    report = SyncReport(namespace=namespace, dry_run=dry_run, plan=plan)
    if not dry_run:
        sem = asyncio.Semaphore(CONCURRENCY)

        async def apply(action: Any) -> None:
            async with sem:
                try:
                    await kube.apply(
                        ns_path(m.API_VERSION, namespace, m.PLURAL, action.name),
                        action.body(namespace),
                        field_manager=FIELD_MANAGER,
                        force=True,  # only the sync's own fields are in the body
                    )
                    report.writes += 1
                except ApiError as e:
                    report.errors.append({"target": action.name, "error": str(e)})

        await asyncio.gather(*(apply(a) for a in plan.actions))
    report.seconds = time.monotonic() - started
    return report


def print_report(report: SyncReport, out: TextIO, *, fmt: str = "table") -> None:
    if fmt == "json":
        out.write(json.dumps(report.as_dict(), indent=2) + "\n")
        return
    verb = "would" if report.dry_run else "did"
    out.write(f"sync into namespace {report.namespace} ({'dry run' if report.dry_run else 'applied'})\n")
    rows = [("ACTION", "TARGET", "COMPANY ID", "REASON")]
    rows += [(a.kind, a.name, a.company_id, a.reason) for a in report.plan.actions]
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
        for a in report.plan.actions:
            out.write(f"--- {a.kind} {a.name} ({verb})\n")
            for line in a.diff:
                out.write(f"    {line}\n")
    if report.plan.problems:
        out.write(f"problems ({len(report.plan.problems)}):\n")
        for p in report.plan.problems:
            out.write(f"  {p.record}: {p.kind}: {p.message}\n")
    for e in report.errors:
        out.write(f"error: {e['target']}: {e['error']}\n")
    out.write(report.summary() + "\n")


async def sync_forever(
    *,
    db: Database,
    kube: KubeClient,
    namespace: str,
    interval: float,
    first_delay: float = 0.0,
    leading: Callable[[], bool] = lambda: True,
) -> None:
    """The in-operator mode: a sync every `interval` seconds; failures are logged, the loop goes on.
    With leader election only the Lease holder syncs."""
    await asyncio.sleep(first_delay)
    while True:
        if not leading():
            await asyncio.sleep(interval)
            continue
        try:
            report = await run_sync(db=db, kube=kube, namespace=namespace)
            level = logging.WARNING if report.errors else logging.INFO
            log.log(level, "preference sync: %s", report.summary())
            for p in report.plan.problems:
                log.debug("preference sync problem: %s: %s: %s", p.record, p.kind, p.message)
        except Exception as e:  # MongoDB or API server down: try again next interval
            log.warning("preference sync failed: %s", e)
        await asyncio.sleep(interval)


async def main(
    *,
    mongodb_uri: str,
    mongodb_database: str,
    kubeconfig: str | None,
    namespace: str,
    dry_run: bool,
    fmt: str,
    out: TextIO,
) -> int:
    """`scoutly sync`: exit 0 unless reads or writes failed (bad input records are reported, not fatal)."""
    from scoutly.store.mongo import connect, database

    client = connect(mongodb_uri)
    kube = await KubeClient.connect(kubeconfig=kubeconfig, user_agent="scoutly-sync")
    try:
        report = await run_sync(
            db=database(client, mongodb_uri, mongodb_database),
            kube=kube,
            namespace=namespace,
            dry_run=dry_run,
        )
    finally:
        await kube.close()
        await client.close()
    print_report(report, out, fmt=fmt)
    return 1 if report.errors else 0  # failed writes fail the run; bad input records do not
