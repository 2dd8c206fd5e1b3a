"""Change detection: which fetched postings are new, changed or unchanged, and which stored ones closed.
Pure: takes the stored (hash, status) per native id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from scoutly.scrape.models import Posting

CLOSED = "CLOSED"


@dataclass
class Diff:
    new: list[Posting] = field(default_factory=list)
    changed: list[Posting] = field(default_factory=list)
    unchanged: list[Posting] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    @property
    def current(self) -> list[Posting]:
        return [*self.new, *self.changed, *self.unchanged]


def classify(postings: Sequence[Posting], stored: Mapping[str, tuple[str, str]], *, complete: bool) -> Diff:
    """A closed posting that reappears counts as new. Closures are only inferred from a complete
    listing: a broken page must not close the postings it would have shown."""
    diff = Diff()
    seen: set[str] = set()
    for p in postings:
        if p.native_id in seen:
            diff.duplicates.append(p.native_id)
            continue
        seen.add(p.native_id)
        prev = stored.get(p.native_id)
        if prev is None or prev[1] == CLOSED:
            diff.new.append(p)
        elif prev[0] != p.content_hash:
            diff.changed.append(p)
        else:
            diff.unchanged.append(p)
    if complete:
        diff.closed = sorted(
            nid for nid, (_, status) in stored.items() if status != CLOSED and nid not in seen
        )
    return diff
