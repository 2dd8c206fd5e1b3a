"""A candidate's CV text: the document the app links with `users.cvUrl`, fetched through the scrape's
guarded Fetcher (SSRF checks, size cap, retries) and read with pypdf.

The app stores a Google Drive share link there and downloads it as
`https://drive.google.com/uc?export=download&id=<file id>` (src/utils/cvProcessor.ts); other http(s)
links are fetched as they are. The document is untrusted: only PDFs (or plain text) are read, at most
`max_pages` pages and `max_chars` characters of text.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from scoutly.scrape.fetch import Fetcher, FetchError

DRIVE_HOST = "drive.google.com"
_DRIVE_FILE = re.compile(r"^/file/d/([A-Za-z0-9_-]+)")


class CvError(Exception):
    """The CV could not be read; the message says why (no content of the CV in it)."""


@dataclass(frozen=True)
class Cv:
    text: str
    sha256: str


def download_url(cv_url: str) -> str:
    """The URL that serves the document itself: Drive share links become their download link."""
    parts = urlsplit(cv_url.strip())
    if parts.hostname == DRIVE_HOST:
        m = _DRIVE_FILE.match(parts.path)
        ids = parse_qs(parts.query).get("id") or []
        file_id = m.group(1) if m else (ids[0] if ids else None)
        if file_id and re.fullmatch(r"[A-Za-z0-9_-]+", file_id):
            return f"https://{DRIVE_HOST}/uc?export=download&id={file_id}"
    return cv_url.strip()


def _clean(text: str, max_chars: int) -> str:
    return " ".join(text.split())[:max_chars]


def pdf_text(data: bytes, *, max_pages: int, max_chars: int) -> str:
    """The text of a PDF's first `max_pages` pages, whitespace folded, cut at `max_chars`. Pure."""
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed-but-readable files warn per object
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise CvError("the PDF is encrypted")
        parts: list[str] = []
        size = 0
        for page in reader.pages[:max_pages]:
            chunk = page.extract_text() or ""
            parts.append(chunk)
            size += len(chunk)
            if size >= max_chars:
                break
    except CvError:
        raise
    except Exception as e:  # pypdf raises many kinds on hostile input
        raise CvError(f"unreadable PDF: {type(e).__name__}") from e
    text = _clean(" ".join(parts), max_chars)
    if not text:
        raise CvError("the PDF has no extractable text (a scan?)")
    return text


async def fetch_cv(fetcher: Fetcher, cv_url: str, *, max_pages: int, max_chars: int) -> Cv:
    """Fetch and read the CV; CvError with a short reason otherwise."""
    url = download_url(cv_url)
    try:
        resp = await fetcher.get(url)
    except FetchError as e:
        raise CvError(f"fetch failed: {e.reason}") from e
    body = resp.body
    digest = hashlib.sha256(body).hexdigest()
    if body.lstrip()[:5] == b"%PDF-":
        text = await asyncio.to_thread(pdf_text, body, max_pages=max_pages, max_chars=max_chars)
    elif resp.headers.get("content-type", "").split(";")[0].strip() == "text/plain":
        text = _clean(resp.text(), max_chars)
    else:
        raise CvError(f"not a PDF (content-type {resp.headers.get('content-type', 'none')[:60]})")
    return Cv(text=text, sha256=digest)
