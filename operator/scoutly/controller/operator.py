"""kopf wiring and `scoutly operator run`.

Only watch-event handlers and one in-memory index are registered: kopf then stores nothing on the
objects (no progress annotations, no finalizers on targets), so an idle cluster costs no writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import kopf
from pymongo.errors import PyMongoError

from scoutly import metrics
from scoutly.api import models as m
from scoutly.config import OperatorSettings
from scoutly.controller.companies import CompanyFeed
from scoutly.controller.core import Controller
from scoutly.controller.http import make_app, serve
from scoutly.controller.jobs import LABEL_MANAGED_BY, MANAGED_BY
from scoutly.controller.leader import LeaseElector
from scoutly.controller.mirror import Mirror
from scoutly.kube.client import ApiError, KubeClient, error_kind
from scoutly.store import jobqueues
from scoutly.store.dblog import DbLogHandler
from scoutly.store.mongo import connect, database, ensure_indexes

log = logging.getLogger("scoutly.operator")
JOB_LABELS = {LABEL_MANAGED_BY: MANAGED_BY}
JOB_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"


def configure_kopf(settings: kopf.OperatorSettings) -> None:
    settings.posting.enabled = False  # we post few, meaningful Events ourselves
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # kopf lists before it watches, unpaged by default: one response of every target (10,000: tens of
    # MB of JSON, parsed at once) whose memory stays mapped; pages of 500 cut the steady RSS after a
    # restart with 10,000 targets by ~37 MiB (docs/performance.md)
    settings.watching.chunk_size = 500
    settings.scanning.disabled = True  # no cluster-wide CRD/namespace scans: fewer RBAC needs
    settings.networking.request_timeout = 60
    # filtered by the API server: the handler's `labels=` alone filters in the client, after every
    # Job event in the cluster has streamed in (a batch-heavy cluster's biggest cost)
    settings.watching.label_selectors["batch", "v1", "jobs"] = JOB_SELECTOR
    settings.watching.label_selectors["", "v1", "pods"] = JOB_SELECTOR  # scrape pods only, not every pod


def build_registry(controller: Controller, kube: KubeClient) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_kopf(settings)

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        # the credentials every other request of ours uses: one path, one place that loads them
        c = await kube.credentials()
        return kopf.ConnectionInfo(
            server=c.server,
            ca_path=c.ca_path,
            insecure=c.insecure,
            scheme="Bearer" if c.token else None,
            token=c.token,
            certificate_path=c.cert_path,
            private_key_path=c.key_path,
        )

    @kopf.on.event(m.GROUP, m.VERSION, m.PLURAL, registry=registry)
    async def target_event(body: kopf.Body, type: str, **_: Any) -> None:
        # no kopf indexes: Controller.prime() listed every target and Job before kopf started
        key = f"{body.metadata.namespace}/{body.metadata.name}"
        try:
            await controller.on_target_event(dict(body), type)
        except Exception as e:  # one bad object must never stop the others
            metrics.reconcile_errors.labels("target", error_kind(e)).inc()
            log.exception("handling %s failed", key)

    @kopf.on.event("batch", "v1", "jobs", labels=JOB_LABELS, registry=registry)
    async def job_event(body: kopf.Body, type: str, **_: Any) -> None:
        try:
            await controller.on_job_event(dict(body), type)
        except Exception as e:
            metrics.reconcile_errors.labels("job", error_kind(e)).inc()
            log.exception("handling Job %s/%s failed", body.metadata.namespace, body.metadata.name)

    @kopf.on.event("", "v1", "pods", labels=JOB_LABELS, registry=registry)
    async def pod_event(body: kopf.Body, **_: Any) -> None:
        try:
            await controller.on_pod_event(dict(body))
        except Exception as e:
            metrics.reconcile_errors.labels("pod", error_kind(e)).inc()
            log.exception("handling pod %s/%s failed", body.metadata.namespace, body.metadata.name)

    return registry


async def _sample_gauges(controller: Controller, interval: float = 15.0) -> None:
    """Gauges that summarise state (targets by phase, overdue, jobqueues by status), sampled off the hot path."""
    while True:
        for phase, count in controller.phases().items():
            metrics.targets.labels(phase).set(count)
        metrics.targets_overdue.set(controller.overdue_count())
        for n, count in controller.failure_streaks(metrics.FAILURE_STREAKS).items():
            metrics.targets_consecutive_failures.labels(str(n)).set(count)
        db = controller.mirror.db
        if db is not None:
            with contextlib.suppress(PyMongoError):
                for status in jobqueues.QueueStatus:
                    n = await db[jobqueues.COLLECTION].count_documents({"status": status.value})
                    metrics.jobqueue_documents.labels(status.value).set(n)
        metrics.mongo_up.set(1 if controller.mirror.healthy else 0)
        await asyncio.sleep(interval)


class DbLogFlusher:
    """The operator's database-backed logger: records of the `scoutly` loggers buffered in a bounded
    DbLogHandler (store/dblog.py) and written to the app's capped `logs` collection as one batch
    document every `interval` (the app's own format and pace: its logger saves one batch per process
    run). Logging never waits on MongoDB: a slow or absent MongoDB only keeps records in the buffer,
    whose overflow is dropped and counted in scoutly_db_log_dropped_total."""

    def __init__(
        self, db: Any, *, capacity: int = 10_000, interval: float = 300.0, max_entries: int = 1000
    ) -> None:
        self.db = db
        self.handler = DbLogHandler(
            "scoutly-operator",
            process_id=f"scoutly-operator-{socket.gethostname()}-{os.getpid()}",
            capacity=capacity,
            max_entries=max_entries,
        )
        self.interval = interval
        self._dropped_seen = 0

    async def flush(self) -> int:
        written = await self.handler.flush_to(self.db, requeue=True)
        metrics.db_log_written.inc(written)
        if self.handler.dropped > self._dropped_seen:
            metrics.db_log_dropped.inc(self.handler.dropped - self._dropped_seen)
            self._dropped_seen = self.handler.dropped
        return written

    async def run(self) -> None:
        logger = logging.getLogger("scoutly")
        logger.addHandler(self.handler)
        try:
            while True:
                await asyncio.sleep(self.interval)
                await self.flush()
        finally:
            logger.removeHandler(self.handler)
            with contextlib.suppress(Exception):  # best effort at shutdown, bounded by the client timeout
                await asyncio.wait_for(self.flush(), timeout=5)


async def _prime(controller: Controller, namespaces: list[str], stop_flag: asyncio.Event | None) -> bool:
    """Controller.prime(), retried while the API server is unreachable; False when told to stop first."""
    delay = 0.5
    while stop_flag is None or not stop_flag.is_set():
        try:
            await controller.prime(namespaces)
            return True
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as e:
            log.warning("listing ScrapeTargets and Jobs failed, retrying in %.1fs: %s", delay, e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    return False


async def _follow_leadership(elector: LeaseElector, controller: Controller) -> None:
    while True:
        await elector.changed.wait()
        elector.changed.clear()
        metrics.leader.set(1 if elector.leader else 0)
        if elector.leader:
            await controller.take_over()


async def run(
    settings: OperatorSettings,
    *,
    stop_flag: asyncio.Event | None = None,
    on_start: Callable[[Controller], None] | None = None,
) -> None:
    """Run the operator until `stop_flag` is set (or forever)."""
    kube = await KubeClient.connect(kubeconfig=settings.kubeconfig)
    db = None
    mongo_client = None
    if settings.mongodb_uri is not None:
        uri = settings.mongodb_uri.get_secret_value()
        mongo_client = connect(uri)
        db = database(mongo_client, uri, settings.mongodb_database)
        try:
            await ensure_indexes(db, jobqueues.INDEXES)
        except PyMongoError as e:  # start anyway: scheduling does not depend on MongoDB
            log.warning("MongoDB not reachable at start-up (mirror writes are queued): %s", e)
    mirror = Mirror(db, on_backlog=metrics.mirror_backlog.set, on_drop=metrics.mirror_dropped.inc)
    controller = Controller(settings, kube, mirror)
    feed = None
    if db is not None:
        feed = CompanyFeed(
            db,
            interval=settings.company_poll_interval.total_seconds(),
            on_changes=controller.on_company_changes,
            on_loaded=controller.on_companies_loaded,
        )
        controller.companies = feed
        mirror.wrote = feed.wrote
    if on_start is not None:  # tests observe the controller's state
        on_start(controller)
    dblog = (
        DbLogFlusher(
            db,
            interval=settings.db_log_interval.total_seconds(),
            max_entries=settings.db_log_max_entries,
        )
        if db is not None
        else None
    )
    metrics.llm_token_budget_daily.set(settings.llm_daily_token_budget)
    metrics.leader.set(0 if settings.leader_election else 1)  # without election this replica dispatches
    metrics.LEADER_ONLY.leading = lambda: True
    registry = build_registry(controller, kube)
    kopf_ready = asyncio.Event()

    def live() -> tuple[bool, str]:
        dead = [t.get_name() for t in tasks if t.done()] + (
            [] if controller.queue.running() else ["workqueue"]
        )
        return (not dead, f"stopped tasks: {dead}" if dead else "running")

    def ready() -> tuple[bool, str]:
        if not kopf_ready.is_set():
            return False, "starting"
        if db is not None and not mirror.healthy:
            return False, f"MongoDB unreachable, {mirror.backlog} writes waiting"
        return True, f"watching, {len(controller.targets)} targets, {len(controller.active)} active"

    metrics.operator_ready.set_function(lambda: 1.0 if ready()[0] else 0.0)  # evaluated per scrape
    runner = None
    if settings.metrics_port:
        runner = await serve(make_app(live=live, ready=ready), host="0.0.0.0", port=settings.metrics_port)  # noqa: S104
    tasks = [
        asyncio.create_task(mirror.run(), name="mirror"),
        asyncio.create_task(_sample_gauges(controller), name="gauges"),
    ]
    if dblog is not None:
        tasks.append(asyncio.create_task(dblog.run(), name="dblog"))
    if feed is not None and settings.company_poll_interval.total_seconds() > 0:
        tasks.append(asyncio.create_task(feed.run(), name="companies"))
    elector = None
    if settings.leader_election:
        elector = LeaseElector(
            kube,
            namespace=settings.leader_election_namespace
            or os.environ.get("POD_NAMESPACE")
            or (settings.namespaces or ["default"])[0],
            name=settings.leader_election_lease_name,
            identity=os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}",
            duration=settings.lease_duration.total_seconds(),
        )
        controller.leading = lambda: elector.leader
        metrics.LEADER_ONLY.leading = controller.leading
        tasks.append(asyncio.create_task(elector.run(), name="lease"))
        tasks.append(asyncio.create_task(_follow_leadership(elector, controller), name="leadership"))
    if db is not None and settings.sync_interval.total_seconds() > 0:  # preference sync (docs/sync.md)
        from scoutly.sync.run import sync_forever

        sync = sync_forever(
            db=db,
            kube=kube,
            namespace=settings.sync_namespace,
            interval=settings.sync_interval.total_seconds(),
            leading=lambda: controller.leading(),
        )
        tasks.append(asyncio.create_task(sync, name="sync"))
    try:
        if not await _prime(controller, settings.namespaces, stop_flag):
            return
        await kopf.operator(
            registry=registry,
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            standalone=True,  # HA is our own Lease (controller/leader.py): standbys keep warm caches
            stop_flag=stop_flag,
            ready_flag=kopf_ready,
        )
    finally:
        if elector is not None:
            await elector.release()
        metrics.operator_ready.set_function(lambda: 0.0)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await controller.queue.close()
        if runner is not None:
            await runner.cleanup()
        await kube.close()
        if mongo_client is not None:
            await mongo_client.close()
