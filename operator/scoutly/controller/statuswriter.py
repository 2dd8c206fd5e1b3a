"""Writing a target's status: the difference between the status derived from its view and the one last
observed, one merge patch when they differ, nothing when they do not."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import aiohttp

from scoutly import metrics
from scoutly.api import models as m
from scoutly.controller.state import Policy, TargetView
from scoutly.controller.status import desired_status, status_patch
from scoutly.faults import crash_point
from scoutly.kube.client import ApiError, KubeClient, error_kind, ns_path

log = logging.getLogger("scoutly.controller")


def target_path(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    return ns_path(m.API_VERSION, namespace, m.PLURAL, name, sub)


class StatusWriter:
    def __init__(self, kube: KubeClient, policy: Policy, clock: Callable[[], datetime]) -> None:
        self._kube = kube
        self._policy = policy
        self._clock = clock

    async def sync(self, view: TargetView) -> bool:
        """Write the difference between the derived and the observed status. False when the write failed
        (counted here; the caller's key is retried with backoff)."""
        desired = desired_status(view, self._policy, self._clock())
        view.remember_last_scrape(desired.get("lastSuccessfulScrape"))  # its echoes are no edits
        patch = status_patch(view.observed, desired)
        if patch is None:
            return True
        crash_point("before_status")
        try:
            resp = await self._kube.merge_patch(
                target_path(view.namespace, view.name, "status"), {"status": patch}
            )
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as e:
            if isinstance(e, ApiError) and e.not_found:
                return True  # the target is gone
            metrics.reconcile_errors.labels("status", error_kind(e)).inc()
            log.warning("status write for %s failed, retrying: %s", view.key, str(e) or type(e).__name__)
            return False
        crash_point("after_status")
        written = dict(resp.get("status") or desired)
        view.status = dict(written)
        view.observed = written
        return True
