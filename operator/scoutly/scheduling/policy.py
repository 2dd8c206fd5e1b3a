"""Cooldowns, backoff and jitter: pure functions with keyword-only arguments.

The tiers are the seed's: rank >= 95: 12h, >= 85: 24h, >= 70: 48h, >= 50: 7d, else 14d.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from scoutly.units import CooldownTiers, format_duration, parse_duration

__all__ = [
    "DEFAULT_TIERS",
    "CooldownTiers",
    "cooldown_for",
    "effective_rank",
    "failure_backoff",
    "format_duration",
    "jitter_offset",
    "parse_duration",
]

DEFAULT_TIERS = CooldownTiers()


def cooldown_for(
    *, rank: int, tiers: CooldownTiers = DEFAULT_TIERS, override: timedelta | None = None
) -> timedelta:
    """The cooldown of a target: its override if set, else the first tier whose threshold its rank meets."""
    if override is not None:
        return override
    for threshold, cooldown in tiers.tiers:
        if rank >= threshold:
            return cooldown
    return tiers.floor


def effective_rank(*, rank: int, tracker_ranks: list[int] | tuple[int, ...] = ()) -> int:
    """The rank that schedules a target: the highest of its own and its trackers'."""
    return int(max([rank, *tracker_ranks]))


def failure_backoff(*, consecutive_failures: int, base: timedelta, cap: timedelta) -> timedelta:
    """Delay before retrying after `consecutive_failures` failures: base * 2^(n-1), capped at `cap`."""
    if consecutive_failures <= 0:
        return timedelta(0)
    # compare in float seconds: base * 2**n as a timedelta overflows on long failure streaks
    seconds = base.total_seconds() * 2.0 ** min(consecutive_failures - 1, 60)
    return cap if seconds >= cap.total_seconds() else timedelta(seconds=seconds)


def jitter_offset(*, key: str, window: timedelta) -> timedelta:
    """A stable offset in [0, window) derived from `key`, so targets due together spread out the same way
    on every replica and after every restart (no randomness to persist)."""
    if window <= timedelta(0):
        return timedelta(0)
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return timedelta(microseconds=digest % int(window.total_seconds() * 1_000_000))
