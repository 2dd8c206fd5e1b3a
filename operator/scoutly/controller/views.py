"""Numbers over all targets for the metrics and probes (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from scoutly.api import models as m
from scoutly.controller.state import Policy, TargetView
from scoutly.scheduling.due import overdue


def phases(targets: Iterable[TargetView]) -> dict[str, int]:
    counts = dict.fromkeys((p.value for p in m.Phase), 0)
    for v in targets:
        phase = (v.status or {}).get("phase")
        if phase in counts:
            counts[phase] += 1
    return counts


def overdue_count(targets: Iterable[TargetView], policy: Policy, now: datetime) -> int:
    return sum(
        1
        for v in targets
        if v.spec is not None
        and not v.suspended
        and overdue(history=v.history(), cooldown=v.cooldown(policy), now=now)
    )


def failure_streaks(targets: Iterable[TargetView], thresholds: Iterable[int]) -> dict[int, int]:
    streaks = [
        int((v.status or {}).get("consecutiveFailures") or 0)
        for v in targets
        if v.spec is not None and not v.suspended
    ]
    return {n: sum(1 for s in streaks if s >= n) for n in thresholds}
