"""Personio XML feed (<workzag-jobs><position>); an empty feed means the company is not hiring.

DTDs are refused outright: no entity expansion of untrusted XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.sources.base import SourceContext, SourceResult, location_is_remote
from scoutly.scrape.text import clean_text, html_to_text, parse_time


def _text(el: ET.Element, tag: str) -> str | None:
    child = el.find(tag)
    if child is None or child.text is None:
        return None
    return " ".join(child.text.split()) or None


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    try:
        body = (await ctx.fetcher.get(f"{ctx.ref.api}/xml?language=en")).body
    except FetchError as e:
        res.fail(f"personio feed: {e}")
        return res
    if b"<!DOCTYPE" in body[:4096].upper() or b"<!ENTITY" in body.upper():
        res.fail("personio feed: XML with a DTD refused")
        return res
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DTD, checked above
    except ET.ParseError as e:
        res.fail(f"personio feed: malformed XML: {e}")
        return res
    parts = urlsplit(ctx.ref.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    for pos in root.iter("position"):
        descs = []
        for jd in pos.iter("jobDescription"):
            name = _text(jd, "name")
            value = jd.find("value")
            body_text = html_to_text(value.text if value is not None else None)
            descs.append(f"{name}\n{body_text}" if name else body_text)
        office = _text(pos, "office")
        pid = _text(pos, "id")
        res.add(
            ctx,
            pid,
            title=_text(pos, "name"),
            location=office,
            remote=location_is_remote(office),
            department=_text(pos, "department"),
            employment_type=_text(pos, "employmentType"),
            url=f"{origin}/job/{pid}" if pid else None,
            description=clean_text("\n\n".join(descs), limit=ctx.description_limit),
            posted_at=parse_time(_text(pos, "createdAt")),
        )
    return res
