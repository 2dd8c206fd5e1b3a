"""Lever postings API (`mode=json`): one list, times in epoch milliseconds."""

from __future__ import annotations

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.models import Salary
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig, items, location_is_remote
from scoutly.scrape.text import as_str, clean_text, html_to_text, parse_time


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    try:
        data = (await ctx.fetcher.get(f"{ctx.ref.api}/v0/postings/{ctx.ref.board}?mode=json")).json()
    except FetchError as e:
        res.fail(f"lever list: {e}")
        return res
    if not isinstance(data, list):
        res.fail("lever list: unexpected shape (not a list)")
        return res
    for job in items(data):
        parts = [
            as_str(job.get("descriptionPlain"), 10**7) or html_to_text(as_str(job.get("description"), 10**7))
        ]
        for lst in items(job, "lists"):
            parts.append(
                f"{as_str(lst.get('text')) or ''}\n{html_to_text(as_str(lst.get('content'), 10**7))}"
            )
        parts.append(as_str(job.get("additionalPlain"), 10**7) or "")
        sal = job.get("salaryRange")
        salary = None
        if isinstance(sal, dict) and (sal.get("min") is not None or sal.get("max") is not None):
            salary = Salary(
                min=sal.get("min"),
                max=sal.get("max"),
                currency=as_str(sal.get("currency")),
                interval=as_str(sal.get("interval")),
            )
        location = as_str(dig(job, "categories", "location"))
        workplace = as_str(job.get("workplaceType"))
        res.add(
            ctx,
            job.get("id"),
            title=as_str(job.get("text")),
            location=location,
            remote=True if workplace == "remote" else location_is_remote(location),
            department=as_str(dig(job, "categories", "department")) or as_str(dig(job, "categories", "team")),
            employment_type=as_str(dig(job, "categories", "commitment")),
            salary=salary,
            url=as_str(job.get("hostedUrl"), 2000),
            description=clean_text("\n\n".join(p for p in parts if p), limit=ctx.description_limit),
            posted_at=parse_time(job.get("createdAt")),
            updated_at=parse_time(job.get("updatedAt")),
        )
    return res
