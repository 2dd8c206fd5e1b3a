"""Greenhouse job board API: one page with `content=true`; content is entity-escaped HTML."""

from __future__ import annotations

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig, items, location_is_remote
from scoutly.scrape.text import as_str, html_to_text, parse_time


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    url = f"{ctx.ref.api}/v1/boards/{ctx.ref.board}/jobs?content=true"
    try:
        data = (await ctx.fetcher.get(url)).json()
    except FetchError as e:
        res.fail(f"greenhouse list: {e}")
        return res
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        res.fail("greenhouse list: unexpected shape (no jobs[])")
        return res
    for job in items(data, "jobs"):
        location = as_str(dig(job, "location", "name"))
        depts = [as_str(d.get("name")) for d in items(job, "departments")]
        res.add(
            ctx,
            job.get("id"),
            title=as_str(job.get("title")),
            location=location,
            remote=location_is_remote(location),
            department=", ".join(d for d in depts if d) or None,
            url=as_str(job.get("absolute_url"), 2000),
            description=html_to_text(
                as_str(job.get("content"), 10**7), unescape=True, limit=ctx.description_limit
            ),
            posted_at=parse_time(job.get("first_published")),
            updated_at=parse_time(job.get("updated_at")),
        )
    return res
