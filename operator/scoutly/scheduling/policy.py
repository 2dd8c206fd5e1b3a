"""Cooldowns, backoff and jitter: pure functions with keyword-only arguments.

The tiers are the seed's: rank >= 95: 12h, >= 85: 24h, >= 70: 48h, >= 50: 7d, else 14d.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration string ("12h", "1h30m", "90s", "500ms"); ValueError names the bad input."""
    s = text.strip()
    pos, seconds = 0, 0.0
    for match in _DURATION_PART.finditer(s):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not s or pos != len(s):
        raise ValueError(f"invalid duration {text!r}: use Go syntax such as 12h, 90m or 1h30m")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest Go-style spelling: 12h, 168h, 1h30m, 45s."""
    total = int(value.total_seconds())
    if total <= 0:
        return "0s"
    h, rest = divmod(total, 3600)
    mins, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((h, "h"), (mins, "m"), (secs, "s")) if n) or "0s"


@dataclass(frozen=True)
class CooldownTiers:
    """Rank thresholds (highest first) and the cooldown of each; `floor` applies below the last."""

    tiers: tuple[tuple[int, timedelta], ...] = (
        (95, timedelta(hours=12)),
        (85, timedelta(hours=24)),
        (70, timedelta(hours=48)),
        (50, timedelta(days=7)),
    )
    floor: timedelta = timedelta(days=14)

    @classmethod
    def parse(cls, text: str) -> CooldownTiers:
        """From "95=12h,85=24h,70=48h,50=168h,0=336h" (the 0 entry is the floor)."""
        entries: list[tuple[int, timedelta]] = []
        floor: timedelta | None = None
        for part in filter(None, (p.strip() for p in text.split(","))):
            rank_s, sep, dur = part.partition("=")
            if not sep or not rank_s.strip().isdigit():
                raise ValueError(f"invalid cooldown tier {part!r}: expected RANK=DURATION, e.g. 95=12h")
            rank = int(rank_s)
            if rank == 0:
                floor = parse_duration(dur)
            else:
                entries.append((rank, parse_duration(dur)))
        if floor is None:
            raise ValueError("cooldown tiers need a floor entry 0=DURATION for the lowest ranks")
        return cls(tiers=tuple(sorted(entries, reverse=True)), floor=floor)


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
