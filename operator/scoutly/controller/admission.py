"""Which due targets get a dispatch slot (pure): the global cap, rank order, one active scrape per company."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from scoutly.scheduling.due import dispatch_key


@dataclass(frozen=True)
class Candidate:
    """A target that is due now and may be dispatched."""

    key: str
    rank: int
    due: datetime
    company: str | None = None  # targets of one company never run at the same time
    company_busy: bool = False  # another target of its company has a Job pending, running or unrecorded


@dataclass(frozen=True)
class Admission:
    chosen: list[Candidate]  # dispatch these now
    waiting: list[Candidate]  # eligible, but beyond the cap: first in line when a slot frees


def admit(candidates: Iterable[Candidate], *, free: int) -> Admission:
    """Highest rank first, then the longest overdue; at most one target per company, none of a busy
    company (they wait for its Job: its end wakes them); at most `free` in all.

    Strict priority: when high ranks alone fill the cap, low ranks wait (raise the cap)."""
    eligible = sorted(
        (c for c in candidates if not c.company_busy),
        key=lambda c: (*dispatch_key(rank=c.rank, due=c.due), c.key),
    )
    seen: set[str] = set()
    one_per_company: list[Candidate] = []
    for c in eligible:
        if c.company is not None:
            if c.company in seen:
                continue  # a higher-ranked target of the same company goes first
            seen.add(c.company)
        one_per_company.append(c)
    n = max(free, 0)
    return Admission(chosen=one_per_company[:n], waiting=one_per_company[n:])
