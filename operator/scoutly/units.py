"""Typed values of settings and specs (pure, no scoutly imports: the bottom layer, beside config):
Go-style durations and the rank -> cooldown tiers."""

from __future__ import annotations

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

    def __str__(self) -> str:
        """The spelling `parse` reads: "95=12h,...,0=336h"."""
        return ",".join(f"{r}={format_duration(d)}" for r, d in (*self.tiers, (0, self.floor)))
