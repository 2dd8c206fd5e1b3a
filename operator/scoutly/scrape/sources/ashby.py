"""Ashby posting API (developers.ashbyhq.com/docs/public-job-posting-api): jobs[]; unlisted jobs are
skipped; 404 means an unknown board. `workplaceType` (OnSite, Hybrid, Remote) is the workplace; `isRemote`
is also true for hybrid jobs, so it only decides when `workplaceType` is absent. `location` is the primary
place, `secondaryLocations` the others."""

from __future__ import annotations

from typing import Any

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.models import Salary, Workplace
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig, get_listing, items, place
from scoutly.scrape.text import as_str, html_to_text, parse_time, workplace_of


def _workplace(job: dict[str, Any]) -> Workplace:
    stated = workplace_of(job.get("workplaceType"))
    if stated != "unknown":
        return stated
    remote = job.get("isRemote")
    return "unknown" if not isinstance(remote, bool) else "remote" if remote else "onsite"


def _secondary(loc: Any) -> str | None:
    if isinstance(loc, str):
        return loc
    if not isinstance(loc, dict):
        return None
    addr = dig(loc, "address", "postalAddress") or dig(loc, "address") or {}
    return (
        as_str(loc.get("location"))
        or as_str(loc.get("locationName"))
        or place(*(dig(addr, k) for k in ("addressLocality", "addressRegion", "addressCountry")))
    )


def _salary(job: dict[str, Any]) -> Salary | None:
    comp = job.get("compensation")
    summary = as_str(dig(comp, "compensationTierSummary"), 300) or as_str(
        dig(comp, "scrapeableCompensationSalarySummary"), 300
    )
    components = items(comp, "summaryComponents") or [
        c for tier in items(comp, "compensationTiers") for c in items(tier, "components")
    ]
    for c in components:
        if c.get("compensationType") == "Salary":
            lo, hi = c.get("minValue"), c.get("maxValue")
            return Salary(
                min=lo if isinstance(lo, int | float) else None,
                max=hi if isinstance(hi, int | float) else None,
                currency=as_str(c.get("currencyCode"), 10),
                interval=as_str(c.get("interval"), 20),
                text=summary,
            )
    return Salary(text=summary) if summary else None


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    url = f"{ctx.ref.api}/posting-api/job-board/{ctx.ref.board}?includeCompensation=true"
    try:
        resp = await get_listing(ctx, res, url)
        if resp is None:
            return res
        data = resp.json()
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
        secondary = job.get("secondaryLocations")
        desc = as_str(job.get("descriptionPlain"), 10**7) or html_to_text(
            as_str(job.get("descriptionHtml"), 10**7)
        )
        res.add(
            ctx,
            job.get("id"),
            title=as_str(job.get("title")),
            locations=[
                as_str(job.get("location")),
                *(_secondary(x) for x in (secondary if isinstance(secondary, list) else [])),
            ],
            workplace=_workplace(job),
            department=as_str(job.get("department")) or as_str(job.get("team")),
            employment_label=as_str(job.get("employmentType")),
            salary=_salary(job),
            url=as_str(job.get("jobUrl"), 2000),
            description=desc[: ctx.description_limit],
            posted_at=parse_time(job.get("publishedAt")),
            updated_at=parse_time(job.get("updatedAt")),
        )
    return res
