"""Ashby posting API: jobs[]; unlisted jobs are skipped; 404 means an unknown board."""

from __future__ import annotations

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.models import Salary
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig, items
from scoutly.scrape.text import as_str, html_to_text, parse_time


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    url = f"{ctx.ref.api}/posting-api/job-board/{ctx.ref.board}?includeCompensation=true"
    try:
        data = (await ctx.fetcher.get(url)).json()
    except FetchError as e:
        reason = "unknown Ashby board" if e.status == 404 else str(e)
        res.fail(f"ashby list: {reason}")
        return res
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        res.fail("ashby list: unexpected shape (no jobs[])")
        return res
    for job in items(data, "jobs"):
        if job.get("isListed") is False:
            continue
        comp = as_str(dig(job, "compensation", "compensationTierSummary"), 300)
        desc = as_str(job.get("descriptionPlain"), 10**7) or html_to_text(
            as_str(job.get("descriptionHtml"), 10**7)
        )
        res.add(
            ctx,
            job.get("id"),
            title=as_str(job.get("title")),
            location=as_str(job.get("location")),
            remote=job.get("isRemote") if isinstance(job.get("isRemote"), bool) else None,
            department=as_str(job.get("department")) or as_str(job.get("team")),
            employment_type=as_str(job.get("employmentType")),
            salary=Salary(text=comp) if comp else None,
            url=as_str(job.get("jobUrl"), 2000),
            description=desc[: ctx.description_limit],
            posted_at=parse_time(job.get("publishedAt")),
            updated_at=parse_time(job.get("updatedAt")),
        )
    return res
