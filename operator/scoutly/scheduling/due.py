"""When is a target due, should it be dispatched now, and in which order: pure, clock passed in."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from scoutly.scheduling.policy import failure_backoff, jitter_offset

JOB_NAME_MAX = 63  # Job names end up in the job-name label of their pods


@dataclass(frozen=True)
class History:
    """What the scheduler knows of a target's past runs."""

    created: datetime
    last_success: datetime | None = None
    last_failure: datetime | None = None
    consecutive_failures: int = 0


def due_time(
    *, history: History, cooldown: timedelta, backoff_base: timedelta, jitter_window: timedelta, key: str
) -> datetime:
    """The next time the target should be scraped.

    Never scraped: at creation (due now). After a success: success + cooldown (+ stable jitter). After a
    failure that came later than the last success: failure + exponential backoff capped at the cooldown,
    so a broken target is retried soon yet never waits longer than its cooldown.
    A single timestamp, however long the downtime: at most one catch-up run.
    """
    last_success, last_failure = history.last_success, history.last_failure
    if (
        last_failure is not None
        and (last_success is None or last_failure >= last_success)
        and (history.consecutive_failures > 0)
    ):
        delay = failure_backoff(
            consecutive_failures=history.consecutive_failures, base=backoff_base, cap=cooldown
        )
        return last_failure + delay
    if last_success is None:
        return history.created
    return last_success + cooldown + jitter_offset(key=key, window=jitter_window)


def overdue(*, history: History, cooldown: timedelta, now: datetime) -> bool:
    """More than one cooldown past the time it was due after its last success (or its creation).

    Measured from the last success, not from `due_time`: failure backoff keeps moving a failing target's
    due time forward, so a target that always fails would never count as overdue."""
    since = history.last_success or history.created
    return now - (since + cooldown) > cooldown


def should_dispatch(
    *, now: datetime, due: datetime, active: bool, suspended: bool, manual_pending: bool = False
) -> bool:
    """Dispatch once strictly past the due time (the seed's `hoursSinceLastScrape > cooldownHours`) or
    when manually triggered; never while a Job of the target is pending or running."""
    if active or suspended:
        return False
    return manual_pending or now > due


def dispatch_key(*, rank: int, due: datetime) -> tuple[int, datetime]:
    """Sort key when the concurrency cap leaves fewer slots than due targets:
    higher rank first, then the longest overdue (earliest due)."""
    return (-rank, due)


def job_name(*, target: str, slot: datetime | None = None, manual_token: str | None = None) -> str:
    """Idempotent Job name for one scheduled run: <target>-<unix seconds of the slot>, or -m<hash> for a
    manual trigger. Two dispatches of the same slot collide on the name, so the API server prevents a
    duplicate Job even across operator restarts. Long target names are shortened with a hash."""
    if manual_token is not None:
        suffix = "m" + hashlib.sha256(manual_token.encode()).hexdigest()[:8]
    elif slot is not None:
        suffix = str(int(slot.timestamp()))  # seconds: cooldowns may be shorter than a minute
    else:
        raise ValueError("job_name needs a slot or a manual token")
    return f"{shorten(target, JOB_NAME_MAX - len(suffix) - 1)}-{suffix}"


def shorten(name: str, limit: int) -> str:
    """`name` when it fits in `limit` characters, else its head and a hash of the whole name: distinct
    names stay distinct, and the result starts and ends alphanumeric (a valid label value and DNS label
    part whenever `name` is a valid object name)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-.')}-{digest}"
