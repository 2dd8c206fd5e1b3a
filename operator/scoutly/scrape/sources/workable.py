"""Workable widget API (`GET apply.workable.com/api/v1/widget/accounts/{account}?details=true`): jobs[]
with HTML descriptions. A job open in several places can come back as one row per location, each with the
same shortcode: the rows are one posting (folded by `SourceResult.add`). `telecommuting` marks remote jobs;
`locations[].hidden` places are not shown on the public page and are left out."""

from __future__ import annotations

from typing import Any

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.sources.base import SourceContext, SourceResult, get_listing, items, place
from scoutly.scrape.text import as_str, html_to_text, parse_time, workplace_of


def _locations(job: dict[str, Any]) -> list[str | None]:
    rows = [loc for loc in items(job, "locations") if loc.get("hidden") is not True]
    if not items(job, "locations"):
        rows = [job]  # older rows: the place only as top-level city/state/country
    return [place(*(loc.get(k) for k in ("city", "region", "state", "country"))) for loc in rows]


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    try:
        resp = await get_listing(
            ctx, res, f"{ctx.ref.api}/api/v1/widget/accounts/{ctx.ref.board}?details=true"
        )
        if resp is None:
            return res
        data = resp.json()
    except FetchError as e:
        res.fail(f"workable list: {'unknown Workable account' if e.status == 404 else e}")
        return res
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        res.fail("workable list: unexpected shape (no jobs[])")
        return res
    for job in items(data, "jobs"):
        tele = job.get("telecommuting")
        workplace = workplace_of(job.get("workplace") or job.get("workplace_type"))
        if workplace == "unknown" and tele is True:
            workplace = "remote"
        res.add(
            ctx,
            job.get("shortcode") or job.get("code"),
            title=as_str(job.get("title")),
            locations=_locations(job),
            workplace=workplace,
            department=as_str(job.get("department")),
            employment_label=as_str(job.get("employment_type")),
            url=as_str(job.get("url") or job.get("shortlink"), 2000),
            description=html_to_text(as_str(job.get("description"), 10**7), limit=ctx.description_limit),
            posted_at=parse_time(job.get("published_on") or job.get("created_at")),
        )
    return res
