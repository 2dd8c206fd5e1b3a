"""Workable widget API (`details=true`): jobs[] with HTML descriptions."""

from __future__ import annotations

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.sources.base import SourceContext, SourceResult, items, location_is_remote
from scoutly.scrape.text import as_str, html_to_text, parse_time


def _location(job: dict[str, object]) -> str | None:
    locs = items(job, "locations") or [job]
    out = []
    for loc in locs:
        bits = [as_str(loc.get(k)) for k in ("city", "region", "state", "country")]
        text = ", ".join(dict.fromkeys(b for b in bits if b))
        if text:
            out.append(text)
    return "; ".join(out) or None


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    try:
        data = (
            await ctx.fetcher.get(f"{ctx.ref.api}/api/v1/widget/accounts/{ctx.ref.board}?details=true")
        ).json()
    except FetchError as e:
        res.fail(f"workable list: {e}")
        return res
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        res.fail("workable list: unexpected shape (no jobs[])")
        return res
    for job in items(data, "jobs"):
        location = _location(job)
        tele = job.get("telecommuting")
        res.add(
            ctx,
            job.get("shortcode") or job.get("code"),
            title=as_str(job.get("title")),
            location=location,
            remote=True if tele is True else location_is_remote(location),
            department=as_str(job.get("department")),
            employment_type=as_str(job.get("employment_type")),
            url=as_str(job.get("url") or job.get("shortlink"), 2000),
            description=html_to_text(as_str(job.get("description"), 10**7), limit=ctx.description_limit),
            posted_at=parse_time(job.get("published_on") or job.get("created_at")),
        )
    return res
