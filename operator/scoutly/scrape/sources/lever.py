"""Lever Postings API (`GET /v0/postings/{site}?mode=json`, github.com/lever/postings-api): one list of
every open posting; times in epoch milliseconds. `categories.allLocations` lists every place a posting is
open in (`categories.location` is the primary one); `workplaceType` is on-site, remote, hybrid or
unspecified."""

from __future__ import annotations

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.models import Salary
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig, get_listing, items
from scoutly.scrape.text import as_str, clean_text, html_to_text, parse_time, workplace_in, workplace_of


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    try:
        resp = await get_listing(ctx, res, f"{ctx.ref.api}/v0/postings/{ctx.ref.board}?mode=json")
        if resp is None:
            return res
        data = resp.json()
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
        primary = as_str(dig(job, "categories", "location"))
        every = dig(job, "categories", "allLocations")
        places = [primary, *(every if isinstance(every, list) else [])]
        workplace = workplace_of(job.get("workplaceType"))
        res.add(
            ctx,
            job.get("id"),
            title=as_str(job.get("text")),
            locations=places,
            workplace=workplace if workplace != "unknown" else workplace_in(primary),
            department=as_str(dig(job, "categories", "department")) or as_str(dig(job, "categories", "team")),
            employment_label=as_str(dig(job, "categories", "commitment")),
            salary=salary,
            url=as_str(job.get("hostedUrl"), 2000),
            description=clean_text("\n\n".join(p for p in parts if p), limit=ctx.description_limit),
            posted_at=parse_time(job.get("createdAt")),
            updated_at=parse_time(job.get("updatedAt")),
        )
    return res
