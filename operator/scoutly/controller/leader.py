"""Leader election on a coordination.k8s.io/v1 Lease, the way client-go does it.

Every replica watches and keeps its in-memory state warm; only the Lease holder writes (dispatches,
status, finalizers, MongoDB). Expiry is judged by the local clock since the record last changed
(client-go's "observed time"), so clock skew between replicas does not matter. A leader that cannot
renew within the lease duration steps down before anyone else may take over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from scoutly.kube.client import ApiError, KubeClient, ns_path

log = logging.getLogger("scoutly.leader")


def _micro(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        duration: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.path = ns_path("coordination.k8s.io/v1", namespace, "leases", name)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.duration = duration
        self.monotonic = monotonic
        self.leader = False
        self.changed = asyncio.Event()
        self._observed: tuple[str, float] | None = None  # (holder+renewTime, local time first seen)
        self._last_renew = 0.0

    def _set(self, leader: bool) -> None:
        if leader != self.leader:
            log.warning("%s leadership of %s/%s", "acquired" if leader else "lost", self.namespace, self.name)
            self.leader = leader
            self.changed.set()

    async def run(self) -> None:
        while True:
            try:
                ok = await self._try()
            except (TimeoutError, ApiError, OSError) as e:
                log.warning("lease %s: %s", self.name, e)
                ok = False
            now = self.monotonic()
            if ok:
                self._last_renew = now
                self._set(True)
            elif not self.leader or now - self._last_renew >= self.duration * 2 / 3:
                self._set(False)  # step down well before the others may take over
            await asyncio.sleep(self.duration / 4)

    async def _try(self) -> bool:
        now = datetime.now(UTC)
        try:
            lease = await self.kube.get(self.path)
        except ApiError as e:
            if not e.not_found:
                raise
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(now, acquire=now, transitions=0),
            }
            try:
                await self.kube.create(ns_path("coordination.k8s.io/v1", self.namespace, "leases"), body)
            except ApiError as e2:
                if e2.conflict:
                    return False
                raise
            return True
        spec: dict[str, Any] = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        record = f"{holder}|{spec.get('renewTime')}"
        if self._observed is None or self._observed[0] != record:
            self._observed = (record, self.monotonic())
        expired = self.monotonic() - self._observed[1] > float(
            spec.get("leaseDurationSeconds") or self.duration
        )
        if holder and holder != self.identity and not expired:
            return False
        mine = holder == self.identity
        lease["spec"] = self._spec(
            now,
            acquire=None if mine else now,
            transitions=int(spec.get("leaseTransitions") or 0) + (0 if mine else 1),
            previous=spec,
        )
        try:
            await self.kube.request("PUT", self.path, body=lease)  # resourceVersion: optimistic lock
        except ApiError as e:
            if e.conflict:
                return False
            raise
        return True

    def _spec(
        self,
        now: datetime,
        *,
        acquire: datetime | None,
        transitions: int,
        previous: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, int(self.duration)),
            "acquireTime": _micro(acquire) if acquire else (previous or {}).get("acquireTime"),
            "renewTime": _micro(now),
            "leaseTransitions": transitions,
        }

    async def release(self) -> None:
        """On a graceful stop: hand over at once instead of after the lease expires."""
        if not self.leader:
            return
        try:
            lease = await self.kube.get(self.path)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = None
                await self.kube.request("PUT", self.path, body=lease)
        except ApiError as e:
            log.warning("could not release lease %s: %s", self.name, e)
        self._set(False)
