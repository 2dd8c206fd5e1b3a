"""Source modules, one per job-board type, all behind `Source` (sources/base.py)."""

from __future__ import annotations

import dataclasses

from scoutly.scrape.sources import (
    ashby,
    greenhouse,
    html,
    jsonld,
    lever,
    personio,
    recruitee,
    smartrecruiters,
    workable,
    workday,
)
from scoutly.scrape.sources.base import Source, SourceContext, SourceResult
from scoutly.scrape.sources.resolve import resolve

PARSER_VERSION = 2
"""Bumped whenever a source reads a response differently: validators stored by an older parser are then
ignored, so every board is read in full once by the new one (a 304 would otherwise hide what it now sees)."""

SOURCES: dict[str, Source] = {
    "greenhouse": greenhouse.fetch,
    "lever": lever.fetch,
    "ashby": ashby.fetch,
    "workable": workable.fetch,
    "smartrecruiters": smartrecruiters.fetch,
    "recruitee": recruitee.fetch,
    "personio": personio.fetch,
    "workday": workday.fetch,
    "jsonld": jsonld.fetch,
    "html": html.fetch,
}


async def fetch_postings(ctx: SourceContext) -> SourceResult:
    """Postings of the target's board (`ctx` as `resolve` returned it); a career page where no JobPosting
    was found falls back to plain HTML."""
    res = await SOURCES[ctx.ref.type](ctx)
    if ctx.ref.type == "jsonld" and not res.postings:
        html_ctx = dataclasses.replace(ctx, ref=dataclasses.replace(ctx.ref, type="html"))
        return await html.fetch(html_ctx)
    return res


__all__ = ["PARSER_VERSION", "SOURCES", "SourceContext", "SourceResult", "fetch_postings", "resolve"]
