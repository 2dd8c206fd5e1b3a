"""Sources a URL alone cannot name, settled with one request before the run starts:

- a Workable job link (`apply.workable.com/j/<shortcode>`) names no account: the job page redirects to
  `/<account>/j/<shortcode>/` or links there;
- a career page on a company's own domain may be a Recruitee careers site (its pages load their assets
  from `careers.recruiteecdn.com`): the Recruitee API is then served on that domain, and beats JSON-LD
  (unless the spec names the type `jsonld` itself).

The page fetched here is handed on, so the JSON-LD source does not fetch it twice."""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit

from scoutly.scrape.detect import DetectError, SourceRef
from scoutly.scrape.fetch import FetchError
from scoutly.scrape.sources.base import SourceContext

_RECRUITEE_SITE = re.compile(r"//careers\.recruiteecdn\.com/", re.IGNORECASE)


async def resolve(ctx: SourceContext) -> SourceContext:
    """`ctx` with its final source; raises DetectError when a Workable job link cannot be resolved."""
    ref = ctx.ref
    if ref.type == "workable" and ref.pending:
        return dataclasses.replace(ctx, ref=await _workable_account(ctx))
    if ref.type != "jsonld" or ref.extra.get("explicit"):
        return ctx
    try:
        page = await ctx.fetcher.get(ref.url, html=True)
    except FetchError as e:
        return dataclasses.replace(ctx, prefetched={**ctx.prefetched, ref.url: e})
    if _RECRUITEE_SITE.search(page.text()[:500_000]):
        final = urlsplit(page.url)
        host = (final.hostname or "").lower()
        recruitee = SourceRef(
            type="recruitee", board=host, url=ref.url, api=f"{final.scheme}://{final.netloc}"
        )
        return dataclasses.replace(ctx, ref=recruitee)
    return dataclasses.replace(ctx, prefetched={**ctx.prefetched, ref.url: page})


async def _workable_account(ctx: SourceContext) -> SourceRef:
    shortcode = ctx.ref.extra["shortcode"]
    try:
        page = await ctx.fetcher.get(f"{ctx.ref.api}/j/{shortcode}", html=True)
    except FetchError as e:
        raise DetectError(
            f"could not resolve the Workable account of job {shortcode}: {e}; set source.board"
        ) from e
    link = re.compile(rf"/([A-Za-z0-9][A-Za-z0-9._-]{{0,199}})/j/{re.escape(shortcode)}(?:[/?#\"']|$)")
    m = link.search(urlsplit(page.url).path) or link.search(page.text()[:500_000])
    if not m or m.group(1) == "j":
        raise DetectError(f"the Workable job page of {shortcode} names no account; set source.board")
    return dataclasses.replace(ctx.ref, board=m.group(1), extra={})
