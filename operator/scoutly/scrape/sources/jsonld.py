"""schema.org JobPosting as JSON-LD: the list page and the detail pages it links to.

Parsed defensively: top level dict, list or @graph; @type string or list; entity-escaped JSON, trailing
`;`, CDATA/comment wrappers. A broken script is an error of its own and never hides its siblings."""

from __future__ import annotations

import asyncio
import html as htmllib
import json
import re
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.models import Salary
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig
from scoutly.scrape.text import as_str, html_to_text, parse_time

_WRAPPERS = re.compile(r"^\s*(<!--|<!\[CDATA\[|//\s*<!\[CDATA\[)|(-->|\]\]>|//\s*\]\]>)\s*$")
JOB_LINK = re.compile(r"/(jobs?|careers?|positions?|openings?|vacanc(y|ies)|stellen?)(/|$|\?|-)", re.I)


def _loads(raw: str) -> Any:
    text = _WRAPPERS.sub("", raw.strip()).strip().rstrip(";").strip()
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(htmllib.unescape(text))  # entity-escaped JSON


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every JobPosting object in a JSON-LD document."""
    out: list[dict[str, Any]] = []
    if isinstance(node, list):
        for x in node:
            out.extend(_walk(x))
    elif isinstance(node, dict):
        t = node.get("@type")
        types = t if isinstance(t, list) else [t]
        if "JobPosting" in types:
            out.append(node)
        for key in ("@graph", "itemListElement", "item"):
            if key in node:
                out.extend(_walk(node[key]))
    return out


def extract(page_html: str, page: str) -> tuple[list[dict[str, Any]], list[str], LexborHTMLParser]:
    """(JobPosting objects, errors, parsed tree) of one page."""
    tree = LexborHTMLParser(page_html)
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    for i, node in enumerate(tree.css('script[type="application/ld+json"]')):
        try:
            found.extend(_walk(_loads(node.text(deep=True) or "")))
        except (ValueError, RecursionError) as e:
            errors.append(f"{page}: JSON-LD script {i + 1} is malformed: {str(e)[:100]}")
    return found, errors, tree


def _location(jp: dict[str, Any]) -> str | None:
    locs = jp.get("jobLocation")
    out = []
    for loc in locs if isinstance(locs, list) else [locs]:
        addr = dig(loc, "address")
        if isinstance(addr, str):
            out.append(addr)
            continue
        country = dig(addr, "addressCountry")
        country = dig(country, "name") if isinstance(country, dict) else country
        bits = [as_str(dig(addr, k)) for k in ("addressLocality", "addressRegion")] + [as_str(country)]
        text = ", ".join(b for b in bits if b)
        if text:
            out.append(text)
    return "; ".join(out)[:500] or None


def _salary(jp: dict[str, Any]) -> Salary | None:
    base = jp.get("baseSalary")
    if not isinstance(base, dict):
        return None
    value = base.get("value")
    lo = hi = None
    unit = None
    if isinstance(value, dict):
        lo, hi = value.get("minValue"), value.get("maxValue")
        if lo is None and hi is None:
            lo = hi = value.get("value")
        unit = as_str(value.get("unitText"))
    elif isinstance(value, int | float):
        lo = hi = value
    lo = lo if isinstance(lo, int | float) else None
    hi = hi if isinstance(hi, int | float) else None
    if lo is None and hi is None:
        return None
    return Salary(min=lo, max=hi, currency=as_str(base.get("currency"), 10), interval=unit)


def _native_id(jp: dict[str, Any], url: str | None) -> str | None:
    ident = jp.get("identifier")
    if isinstance(ident, dict):
        ident = ident.get("value") or ident.get("name")
    return as_str(ident, 300) or url


def add_posting(res: SourceResult, ctx: SourceContext, jp: dict[str, Any], page_url: str) -> None:
    url = as_str(jp.get("url"), 2000)
    url = urljoin(page_url, url) if url else page_url
    emp = jp.get("employmentType")
    loc_type = jp.get("jobLocationType")
    res.add(
        ctx,
        _native_id(jp, url),
        title=as_str(jp.get("title")),
        location=_location(jp),
        remote=True if isinstance(loc_type, str) and loc_type.upper() == "TELECOMMUTE" else None,
        department=as_str(jp.get("occupationalCategory")),
        employment_type=", ".join(e for e in emp if isinstance(e, str))
        if isinstance(emp, list)
        else as_str(emp),
        salary=_salary(jp),
        url=url,
        description=html_to_text(
            as_str(jp.get("description"), 10**7), unescape=True, limit=ctx.description_limit
        ),
        posted_at=parse_time(jp.get("datePosted")),
    )


def job_links(tree: LexborHTMLParser, page_url: str) -> list[str]:
    """Same-site links that look like job detail pages, in page order."""
    base = urlsplit(page_url)
    out: dict[str, None] = {}
    for a in tree.css("a[href]"):
        href = (a.attributes.get("href") or "").strip()
        if not href or href.startswith(("#", "mailto:", "tel:", "javascript:")):
            continue
        url = urldefrag(urljoin(page_url, href)).url
        parts = urlsplit(url)
        if parts.netloc != base.netloc or url.rstrip("/") == page_url.rstrip("/"):
            continue
        under_list = parts.path.startswith(base.path.rstrip("/") + "/") and base.path.strip("/")
        if under_list or JOB_LINK.search(parts.path):
            out[url] = None
    return list(out)


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    try:
        page = await ctx.fetcher.get(ctx.ref.url, html=True)
    except FetchError as e:
        res.fail(f"list page: {e}")
        return res
    found, errors, tree = extract(page.text(), "list page")
    for err in errors:
        res.errors.append(err)
    for jp in found:
        add_posting(res, ctx, jp, ctx.ref.url)
    seen = {p.url for p in res.postings}
    links = [u for u in job_links(tree, ctx.ref.url) if u not in seen]
    if len(links) > ctx.max_details:
        res.fail(f"{len(links) - ctx.max_details} detail pages over the cap skipped")

    async def detail(url: str) -> None:
        try:
            resp = await ctx.fetcher.get(url, html=True)
        except FetchError as e:
            res.fail(f"detail page: {e}")
            return
        jps, errs, _ = extract(resp.text(), url)
        if errs:
            res.errors.extend(errs)
            if not jps:
                res.complete = False  # a posting may hide in the broken script
        for jp in jps:
            add_posting(res, ctx, jp, url)

    await asyncio.gather(*(detail(u) for u in links[: ctx.max_details]))
    return res
