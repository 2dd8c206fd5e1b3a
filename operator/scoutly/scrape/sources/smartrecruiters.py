"""SmartRecruiters: postings paged by offset up to totalFound; descriptions from each posting's detail."""

from __future__ import annotations

import asyncio
from typing import Any

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig, items
from scoutly.scrape.text import as_str, clean_text, html_to_text, parse_time

PAGE = 100
SECTIONS = ("companyDescription", "jobDescription", "qualifications", "additionalInformation")


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    base = f"{ctx.ref.api}/v1/companies/{ctx.ref.board}/postings"
    listed: list[dict[str, Any]] = []
    offset, total = 0, None
    for _ in range(ctx.max_pages):
        try:
            data = (await ctx.fetcher.get(f"{base}?limit={PAGE}&offset={offset}")).json()
        except FetchError as e:
            res.fail(f"smartrecruiters page at offset {offset}: {e}")
            break
        page = items(data, "content")
        if total is None:
            total = (
                data.get("totalFound")
                if isinstance(data, dict) and isinstance(data.get("totalFound"), int)
                else 0
            )
        listed.extend(page)
        offset += PAGE
        if not page or offset >= (total or 0):
            break
    else:
        res.fail(f"smartrecruiters: page cap {ctx.max_pages} reached")

    async def detail(job: dict[str, Any]) -> None:
        pid = as_str(job.get("id"), 200)
        try:
            d = (await ctx.fetcher.get(f"{base}/{pid}")).json()
        except FetchError as e:
            res.fail(f"smartrecruiters posting {pid}: {e}")
            return
        sections = dig(d, "jobAd", "sections")
        texts = [html_to_text(as_str(dig(sections, s, "text"), 10**7)) for s in SECTIONS]
        loc = job.get("location") if isinstance(job.get("location"), dict) else {}
        assert isinstance(loc, dict)
        where = as_str(loc.get("fullLocation")) or ", ".join(
            x for x in (as_str(loc.get(k)) for k in ("city", "region", "country")) if x
        )
        res.add(
            ctx,
            pid,
            title=as_str(job.get("name")),
            location=where or None,
            remote=loc.get("remote") if isinstance(loc.get("remote"), bool) else None,
            department=as_str(dig(job, "department", "label")),
            employment_type=as_str(dig(job, "typeOfEmployment", "label")),
            url=as_str(d.get("postingUrl") if isinstance(d, dict) else None, 2000),
            description=clean_text("\n\n".join(t for t in texts if t), limit=ctx.description_limit),
            posted_at=parse_time(job.get("releasedDate")),
        )

    if len(listed) > ctx.max_details:
        res.fail(f"smartrecruiters: {len(listed) - ctx.max_details} postings over the detail cap skipped")
    await asyncio.gather(*(detail(j) for j in listed[: ctx.max_details]))
    return res
