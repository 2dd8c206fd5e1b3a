"""Posting quality of one run: how many postings lack a title, a URL, a location or a date, and which
of those shares jumped since the board's previous run (a parser that stopped understanding a field, or a
service that changed its payload). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scoutly.scrape.models import Posting

FIELDS = ("title", "url", "location", "date")
MIN_ROWS = 5  # a jump needs at least this many postings lacking the field (and seen): not 1 of 2


@dataclass(frozen=True)
class Quality:
    """`rows`: postings the source listed (kept ones plus rows dropped for lacking a title)."""

    rows: int
    missing: dict[str, int] = field(default_factory=dict)

    def share(self, name: str) -> float:
        return self.missing.get(name, 0) / self.rows if self.rows else 0.0

    def doc(self) -> dict[str, Any]:
        return {"rows": self.rows, "missing": {f: self.missing.get(f, 0) for f in FIELDS}}

    @classmethod
    def from_doc(cls, doc: Any) -> Quality | None:
        """The stored form back; None for anything malformed (it is only a baseline)."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("rows"), int) or doc["rows"] < 0:
            return None
        missing = doc.get("missing")
        if not isinstance(missing, Mapping):
            return None
        counts = {f: missing.get(f) for f in FIELDS}
        if not all(isinstance(v, int) and 0 <= v <= doc["rows"] for v in counts.values()):
            return None
        return cls(rows=doc["rows"], missing={f: int(v or 0) for f, v in counts.items()})


@dataclass(frozen=True)
class Jump:
    field: str
    before: float
    after: float


def measure(postings: Sequence[Posting], *, untitled: int = 0) -> Quality:
    missing = {
        "title": untitled,
        "url": sum(1 for p in postings if not p.url),
        "location": sum(1 for p in postings if not p.locations and p.workplace != "remote"),
        "date": sum(1 for p in postings if p.posted_at is None and p.updated_at is None),
    }
    return Quality(rows=len(postings) + untitled, missing=missing)


def jumps(previous: Quality | None, current: Quality, *, threshold: float) -> list[Jump]:
    """Fields whose share of postings lacking them rose by `threshold` (0..1) or more since `previous`."""
    if previous is None or previous.rows < MIN_ROWS or current.rows < MIN_ROWS:
        return []
    out = []
    for name in FIELDS:
        before, after = previous.share(name), current.share(name)
        if after - before >= threshold and current.missing.get(name, 0) >= MIN_ROWS:
            out.append(Jump(name, round(before, 3), round(after, 3)))
    return out
