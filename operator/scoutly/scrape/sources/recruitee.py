"""Recruitee careers API: offers[] with HTML description and requirements."""

from __future__ import annotations

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.models import Salary
from scoutly.scrape.sources.base import SourceContext, SourceResult, items, location_is_remote
from scoutly.scrape.text import as_str, clean_text, html_to_text, parse_time


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    try:
        data = (await ctx.fetcher.get(f"{ctx.ref.api}/api/offers/")).json()
    except FetchError as e:
        res.fail(f"recruitee list: {e}")
        return res
    if not isinstance(data, dict) or not isinstance(data.get("offers"), list):
        res.fail("recruitee list: unexpected shape (no offers[])")
        return res
    for o in items(data, "offers"):
        sal = o.get("salary")
        salary = None
        if isinstance(sal, dict) and (sal.get("min") or sal.get("max")):
            salary = Salary(
                min=sal.get("min"),
                max=sal.get("max"),
                currency=as_str(sal.get("currency")),
                interval=as_str(sal.get("period")),
            )
        location = as_str(o.get("location"))
        desc = "\n\n".join(html_to_text(as_str(o.get(k), 10**7)) for k in ("description", "requirements"))
        res.add(
            ctx,
            o.get("id"),
            title=as_str(o.get("title")),
            location=location,
            remote=o.get("remote") if isinstance(o.get("remote"), bool) else location_is_remote(location),
            department=as_str(o.get("department")),
            employment_type=as_str(o.get("employment_type_code")),
            salary=salary,
            url=as_str(o.get("careers_url"), 2000),
            description=clean_text(desc, limit=ctx.description_limit),
            posted_at=parse_time(o.get("published_at") or o.get("created_at")),
            updated_at=parse_time(o.get("updated_at")),
        )
    return res
