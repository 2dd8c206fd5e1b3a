"""Recruitee Careers Site API (`GET {site}/api/offers/`, career.recruitee.com/docs): offers[] with HTML
description and requirements. Times look like `2026-08-11 20:45:29 UTC`. `locations[]` lists every place
(the flat `location`/`city`/`country` fields only the first); `remote`, `hybrid` and `on_site` are flags.
A careers site on the company's own domain serves the same API there."""

from __future__ import annotations

from typing import Any

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.models import Salary, Workplace
from scoutly.scrape.sources.base import SourceContext, SourceResult, get_listing, items, place
from scoutly.scrape.text import as_number, as_str, clean_text, html_to_text, parse_time, workplace_in


def _workplace(o: dict[str, Any], location: str | None) -> Workplace:
    if o.get("hybrid") is True:
        return "hybrid"
    if o.get("remote") is True:
        return "remote"
    if o.get("on_site") is True:
        return "onsite"
    return workplace_in(location)


def _locations(o: dict[str, Any]) -> list[str | None]:
    rows = items(o, "locations")
    if len(rows) <= 1 and as_str(o.get("location")):
        return [as_str(o.get("location"))]  # the service's own rendering of the one place
    return [place(r.get("city") or r.get("name"), r.get("state"), r.get("country")) for r in rows] or [
        place(o.get("city"), o.get("state_name"), o.get("country"))
    ]


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    try:
        resp = await get_listing(ctx, res, f"{ctx.ref.api}/api/offers/")
        if resp is None:
            return res
        data = resp.json()
    except FetchError as e:
        res.fail(f"recruitee list: {e}")
        return res
    if not isinstance(data, dict) or not isinstance(data.get("offers"), list):
        res.fail("recruitee list: unexpected shape (no offers[])")
        return res
    for o in items(data, "offers"):
        sal = o.get("salary") if isinstance(o.get("salary"), dict) else {}
        assert isinstance(sal, dict)
        lo, hi = as_number(sal.get("min")), as_number(sal.get("max"))
        salary = None
        if lo is not None or hi is not None:
            salary = Salary(
                min=lo,
                max=hi,
                currency=as_str(sal.get("currency"), 10),
                interval=as_str(sal.get("period"), 20),
            )
        desc = "\n\n".join(html_to_text(as_str(o.get(k), 10**7)) for k in ("description", "requirements"))
        res.add(
            ctx,
            o.get("id"),
            title=as_str(o.get("title")),
            locations=_locations(o),
            workplace=_workplace(o, as_str(o.get("location"))),
            department=as_str(o.get("department")),
            employment_label=as_str(o.get("employment_type_code")),
            salary=salary,
            url=as_str(o.get("careers_url"), 2000),
            description=clean_text(desc, limit=ctx.description_limit),
            posted_at=parse_time(o.get("published_at") or o.get("created_at")),
            updated_at=parse_time(o.get("updated_at")),
        )
    return res
