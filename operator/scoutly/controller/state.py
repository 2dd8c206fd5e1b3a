"""In-memory views of targets and their Jobs, fed by watch events (no API calls here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from scoutly.api import models as m
from scoutly.controller.jobs import JobView, parse_time
from scoutly.scheduling.due import History, due_time
from scoutly.scheduling.policy import CooldownTiers, cooldown_for, effective_rank, parse_duration


@dataclass
class Policy:
    tiers: CooldownTiers
    backoff_base: timedelta
    jitter: timedelta


@dataclass
class TargetView:
    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime
    spec: m.ScrapeTargetSpec | None
    spec_error: str | None
    scrape_now: str | None
    status: dict[str, Any]  # the history we keep (outcomes recorded, schedule times), ahead of the server
    observed: dict[str, Any]  # the status the API server has: from our last write, or as first observed
    deleting: bool = False
    jobs: dict[str, JobView] = field(default_factory=dict)
    handled: bool = False  # False for views seeded from kopf's index before their own event
    # every status.lastSuccessfulScrape this process wrote, adopted or observed: an event carrying any
    # other value is someone's edit of the status (kubectl patch --subresource=status), which counts
    last_scrapes: set[str] = field(default_factory=set)
    # active Job name -> why its pod cannot start (pods watch); shown on the Scraping condition
    blocked: dict[str, str] = field(default_factory=dict)
    # Events (post_event arguments) decided by watch events, posted by the target's reconcile
    outbox: list[dict[str, Any]] = field(default_factory=list)
    # Job name -> pod name -> how its scrape container ended (pods watch), for Jobs whose outcome is not
    # recorded yet: the run summary without reading the pods again
    ended: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)

    def remember_last_scrape(self, value: str | None) -> None:
        normal = _normal_time(value)
        if normal is not None:
            self.last_scrapes.add(normal)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def rank(self) -> int:
        if self.spec is None:
            return 0
        return effective_rank(rank=self.spec.rank, tracker_ranks=[t.rank for t in self.spec.trackers])

    def cooldown(self, policy: Policy) -> timedelta:
        override = parse_duration(self.spec.cooldown) if self.spec and self.spec.cooldown else None
        return cooldown_for(rank=self.rank, tiers=policy.tiers, override=override)

    @property
    def suspended(self) -> bool:
        return bool(self.spec and self.spec.suspend)

    @property
    def active_jobs(self) -> list[JobView]:
        return sorted(
            (j for j in self.jobs.values() if not j.terminal and not j.deleting),
            key=lambda j: j.created or datetime.min,
        )

    @property
    def manual_pending(self) -> bool:
        return bool(self.scrape_now) and self.scrape_now != self.status.get("lastManualTrigger")

    def history(self) -> History:
        return History(
            created=self.created,
            last_success=parse_time(self.status.get("lastSuccessfulScrape")),
            last_failure=parse_time(self.status.get("lastFailureTime")),
            consecutive_failures=int(self.status.get("consecutiveFailures") or 0),
        )

    def due(self, policy: Policy) -> datetime:
        return due_time(
            history=self.history(),
            cooldown=self.cooldown(policy),
            backoff_base=policy.backoff_base,
            jitter_window=policy.jitter,
            key=self.key,
        )

    @property
    def unrecorded_jobs(self) -> list[JobView]:
        """Finished (or deleted) Jobs we still hold whose outcome is not in the status yet: the next run
        waits for them, so an outcome is never skipped or counted after a newer one."""
        last = self.status.get("lastJob") or {}
        last_finish = parse_time(last.get("finish"))
        return [
            j
            for j in self.jobs.values()
            if j.has_finalizer
            and (j.terminal or j.deleting)
            and j.name != last.get("name")
            and (last_finish is None or j.finish is None or j.finish >= last_finish)
        ]

    def dispatchable(self) -> bool:
        return (
            self.spec is not None and not self.deleting and not self.active_jobs and not self.unrecorded_jobs
        )


def _normal_time(value: Any) -> str | None:
    t = parse_time(value)
    return t.isoformat() if t is not None else None


def target_view(
    body: dict[str, Any],
    previous: TargetView | None,
    admit: Callable[[m.ScrapeTargetSpec], str | None] | None = None,
) -> TargetView:
    """Build the view of a ScrapeTarget event. The status we wrote ourselves wins over an older echo.
    `admit` says why a valid spec may still not run here (the operator's own policy), or None."""
    meta = body.get("metadata") or {}
    generation = int(meta.get("generation") or 0)
    same_object = previous is not None and previous.uid == meta.get("uid")
    spec: m.ScrapeTargetSpec | None = None
    error: str | None = None
    if same_object and previous is not None and previous.generation == generation and generation:
        # the spec changes only with the generation: our own status writes echo back without a re-parse
        spec, error = previous.spec, previous.spec_error
    else:
        try:
            spec = m.parse_spec(body.get("spec") or {})
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            error = f"spec.{loc}: {first['msg']}" + (
                f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
            )
        if spec is not None and admit is not None:
            error = admit(spec)
            spec = None if error else spec
    keep = same_object and previous is not None
    body_status = dict(body.get("status") or {})
    status = previous.status if keep and previous is not None else body_status
    observed = previous.observed if keep and previous is not None else body_status
    seen = set(previous.last_scrapes) if keep and previous is not None else set()
    edited = body_status.get("lastSuccessfulScrape")
    if keep and edited and _normal_time(edited) not in seen:
        # not an echo of ours: someone set the last scrape by hand, which moves the schedule
        status = {**status, "lastSuccessfulScrape": edited}
        observed = {**observed, "lastSuccessfulScrape": edited}
    normal = _normal_time(edited)
    if normal is not None:
        seen.add(normal)
    view = TargetView(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta.get("uid", ""),
        generation=generation,
        created=parse_time(meta.get("creationTimestamp")) or datetime.fromtimestamp(0).astimezone(),
        spec=spec,
        spec_error=error,
        scrape_now=(meta.get("annotations") or {}).get(m.SCRAPE_NOW_ANNOTATION),
        status=status,
        observed=observed,
        deleting=bool(meta.get("deletionTimestamp")),
        jobs=previous.jobs if same_object and previous is not None else {},
        blocked=previous.blocked if same_object and previous is not None else {},
        outbox=previous.outbox if same_object and previous is not None else [],
        ended=previous.ended if same_object and previous is not None else {},
        last_scrapes=seen,
    )
    view.remember_last_scrape(status.get("lastSuccessfulScrape"))
    return view
