"""Plain-HTML fallback: job-like links on the career page become postings (title and URL only)."""

from __future__ import annotations

import hashlib
from urllib.parse import urldefrag, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.sources.base import SourceContext, SourceResult
from scoutly.scrape.sources.jsonld import JOB_LINK
from scoutly.scrape.text import clean_text


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    try:
        page = ctx.prefetched.get(ctx.ref.url) or await ctx.fetcher.get(ctx.ref.url, html=True)
        if isinstance(page, FetchError):
            raise page
    except FetchError as e:
        res.fail(f"career page: {e}")
        return res
    tree = LexborHTMLParser(page.text())
    base = urlsplit(ctx.ref.url)
    seen: set[str] = set()
    for a in tree.css("a[href]"):
        url = urldefrag(urljoin(ctx.ref.url, (a.attributes.get("href") or "").strip())).url
        parts = urlsplit(url)
        title = clean_text(a.text(deep=True, separator=" "), limit=500)
        if (
            parts.scheme not in ("http", "https")
            or parts.netloc != base.netloc
            or url in seen
            or not JOB_LINK.search(parts.path)
            or url.rstrip("/") == ctx.ref.url.rstrip("/")
            or not 3 <= len(title) <= 200
        ):
            continue
        seen.add(url)
        nid = hashlib.sha256(parts.path.encode()).hexdigest()[:24]
        res.add(ctx, nid, title=title, url=url, description="")
    return res
