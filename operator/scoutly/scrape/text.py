"""Text helpers shared by sources: HTML to plain text, the one date parser, workplace words. Pure."""

from __future__ import annotations

import email.utils
import html as htmllib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from scoutly.scrape.models import Workplace

_WS = re.compile(r"[ \t\r\f\v]+")
_NL = re.compile(r"\n{3,}")
_BLOCK_TAGS = "p,div,li,br,h1,h2,h3,h4,h5,h6,tr,section,article,ul,ol"


def html_to_text(markup: str | None, *, unescape: bool = False, limit: int = 20_000) -> str:
    """Readable text of an HTML fragment; `unescape` first for entity-escaped HTML (Greenhouse)."""
    if not markup:
        return ""
    if unescape:
        markup = htmllib.unescape(markup)
    if "<" not in markup:
        return clean_text(markup, limit=limit)
    tree = LexborHTMLParser(markup)
    for node in tree.css("script,style,noscript,template"):
        node.decompose()
    for node in tree.css(_BLOCK_TAGS):
        node.insert_after("\n")
    root = tree.body or tree.root
    text = root.text(separator="", strip=False) if root is not None else ""
    return clean_text(text, limit=limit)


def clean_text(text: str, *, limit: int = 20_000) -> str:
    lines = [_WS.sub(" ", line).strip() for line in text.replace("\xa0", " ").split("\n")]
    out = _NL.sub("\n\n", "\n".join(lines)).strip()
    return out[:limit]


_MIN_YEAR, _MAX_YEAR = 1990, 2100
_TZ_WORD = re.compile(r"\s*(?:UTC|GMT|Z)$", re.IGNORECASE)
_DMY = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_RELATIVE = re.compile(
    r"^(?:posted\s+)?(?:(?P<today>today|just posted)|(?P<yesterday>yesterday)|"
    r"(?P<n>\d{1,3})\+?\s+days?\s+ago)$",
    re.IGNORECASE,
)


def parse_time(value: Any, *, now: datetime | None = None) -> datetime | None:
    """Every date format the sources send, as an aware UTC-based datetime; None for anything else.

    - epoch milliseconds or seconds, as a number or a digit string (Lever `createdAt`)
    - ISO-8601 dates and date-times, with `Z`, `+hh:mm`, `+hhmm` or no offset (naive = UTC), with or
      without fractions (Greenhouse, Ashby, SmartRecruiters, Personio, Workable, JSON-LD)
    - `YYYY-MM-DD HH:MM:SS UTC` (Recruitee)
    - RFC 2822 (`Wed, 01 Jul 2026 13:55:38 +0200`, HTTP dates)
    - `DD.MM.YYYY` (German career pages' JSON-LD)
    - Workday's relative `Posted Today`, `Posted Yesterday`, `Posted 3 Days Ago`, `Posted 30+ Days Ago`:
      only with `now` (the day it says, at midnight UTC; "30+" is a lower bound)
    Years outside 1990..2100 are rejected as garbage."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _epoch(value)
    if not isinstance(value, str):
        return None
    s = " ".join(value.split())
    if not s:
        return None
    if s.isdigit() and len(s) >= 9:
        return _epoch(int(s))
    return _checked(_iso(s) or _rfc2822(s) or _dmy(s) or _relative(s, now))


def _checked(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    dt = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt if _MIN_YEAR <= dt.year <= _MAX_YEAR else None


def _epoch(value: float) -> datetime | None:
    seconds = value / 1000 if value > 10_000_000_000 else value
    try:
        return _checked(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        return None


def _iso(s: str) -> datetime | None:
    text = _TZ_WORD.sub("+00:00", s, count=1)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _rfc2822(s: str) -> datetime | None:
    if "," not in s and not s[:1].isalpha():
        return None
    try:
        return email.utils.parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError):
        return None


def _dmy(s: str) -> datetime | None:
    m = _DMY.match(s)
    if not m:
        return None
    try:
        return datetime(int(m.group(3)), int(m.group(2)), int(m.group(1)), tzinfo=UTC)
    except ValueError:
        return None


def _relative(s: str, now: datetime | None) -> datetime | None:
    m = _RELATIVE.match(s)
    if not m or now is None:
        return None
    days = 0 if m.group("today") else 1 if m.group("yesterday") else int(m.group("n"))
    day = (now.astimezone(UTC) - timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def workplace_of(value: Any) -> Workplace:
    """The value of a field that states the workplace ("Remote", "Fully Remote", "Hybrid", "On-site",
    "OnSite", "on_site", "In office"); `unknown` for anything else ("Flexible", "unspecified")."""
    if not isinstance(value, str):
        return "unknown"
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", value).replace("_", " ").replace("-", " ").lower()
    if re.search(r"\bhybri[dt]\b", text):
        return "hybrid"
    if re.search(r"\b(remote|telecommut\w*|work from home|wfh)\b", text):
        return "remote"
    if re.search(r"\b(on ?site|in office|office|in person|on premises?)\b", text):
        return "onsite"
    return "unknown"


def workplace_in(*texts: str | None) -> Workplace:
    """`hybrid` or `remote` when free text (a location, an office name) says so, else `unknown`: text
    that names neither is no evidence of on-site work."""
    text = " ".join(t for t in texts if t).lower()
    if re.search(r"\bhybri[dt]\b", text):
        return "hybrid"
    if re.search(r"\b(remote|anywhere|work from home|home ?office|wfh|telecommute)\b", text):
        return "remote"
    return "unknown"


def as_number(value: Any) -> float | None:
    """A number, or a numeric string ("60000", "14.50", "1,200"); None for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return None
    return None


def as_str(value: Any, limit: int = 500) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        s = " ".join(str(value).split())
        return s[:limit] or None
    return None
