"""The controller: the watch-event intake and the target and job keys (reconcile.py) over the wiring of
base.py, and the numbers the metrics and probes read of it."""

from __future__ import annotations

from collections.abc import Iterable

from scoutly.controller import views
from scoutly.controller.base import Clock, utcnow
from scoutly.controller.dispatch import QueueKey
from scoutly.controller.reconcile import Reconciler
from scoutly.controller.statuswriter import target_path

__all__ = ["Clock", "Controller", "QueueKey", "target_path", "utcnow"]


class Controller(Reconciler):
    def phases(self) -> dict[str, int]:
        return views.phases(self.targets.values())

    def overdue_count(self) -> int:
        """Targets more than one cooldown past due since their last success (the overdue alert's signal)."""
        return views.overdue_count(self.targets.values(), self.policy, self.clock())

    def failure_streaks(self, thresholds: Iterable[int]) -> dict[int, int]:
        """For each N in `thresholds`: targets (not suspended) whose last N or more scrapes failed."""
        return views.failure_streaks(self.targets.values(), thresholds)
