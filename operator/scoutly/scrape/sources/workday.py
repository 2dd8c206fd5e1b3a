"""Workday CXS API: POST pages of at most 20 (total comes with the first page), then one detail GET per
posting for its description. Some tenants clamp at offset 2000."""

from __future__ import annotations

import asyncio
from typing import Any

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig, items, location_is_remote
from scoutly.scrape.text import as_str, html_to_text, parse_time

PAGE = 20


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    tenant, site = ctx.ref.extra["tenant"], ctx.ref.extra["site"]
    base = f"{ctx.ref.api}/wday/cxs/{tenant}/{site}"
    listed: list[dict[str, Any]] = []
    offset, total = 0, None
    for _ in range(ctx.max_pages):
        body = {"appliedFacets": {}, "limit": PAGE, "offset": offset, "searchText": ""}
        try:
            data = (await ctx.fetcher.post_json(f"{base}/jobs", body)).json()
        except FetchError as e:
            res.fail(f"workday page at offset {offset}: {e}")
            break
        page = items(data, "jobPostings")
        if total is None:  # later pages often report total 0
            t = data.get("total") if isinstance(data, dict) else None
            total = t if isinstance(t, int) else 0
        listed.extend(page)
        offset += PAGE
        if not page or offset >= total:
            break
    else:
        res.fail(f"workday: page cap {ctx.max_pages} reached")

    async def detail(job: dict[str, Any]) -> None:
        path = as_str(job.get("externalPath"), 1000)
        if not path or not path.startswith("/"):
            res.fail(f"workday posting without externalPath: {as_str(job.get('title'))}")
            return
        try:
            d = (await ctx.fetcher.get(f"{base}{path}")).json()
        except FetchError as e:
            res.fail(f"workday posting {path}: {e}")
            return
        info = dig(d, "jobPostingInfo")
        if not isinstance(info, dict):
            res.fail(f"workday posting {path}: no jobPostingInfo")
            return
        bullets = job.get("bulletFields")
        nid = info.get("jobReqId") or (bullets[0] if isinstance(bullets, list) and bullets else None) or path
        location = as_str(info.get("location")) or as_str(job.get("locationsText"))
        remote_type = as_str(info.get("remoteType"))
        res.add(
            ctx,
            nid,
            title=as_str(info.get("title")) or as_str(job.get("title")),
            location=location,
            remote=True if remote_type and "remote" in remote_type.lower() else location_is_remote(location),
            employment_type=as_str(info.get("timeType")),
            url=as_str(info.get("externalUrl"), 2000),
            description=html_to_text(as_str(info.get("jobDescription"), 10**7), limit=ctx.description_limit),
            posted_at=parse_time(info.get("startDate")),
        )

    if len(listed) > ctx.max_details:
        res.fail(f"workday: {len(listed) - ctx.max_details} postings over the detail cap skipped")
    await asyncio.gather(*(detail(j) for j in listed[: ctx.max_details]))
    return res
