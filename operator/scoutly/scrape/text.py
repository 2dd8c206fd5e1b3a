"""Text helpers shared by sources: HTML to plain text, lenient dates. Pure."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, datetime
from typing import Any

from selectolax.lexbor import LexborHTMLParser

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


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 strings, dates, or epoch milliseconds/seconds; None for anything else."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def as_str(value: Any, limit: int = 500) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        s = " ".join(str(value).split())
        return s[:limit] or None
    return None
