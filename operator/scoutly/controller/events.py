"""Kubernetes Events on ScrapeTargets: few, on transitions only (never one per tick)."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from scoutly.api import models as m
from scoutly.controller.jobs import iso
from scoutly.controller.state import TargetView
from scoutly.kube.client import ApiError, KubeClient, ns_path, transient

log = logging.getLogger("scoutly.events")
COMPONENT = "scoutly-operator"


async def post_event(
    kube: KubeClient,
    view: TargetView,
    *,
    reason: str,
    message: str,
    now: datetime,
    warning: bool = False,
    strict: bool = False,
) -> None:
    """One core/v1 Event. A failure to post is logged, never raised (events are best effort), except with
    `strict` a transient one (timeout, reset, 5xx), which the caller retries: an outcome's Event."""
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{view.name[:200]}.{secrets.token_hex(8)}", "namespace": view.namespace},
        "involvedObject": {
            "apiVersion": m.API_VERSION,
            "kind": m.KIND,
            "name": view.name,
            "namespace": view.namespace,
            "uid": view.uid,
        },
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
        "action": reason,
        "firstTimestamp": iso(now),
        "lastTimestamp": iso(now),
        "count": 1,
    }
    try:
        await kube.create(ns_path("v1", view.namespace, "events"), body)
    except Exception as e:
        if not isinstance(e, ApiError) and not transient(e):
            raise
        if strict and transient(e):
            raise
        log.warning("could not post event %s on %s: %s", reason, view.key, e)
