"""The one interface every source module implements, and helpers to build validated postings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from scoutly.scrape.detect import SourceRef
from scoutly.scrape.fetch import Fetcher, FetchError, Response, Validators
from scoutly.scrape.models import Posting


@dataclass
class SourceContext:
    """What a source needs. `validators`: the board's responses of the last complete run, by URL
    (sources whose whole board is one response ask conditionally); `prefetched`: pages already fetched
    (or failed) while resolving the source, by URL; `now`: the run's clock, for relative dates."""

    ref: SourceRef
    fetcher: Fetcher
    max_pages: int = 200
    max_details: int = 500
    description_limit: int = 20_000
    validators: Mapping[str, Validators] = field(default_factory=dict)
    prefetched: dict[str, Response | FetchError] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class SourceResult:
    """What a source found. `complete` is False when a listing or detail page failed: the run then
    does not infer closures from postings it did not see. `not_modified`: the board answered 304 to a
    conditional request, nothing was parsed. `validators`: what to send next time. `untitled`: rows
    dropped for lacking a title (the quality check counts them)."""

    postings: list[Posting] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    complete: bool = True
    not_modified: bool = False
    validators: dict[str, Validators] = field(default_factory=dict)
    untitled: int = 0
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def fail(self, message: str) -> None:
        self.errors.append(message[:500])
        self.complete = False

    def add(self, ctx: SourceContext, native_id: Any, **fields: Any) -> Posting | None:
        """Validate and keep one posting; a posting that fails validation is an error, never stored.
        A second row with the same native id and title is the same posting in another place (Workable's
        widget repeats a job per location): its locations are folded into the first row. A second row
        with the same id but another title is a different posting claiming a taken id: dropped, reported."""
        nid = str(native_id).strip() if native_id is not None and not isinstance(native_id, bool) else ""
        try:
            p = Posting(source=ctx.ref.type, board=ctx.ref.board, native_id=nid, **fields)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            if any(x["loc"][:1] == ("title",) for x in e.errors()):
                self.untitled += 1
            self.fail(f"posting {nid[:80] or '?'}: invalid {where}: {err['msg']}")
            return None
        at = self._index.get(p.native_id)
        if at is None:
            self._index[p.native_id] = len(self.postings)
            self.postings.append(p)
            return p
        prev = self.postings[at]
        if prev.title != p.title:
            self.errors.append(
                f"posting id {nid[:80]} is used by two postings ({prev.title[:60]!r}, {p.title[:60]!r}); "
                "the second is dropped"
            )
            return None
        self.postings[at] = folded = fold(prev, p)
        return folded


def fold(first: Posting, other: Posting) -> Posting:
    """One posting from two rows of it: every location, and the first row's values where it has them."""
    base = first.model_dump(exclude={"content_hash", "location", "remote"})
    extra = other.model_dump(exclude={"content_hash", "location", "remote"})
    merged = {k: base[k] if base[k] not in (None, "", (), "unknown") else extra[k] for k in base}
    merged["locations"] = (*first.locations, *other.locations)
    return Posting.model_validate(merged)


async def get_listing(ctx: SourceContext, res: SourceResult, url: str) -> Response | None:
    """GET a board that is one response, conditionally when the last complete run stored validators
    for `url`; None (and `res.not_modified`) when the server answers 304. Raises FetchError."""
    resp = await ctx.fetcher.get(url, validators=ctx.validators.get(url))
    if resp.not_modified:
        res.not_modified = True
        return None
    if v := resp.validators():
        res.validators[url] = v
    return resp


class Source(Protocol):
    async def __call__(self, ctx: SourceContext) -> SourceResult: ...


def dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def items(data: Any, key: str | None = None) -> list[dict[str, Any]]:
    """The dict entries of a list (optionally under `key`); anything else is empty."""
    if key is not None:
        data = data.get(key) if isinstance(data, dict) else None
    return [x for x in data if isinstance(x, dict)] if isinstance(data, list) else []


def place(*parts: Any) -> str | None:
    """`City, Region, Country` from the non-empty string parts, each once."""
    bits = [" ".join(p.split()) for p in parts if isinstance(p, str) and p.strip()]
    return ", ".join(dict.fromkeys(bits)) or None
