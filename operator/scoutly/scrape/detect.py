"""Which source serves a career-page URL, and its board id. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from scoutly.scrape.models import SourceSpec


class DetectError(ValueError):
    """The URL or the explicit type/board cannot be turned into a source."""


@dataclass(frozen=True)
class SourceRef:
    """A detected source: `api` is the base URL its module calls (overridable for tests). A Workable job
    link (`apply.workable.com/j/<shortcode>`) names no account: `board` is empty and `extra["shortcode"]`
    set until `sources.resolve` has found the account (`pending`)."""

    type: str
    board: str
    url: str
    api: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return not self.board


_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_WORKDAY = re.compile(r"^(?P<tenant>[a-z0-9-]+)\.(?P<wd>wd\d+)\.myworkdayjobs\.com$", re.I)
_WORKDAY_SITE = re.compile(r"^wd\d+\.myworkdaysite\.com$", re.I)  # shared host: tenant in the path
_LOCALE = re.compile(r"^[a-z]{2}(-[A-Za-z]{2})?$")
_GREENHOUSE_HOSTS = (
    "boards.greenhouse.io",
    "job-boards.greenhouse.io",
    "boards.eu.greenhouse.io",
    "job-boards.eu.greenhouse.io",
)
_WORKABLE_NOT_ACCOUNTS = frozenset({"apply", "www", "jobs", "api", "help", "resources"})
_DEFAULT_API = {
    "greenhouse": "https://boards-api.greenhouse.io",
    "lever": "https://api.lever.co",
    "ashby": "https://api.ashbyhq.com",
    "workable": "https://apply.workable.com",
    "smartrecruiters": "https://api.smartrecruiters.com",
}


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _slug(value: str | None, what: str) -> str:
    if not value or not _SLUG.match(value):
        raise DetectError(f"no valid {what} in the URL")
    return value


def _guess(url: str) -> tuple[str, str | None, dict[str, str]]:
    """(type, board or None, extra) from the URL alone."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    segs = _segments(parts.path)
    first = segs[0] if segs else None
    if host in _GREENHOUSE_HOSTS:
        embed = parse_qs(parts.query).get("for")
        if embed:
            return "greenhouse", embed[0], {}
        return "greenhouse", first if first != "embed" else None, {}
    if host in ("jobs.lever.co", "jobs.eu.lever.co"):
        return "lever", first, {"eu": "1"} if host == "jobs.eu.lever.co" else {}
    if host == "jobs.ashbyhq.com":
        return "ashby", first, {}
    if host == "apply.workable.com":
        if first == "j" and len(segs) > 1:  # a job link: the account is found by resolving it
            return "workable", "", {"shortcode": segs[1]}
        return "workable", first, {}
    if host.endswith(".workable.com") and host.split(".")[0] not in _WORKABLE_NOT_ACCOUNTS:
        return "workable", host.split(".")[0], {}  # the older <account>.workable.com career sites
    if host in ("jobs.smartrecruiters.com", "careers.smartrecruiters.com", "www.smartrecruiters.com"):
        if first == "oneclick-ui" and "company" in segs[:-1]:
            return "smartrecruiters", segs[segs.index("company") + 1], {}
        return "smartrecruiters", first, {}
    if host.endswith(".recruitee.com"):
        return "recruitee", host.removesuffix(".recruitee.com"), {}
    if host.endswith((".jobs.personio.de", ".jobs.personio.com")):
        return "personio", host.split(".")[0], {}
    m = _WORKDAY.match(host)
    if m:
        site_segs = [s for s in segs if not _LOCALE.match(s)]
        site = site_segs[0] if site_segs else ""
        tenant = m.group("tenant").lower()
        public = f"https://{host}/{site}"
        return (
            "workday",
            f"{tenant}/{site}" if site else None,
            {"tenant": tenant, "site": site, "public": public},
        )
    if _WORKDAY_SITE.match(host):
        rest = [s for s in segs if not _LOCALE.match(s)]
        if len(rest) >= 3 and rest[0] == "recruiting":
            tenant, site = rest[1].lower(), rest[2]
            public = f"https://{host}/recruiting/{rest[1]}/{site}"
            return "workday", f"{tenant}/{site}", {"tenant": tenant, "site": site, "public": public}
        return "workday", None, {}
    return "jsonld", None, {}


def _default_api(type_: str, url: str, extra: dict[str, str], board: str) -> str:
    parts = urlsplit(url)
    if type_ == "lever" and extra.get("eu"):
        return "https://api.eu.lever.co"
    if type_ in _DEFAULT_API:
        return _DEFAULT_API[type_]
    if type_ == "recruitee":
        if parts.hostname and not parts.hostname.endswith(".recruitee.com") and board == parts.hostname:
            return f"https://{parts.hostname}"  # a careers site on the company's own domain
        return f"https://{board}.recruitee.com"
    if type_ == "personio":
        return f"https://{parts.hostname}" if parts.hostname else f"https://{board}.jobs.personio.de"
    return f"{parts.scheme}://{parts.netloc}"  # workday, jsonld, html: the page's own host


def detect(spec: SourceSpec, *, api_bases: dict[str, str] | None = None) -> SourceRef:
    """The source for `spec`: an explicit type/board wins over what the URL says."""
    url = spec.url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DetectError(f"not an http(s) URL: {url[:200]!r}")
    guessed, board, extra = _guess(url)
    type_ = spec.type or guessed
    if spec.type and spec.type != guessed:
        board, extra = None, {}
    board = spec.board or board
    if type_ in ("jsonld", "html"):
        board = board or f"{parts.hostname}{parts.path}".rstrip("/")
        extra = {"explicit": "1"} if spec.type else {}  # a page the user named as such is not sniffed
    elif type_ == "recruitee" and not board and parts.hostname:
        board = parts.hostname.lower()  # explicit type on the company's own domain: the host is the board
    elif type_ == "workable" and board == "" and extra.get("shortcode"):
        extra = {"shortcode": _slug(extra["shortcode"], "Workable job shortcode")}
    elif type_ == "workday":
        if board and not extra.get("site"):
            tenant, _, site = board.partition("/")
            extra = {"tenant": _slug(tenant, "Workday tenant"), "site": _slug(site, "Workday site")}
        if board and extra.get("site"):
            _slug(extra["tenant"], "Workday tenant")
            _slug(extra["site"], "Workday site")
        if not board or not extra.get("site"):
            raise DetectError(
                "a Workday URL needs https://<tenant>.wdN.myworkdayjobs.com/<site> or "
                "https://wdN.myworkdaysite.com/recruiting/<tenant>/<site>"
            )
    else:
        board = _slug(board, f"{type_} board")
    api = (api_bases or {}).get(type_) or _default_api(type_, url, extra, board)
    return SourceRef(type=type_, board=board, url=url, api=api.rstrip("/"), extra=extra)
