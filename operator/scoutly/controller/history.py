"""Which finished Jobs of a target to delete (pure): keep the newest N succeeded and M failed, like
CronJob's history limits. Jobs still holding our finalizer stay: their outcome is not recorded yet."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from scoutly.controller.jobs import JobPhase, JobView

_OLDEST = datetime.min.replace(tzinfo=UTC)


def expired(jobs: Iterable[JobView], *, succeeded: int, failed: int) -> list[JobView]:
    finished = sorted(
        (j for j in jobs if j.terminal and not j.deleting),
        key=lambda j: j.finish or j.created or _OLDEST,
        reverse=True,
    )
    limits = {JobPhase.SUCCEEDED: succeeded, JobPhase.FAILED: failed}
    seen: dict[JobPhase, int] = defaultdict(int)
    out: list[JobView] = []
    for j in finished:
        seen[j.phase] += 1
        if seen[j.phase] > limits[j.phase] and not j.has_finalizer:
            out.append(j)
    return out
