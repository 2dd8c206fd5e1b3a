"""Personio XML feed (`GET {site}/xml?language=en`: <workzag-jobs><position>); an empty feed means the
company is not hiring. `<office>` is the primary place, `<additionalOffices><office>` the others; some
companies list "Remote" or "Hybrid" there as if it were an office (it is the workplace, not a place).
`<employmentType>` (permanent, intern, trainee, freelance, temporary, working_student) and `<schedule>`
(full-time, part-time, full-or-part-time) together say the employment type.

DTDs are refused outright: no entity expansion of untrusted XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from scoutly.scrape.fetch import FetchError
from scoutly.scrape.models import EmploymentType, Salary, Workplace
from scoutly.scrape.sources.base import SourceContext, SourceResult, get_listing
from scoutly.scrape.text import as_number, clean_text, html_to_text, parse_time, workplace_in

_CONTRACTS: dict[str, EmploymentType] = {
    "intern": "INTERN",
    "trainee": "INTERN",
    "freelance": "CONTRACTOR",
    "temporary": "TEMPORARY",
    "working_student": "PART_TIME",
}


def _text(el: ET.Element, tag: str) -> str | None:
    child = el.find(tag)
    if child is None or child.text is None:
        return None
    return " ".join(child.text.split()) or None


def _employment(contract: str | None, schedule: str | None) -> EmploymentType | None:
    if contract in _CONTRACTS:
        return _CONTRACTS[contract]
    if schedule == "full-time":
        return "FULL_TIME"
    if schedule == "part-time":
        return "PART_TIME"
    return "FULL_TIME" if contract == "permanent" and not schedule else None


_NOT_PLACES = frozenset(
    {"remote", "hybrid", "home office", "homeoffice", "anywhere", "fully remote", "remote work"}
)


def _places(pos: ET.Element) -> tuple[list[str], Workplace]:
    offices = [_text(pos, "office")]
    extra = pos.find("additionalOffices")
    if extra is not None:
        offices += [" ".join((o.text or "").split()) or None for o in extra.iter("office")]
    places = [o for o in offices if o and o.lower() not in _NOT_PLACES]
    marked = {workplace_in(o) for o in offices if o} - {"unknown"}
    if "hybrid" in marked:
        return places, "hybrid"
    return places, "remote" if marked else "unknown"


def _salary(pos: ET.Element) -> Salary | None:
    info = pos.find("salaryInformation")
    if info is None:
        return None

    lo, hi = as_number(_text(info, "min")), as_number(_text(info, "max"))
    if lo is None and hi is None:
        return None
    currency = _text(info, "currencyCode") or _text(info, "currencySymbol")
    return Salary(
        min=lo,
        max=hi,
        currency=(currency or "")[:10] or None,
        interval=(_text(info, "type") or "")[:20] or None,
    )


async def fetch(ctx: SourceContext) -> SourceResult:
    res = SourceResult()
    try:
        resp = await get_listing(ctx, res, f"{ctx.ref.api}/xml?language=en")
        if resp is None:
            return res
        body = resp.body
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
            if body_text or name:
                descs.append(f"{name}\n{body_text}" if name else body_text)
        pid = _text(pos, "id")
        contract, schedule = _text(pos, "employmentType"), _text(pos, "schedule")
        places, workplace = _places(pos)
        res.add(
            ctx,
            pid,
            title=_text(pos, "name"),
            locations=places,
            workplace=workplace,
            department=_text(pos, "department"),
            employment_type=_employment(contract, schedule),
            employment_label=", ".join(x for x in (contract, schedule) if x) or None,
            salary=_salary(pos),
            url=f"{origin}/job/{pid}" if pid else None,
            description=clean_text("\n\n".join(descs), limit=ctx.description_limit),
            posted_at=parse_time(_text(pos, "createdAt")),
        )
    return res
