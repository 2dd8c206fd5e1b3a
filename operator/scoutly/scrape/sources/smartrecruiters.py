"""SmartRecruiters Posting API (dev.smartrecruiters.com/customer-api/posting-api): postings paged by
offset up to `totalFound` (at most 100 a page); the description and the public URL come from each
posting's detail (`GET .../postings/{id}`, `jobAd.sections.*.text`). A detail that fails keeps the
listed fields (URL built from the company and posting id, no description); the listing then counts as
incomplete. `location.remote` and `location.hybrid` are flags."""

from __future__ import annotations

import asyncio
from typing import Any

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.models import Workplace
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig, items
from scoutly.scrape.text import as_str, clean_text, html_to_text, parse_time

PAGE = 100
SECTIONS = ("companyDescription", "jobDescription", "qualifications", "additionalInformation")
PUBLIC = "https://jobs.smartrecruiters.com"


def _workplace(loc: dict[str, Any]) -> Workplace:
    if loc.get("remote") is True:
        return "remote"
    if loc.get("hybrid") is True:
        return "hybrid"
    return "onsite" if loc.get("remote") is False else "unknown"


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
        offset += len(page)  # what the server returned: it may clamp `limit`
        if not page or offset >= (total or 0):
            break
    else:
        res.fail(f"smartrecruiters: page cap {ctx.max_pages} reached")

    details: dict[int, dict[str, Any]] = {}

    async def detail(i: int, pid: str) -> None:
        try:
            d = (await ctx.fetcher.get(f"{base}/{pid}")).json()
        except FetchError as e:
            res.fail(f"smartrecruiters posting {pid}: {e} (kept without its description)")
            return
        if isinstance(d, dict):
            details[i] = d

    if len(listed) > ctx.max_details:
        res.fail(f"smartrecruiters: {len(listed) - ctx.max_details} postings over the detail cap skipped")
    listed = listed[: ctx.max_details]
    await asyncio.gather(*(detail(i, pid) for i, j in enumerate(listed) if (pid := as_str(j.get("id"), 200))))
    for i, job in enumerate(listed):
        pid = as_str(job.get("id"), 200)
        d = details.get(i, {})
        sections = dig(d, "jobAd", "sections")
        texts = [html_to_text(as_str(dig(sections, s, "text"), 10**7)) for s in SECTIONS]
        loc = job.get("location") if isinstance(job.get("location"), dict) else {}
        assert isinstance(loc, dict)
        company = as_str(dig(job, "company", "identifier"), 200) or ctx.ref.board
        res.add(
            ctx,
            pid,
            title=as_str(job.get("name")),
            locations=[
                as_str(loc.get("fullLocation"))
                or ", ".join(x for x in (as_str(loc.get(k)) for k in ("city", "region", "country")) if x)
            ],
            workplace=_workplace(loc),
            department=as_str(dig(job, "department", "label")),
            employment_label=as_str(dig(job, "typeOfEmployment", "label")),
            url=as_str(d.get("postingUrl"), 2000) or (f"{PUBLIC}/{company}/{pid}" if pid else None),
            description=clean_text("\n\n".join(t for t in texts if t), limit=ctx.description_limit),
            posted_at=parse_time(job.get("releasedDate")),
        )
    return res
