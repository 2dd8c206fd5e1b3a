"""The one interface every source module implements, and helpers to build validated postings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from scoutly.scrape.detect import SourceRef
from scoutly.scrape.fetch import Fetcher
from scoutly.scrape.models import Posting


@dataclass
class SourceContext:
    ref: SourceRef
    fetcher: Fetcher
    max_pages: int = 200
    max_details: int = 500
    description_limit: int = 20_000


@dataclass
class SourceResult:
    """What a source found. `complete` is False when a listing or detail page failed: the run then
    does not infer closures from postings it did not see."""

    postings: list[Posting] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    complete: bool = True

    def fail(self, message: str) -> None:
        self.errors.append(message[:500])
        self.complete = False

    def add(self, ctx: SourceContext, native_id: Any, **fields: Any) -> Posting | None:
        """Validate and keep one posting; a posting that fails validation is an error, never stored."""
        nid = str(native_id).strip() if native_id is not None and not isinstance(native_id, bool) else ""
        try:
            p = Posting(source=ctx.ref.type, board=ctx.ref.board, native_id=nid, **fields)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            self.fail(f"posting {nid[:80] or '?'}: invalid {where}: {err['msg']}")
            return None
        self.postings.append(p)
        return p


class Source(Protocol):
    async def __call__(self, ctx: SourceContext) -> SourceResult: ...


def location_is_remote(*values: str | None) -> bool | None:
    text = " ".join(v for v in values if v).lower()
    if not text:
        return None
    return True if "remote" in text or "anywhere" in text else None


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
