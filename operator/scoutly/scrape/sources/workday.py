"""Workday CXS API: POST pages of at most 20 (`total` comes with the first page), then one detail GET
per posting for its description, every location (`location` plus `additionalLocations`), `remoteType`
(On-site, Hybrid, Fully Remote) and `startDate`. Some tenants clamp at offset 2000. A detail that fails
keeps the listed fields (title, `remoteType`, the relative `postedOn`, a URL built from `externalPath`);
`locationsText` is kept unless it only counts places ("3 Locations"). The native id comes from the listed
row alone (the requisition id `externalPath` ends in, else the path), so it is the same with or without
the detail."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig, items
from scoutly.scrape.text import as_str, html_to_text, parse_time, workplace_in, workplace_of

PAGE = 20
_COUNTED = re.compile(r"^\d+\s+locations?$", re.IGNORECASE)


def native_id(job: dict[str, Any]) -> str | None:
    """The requisition id: the first bullet field when the path ends in it, else the path's `_<id>`
    suffix when it holds a digit, else the path itself."""
    path = as_str(job.get("externalPath"), 1000)
    if not path:
        return None
    suffix = path.rstrip("/").rsplit("/", 1)[-1].rsplit("_", 1)[-1] if "_" in path else ""
    bullets = job.get("bulletFields")
    first = as_str(bullets[0], 300) if isinstance(bullets, list) and bullets else None
    if first and path.endswith(first):
        return first
    if suffix and any(c.isdigit() for c in suffix):
        return suffix
    return path


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    tenant, site = ctx.ref.extra["tenant"], ctx.ref.extra["site"]
    public = ctx.ref.extra.get("public", "")
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
        offset += len(page)  # what the server returned: it may clamp `limit`
        if not page or offset >= total:
            break
    else:
        res.fail(f"workday: page cap {ctx.max_pages} reached")

    details: dict[int, dict[str, Any]] = {}

    async def detail(i: int, path: str) -> None:
        try:
            d = (await ctx.fetcher.get(f"{base}{path}")).json()
        except FetchError as e:
            res.fail(f"workday posting {path}: {e} (kept with its listed fields)")
            return
        info = dig(d, "jobPostingInfo")
        if isinstance(info, dict):
            details[i] = info
        else:
            res.fail(f"workday posting {path}: no jobPostingInfo (kept with its listed fields)")

    if len(listed) > ctx.max_details:
        res.fail(f"workday: {len(listed) - ctx.max_details} postings over the detail cap skipped")
    listed = listed[: ctx.max_details]
    paths = [as_str(j.get("externalPath"), 1000) for j in listed]
    await asyncio.gather(*(detail(i, p) for i, p in enumerate(paths) if p and p.startswith("/")))
    for i, job in enumerate(listed):
        path = paths[i]
        if not path or not path.startswith("/"):
            res.fail(f"workday posting without externalPath: {as_str(job.get('title'))}")
            continue
        info = details.get(i, {})
        text = as_str(job.get("locationsText"))
        extra = info.get("additionalLocations")
        places = [as_str(info.get("location")), *(extra if isinstance(extra, list) else [])]
        if not any(places) and text and not _COUNTED.match(text):
            places = [text]
        workplace = workplace_of(info.get("remoteType") or job.get("remoteType"))
        res.add(
            ctx,
            native_id(job),
            title=as_str(info.get("title")) or as_str(job.get("title")),
            locations=places,
            workplace=workplace
            if workplace != "unknown"
            else workplace_in(*(p for p in places if isinstance(p, str))),
            employment_label=as_str(info.get("timeType")),
            url=as_str(info.get("externalUrl"), 2000) or (f"{public}{path}" if public else None),
            description=html_to_text(as_str(info.get("jobDescription"), 10**7), limit=ctx.description_limit),
            posted_at=parse_time(info.get("startDate")) or parse_time(job.get("postedOn"), now=ctx.now),
        )
    return res
