"""Greenhouse Job Board API (developers.greenhouse.io/job-board.html): one page with `content=true`.

`content` is entity-escaped HTML. `location.name` is free text ("New York, NY; Remote - US" for a post
open in several places); `metadata` carries the custom fields the employer exposes, among them often an
employment type. A job can have several posts (one per location) that share `internal_job_id` and
title: they are folded into one posting keyed by the lowest post id."""

from __future__ import annotations

from typing import Any

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig, get_listing, items
from scoutly.scrape.text import as_str, html_to_text, parse_time, workplace_in, workplace_of

_EMPLOYMENT_FIELDS = ("employment type", "employment", "job type", "type of employment", "contract type")
_WORKPLACE_FIELDS = ("workplace type", "location type", "remote", "work location", "workplace")


def _metadata(job: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for m in items(job, "metadata"):
        name = as_str(m.get("name"))
        if name and name.lower() in names:
            value = m.get("value")
            if isinstance(value, list):
                return as_str(", ".join(v for v in value if isinstance(v, str)))
            return as_str(value)
    return None


def _post_key(job: dict[str, Any]) -> tuple[Any, ...]:
    internal = job.get("internal_job_id")
    if isinstance(internal, int | str) and not isinstance(internal, bool) and str(internal):
        return ("job", str(internal), as_str(job.get("title")))
    return ("post", str(job.get("id")))


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    url = f"{ctx.ref.api}/v1/boards/{ctx.ref.board}/jobs?content=true"
    try:
        resp = await get_listing(ctx, res, url)
        if resp is None:
            return res
        data = resp.json()
    except FetchError as e:
        res.fail(f"greenhouse list: {e}")
        return res
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        res.fail("greenhouse list: unexpected shape (no jobs[])")
        return res
    first_post: dict[tuple[Any, ...], Any] = {}
    for job in sorted(items(data, "jobs"), key=lambda j: str(j.get("id")).zfill(20)):  # lowest post first
        post = first_post.setdefault(_post_key(job), job.get("id"))
        name = as_str(dig(job, "location", "name"))
        if name:
            places = name.split(";")
        else:  # no location text: the offices the post is attached to
            places = [as_str(o.get("location")) or as_str(o.get("name")) or "" for o in items(job, "offices")]
        depts = [as_str(d.get("name")) for d in items(job, "departments")]
        wp_field = _metadata(job, _WORKPLACE_FIELDS)
        res.add(
            ctx,
            post,
            title=as_str(job.get("title")),
            locations=places,
            workplace=workplace_of(wp_field) if wp_field else workplace_in(name),
            department=", ".join(d for d in depts if d) or None,
            employment_label=_metadata(job, _EMPLOYMENT_FIELDS),
            url=as_str(job.get("absolute_url"), 2000),
            description=html_to_text(
                as_str(job.get("content"), 10**7), unescape=True, limit=ctx.description_limit
            ),
            posted_at=parse_time(job.get("first_published")),
            updated_at=parse_time(job.get("updated_at")),
        )
    return res
