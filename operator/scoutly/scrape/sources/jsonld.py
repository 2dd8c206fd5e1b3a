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
from scoutly.scrape.models import EMPLOYMENT_TYPES, Salary
from scoutly.scrape.sources.base import SourceContext, SourceResult, dig, place
from scoutly.scrape.text import as_number, as_str, html_to_text, parse_time

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


def _place(loc: Any) -> str | None:
    addr = dig(loc, "address")
    if isinstance(addr, str):
        return addr
    if isinstance(loc, str):
        return loc
    country = dig(addr, "addressCountry")
    country = dig(country, "name") if isinstance(country, dict) else country
    return place(*(dig(addr, k) for k in ("addressLocality", "addressRegion")), country)


def _locations(jp: dict[str, Any]) -> list[str | None]:
    locs = jp.get("jobLocation")
    return [_place(loc) for loc in (locs if isinstance(locs, list) else [locs])]


def _salary(jp: dict[str, Any]) -> Salary | None:
    base = jp.get("baseSalary")
    if not isinstance(base, dict):
        return None
    value = base.get("value")
    lo = hi = None
    unit = None
    if isinstance(value, dict):
        lo, hi = as_number(value.get("minValue")), as_number(value.get("maxValue"))
        if lo is None and hi is None:
            lo = hi = as_number(value.get("value"))
        unit = as_str(value.get("unitText"))
    else:
        lo = hi = as_number(value)
    if lo is None and hi is None:
        return None
    return Salary(min=lo, max=hi, currency=as_str(base.get("currency"), 10), interval=unit)


def native_id(jp: dict[str, Any]) -> str | None:
    """The posting's own identifier: `identifier` as text, or a PropertyValue's `value`. Never its
    `name`: that is the issuing organisation (schema.org), the same on every posting of the employer."""
    ident = jp.get("identifier")
    if isinstance(ident, list):
        ident = next((i for i in ident if isinstance(i, dict | str | int)), None)
    if isinstance(ident, dict):
        ident = ident.get("value")
    return as_str(ident, 300)


def _employment(jp: dict[str, Any]) -> tuple[str | None, str | None]:
    """(schema.org type, label) of `employmentType` (a string or a list)."""
    raw = jp.get("employmentType")
    values = [v for v in (raw if isinstance(raw, list) else [raw]) if isinstance(v, str) and v.strip()]
    if not values:
        return None, None
    canonical = next((v.strip().upper() for v in values if v.strip().upper() in EMPLOYMENT_TYPES), None)
    return canonical, ", ".join(values)


def add_postings(res: SourceResult, ctx: SourceContext, found: list[tuple[dict[str, Any], str]]) -> None:
    """Add every (JobPosting, page URL). A posting without its own identifier, or whose identifier other
    postings (another URL and title) share, is keyed by its URL."""
    rows = []
    for jp, page_url in found:
        url = as_str(jp.get("url"), 2000)
        rows.append((jp, urljoin(page_url, url) if url else page_url, native_id(jp)))
    claims: dict[str, set[tuple[str, str | None]]] = {}
    for jp, url, ident in rows:
        if ident:
            claims.setdefault(ident, set()).add((url, as_str(jp.get("title"))))
    for jp, url, ident in rows:
        shared = ident is not None and len(claims[ident]) > 1
        etype, label = _employment(jp)
        loc_type = jp.get("jobLocationType")
        types = loc_type if isinstance(loc_type, list) else [loc_type]
        remote = any(isinstance(t, str) and t.upper() == "TELECOMMUTE" for t in types)
        res.add(
            ctx,
            url if shared or not ident else ident,
            title=as_str(jp.get("title")),
            locations=_locations(jp),
            workplace="remote" if remote else "unknown",
            department=as_str(jp.get("occupationalCategory")),
            employment_type=etype,
            employment_label=label,
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
        page = ctx.prefetched.get(ctx.ref.url) or await ctx.fetcher.get(ctx.ref.url, html=True)
        if isinstance(page, FetchError):
            raise page
    except FetchError as e:
        res.fail(f"list page: {e}")
        return res
    jps, errors, tree = extract(page.text(), "list page")
    res.errors.extend(errors)
    found = [(jp, ctx.ref.url) for jp in jps]
    listed = {urljoin(ctx.ref.url, u) for jp in jps if (u := as_str(jp.get("url"), 2000))}
    links = [u for u in job_links(tree, ctx.ref.url) if u not in listed]
    if len(links) > ctx.max_details:
        res.fail(f"{len(links) - ctx.max_details} detail pages over the cap skipped")
    pages: dict[str, list[dict[str, Any]]] = {}

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
        pages[url] = jps

    await asyncio.gather(*(detail(u) for u in links[: ctx.max_details]))
    found += [(jp, url) for url in links if url in pages for jp in pages[url]]  # page order, not finish order
    add_postings(res, ctx, found)
    return res
