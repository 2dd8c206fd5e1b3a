"""The normalised posting and the target spec a run receives. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from scoutly.api import models as api


class Salary(BaseModel):
    model_config = ConfigDict(frozen=True)
    min: float | None = None
    max: float | None = None
    currency: str | None = Field(None, max_length=10)
    interval: str | None = Field(None, max_length=20)
    text: str | None = Field(None, max_length=300)


Workplace = Literal["remote", "hybrid", "onsite", "unknown"]
"""Where the work happens: fully `remote`, `hybrid` (some days on site), `onsite`, or `unknown` when the
service does not say (absence of a remote flag is not taken to mean on-site)."""

EmploymentType = Literal[
    "FULL_TIME", "PART_TIME", "CONTRACTOR", "TEMPORARY", "INTERN", "VOLUNTEER", "PER_DIEM", "OTHER"
]
"""schema.org's JobPosting.employmentType vocabulary; the service's own words stay in `employment_label`."""

MAX_LOCATIONS = 50
_SEP = "; "


class Posting(BaseModel):
    """One job posting as every source reports it. `content_hash` covers what a candidate reads.

    `locations` is every place the posting is open in, one entry per place as the service names it (first
    the primary one, no duplicates); `location` is the same list joined with "; " for display and for the
    prefilter. `workplace` is the authority on remote work; `remote` is derived from it (True: remote,
    False: hybrid or on-site, None: unknown). `employment_type` is normalised from `employment_label` unless
    the service states it in schema.org terms already."""

    model_config = ConfigDict(frozen=True)
    source: str
    board: str = Field(min_length=1, max_length=300)
    native_id: str = Field(min_length=1, max_length=300)
    title: str = Field(min_length=1, max_length=500)
    locations: tuple[str, ...] = ()
    location: str | None = Field(None, max_length=500)
    workplace: Workplace = "unknown"
    remote: bool | None = None
    department: str | None = Field(None, max_length=300)
    employment_type: EmploymentType | None = None
    employment_label: str | None = Field(None, max_length=100)
    salary: Salary | None = None
    url: str | None = Field(None, max_length=2000)
    description: str = ""
    posted_at: datetime | None = None
    updated_at: datetime | None = None
    content_hash: str = ""

    @model_validator(mode="before")
    @classmethod
    def _derive(cls, data: Any) -> Any:
        """Fill the derived fields from the authoritative ones (and accept the older single-field forms:
        a lone `location`, a lone `remote` flag, a free-text `employment_type`)."""
        if not isinstance(data, dict):
            return data
        d = dict(data)
        locs = d.get("locations")
        if locs is None or (isinstance(locs, list | tuple) and not locs):
            single = clean_location(d.get("location"))
            locs = [single] if single else []
        d["locations"] = unique_locations(locs if isinstance(locs, list | tuple) else [])
        d["location"] = join_locations(d["locations"])
        if d.get("workplace") in (None, "unknown") and isinstance(d.get("remote"), bool):
            d["workplace"] = "remote" if d["remote"] else "onsite"
        wp = d.get("workplace") or "unknown"
        d["remote"] = True if wp == "remote" else False if wp in ("hybrid", "onsite") else None
        label, etype = d.get("employment_label"), d.get("employment_type")
        if isinstance(etype, str) and etype not in EMPLOYMENT_TYPES:
            label, etype = label or etype, None
        label = " ".join(label.split())[:100] if isinstance(label, str) else ""
        d["employment_label"] = label = label or None
        d["employment_type"] = etype or employment_type_of(label)
        return d

    @field_validator("title", "department", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = " ".join(v.split())
            return v or None
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        return str(HttpUrl(v))  # only http(s) URLs are stored

    def model_post_init(self, __context: Any) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self))

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.board, self.native_id)


EMPLOYMENT_TYPES: frozenset[str] = frozenset(get_args(EmploymentType))
# Service labels, lower-cased with `_`/`-` as spaces and CamelCase split ("FullTime" -> "full time").
# The first kind named in a label wins ("fulltime_fixed_term" -> FULL_TIME); a contract that is only called
# permanent or regular is full-time unless the label also names a schedule ("permanent, part-time").
_EMPLOYMENT_WORDS: tuple[tuple[str, str], ...] = (
    ("FULL_TIME", r"full ?time|vollzeit"),
    ("PART_TIME", r"part ?time|teilzeit|working student|werkstudent"),
    ("CONTRACTOR", r"contract(?:or)?|freelanc\w*|consultant"),
    ("TEMPORARY", r"temporary|temp|fixed term|seasonal|befristet"),
    ("INTERN", r"intern(?:ship)?|trainee(?:ship)?|apprentice(?:ship)?|praktikum|co ?op"),
    ("VOLUNTEER", r"volunteer\w*"),
    ("PER_DIEM", r"per ?diem"),
    ("OTHER", r"other"),
)
_EMPLOYMENT_RE = re.compile(
    "|".join(rf"(?P<{kind}>\b(?:{words})\b)" for kind, words in _EMPLOYMENT_WORDS), re.IGNORECASE
)

_PERMANENT_RE = re.compile(r"\b(?:permanent|regular|unbefristet)\b", re.IGNORECASE)


def employment_type_of(label: str | None) -> EmploymentType | None:
    """The schema.org employment type a service label names, or None."""
    if not label:
        return None
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", label).replace("_", " ").replace("-", " ")
    m = _EMPLOYMENT_RE.search(text)
    if m is None:
        return "FULL_TIME" if _PERMANENT_RE.search(text) else None
    return next(cast("EmploymentType", kind) for kind, hit in m.groupdict().items() if hit)


def clean_location(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split()).strip(" ,;")
    return text[:300] or None


def unique_locations(values: Any) -> tuple[str, ...]:
    """Cleaned, de-duplicated (case-insensitively), in order, at most MAX_LOCATIONS."""
    out: dict[str, str] = {}
    for v in values:
        text = clean_location(v)
        if text and text.casefold() not in out:
            out[text.casefold()] = text
    return tuple(out.values())[:MAX_LOCATIONS]


def join_locations(locations: tuple[str, ...]) -> str | None:
    """The display string: every location that fits in 500 characters, then how many more."""
    text = ""
    for i, loc in enumerate(locations):
        more = f" (+{len(locations) - i} more)"
        candidate = f"{text}{_SEP if text else ''}{loc}"
        if len(candidate) + (len(more) if i < len(locations) - 1 else 0) > 500:
            return (text + more)[:500] if text else loc[:500]
        text = candidate
    return text or None


def content_hash(p: Posting) -> str:
    """Hash of the fields a reader sees; timestamps and URLs are left out so a re-publish is no change.
    The body keeps the shape older versions hashed (`remote`, the service's employment label) so that a
    posting whose visible content did not change keeps its hash, and with it its stored verdicts; only a
    fact `remote` cannot express (hybrid) adds a key."""
    body: dict[str, Any] = {
        "title": p.title,
        "location": p.location,
        "remote": p.remote,
        "department": p.department,
        "employment_type": p.employment_label,
        "salary": p.salary.model_dump() if p.salary else None,
        "description": p.description,
    }
    if p.workplace == "hybrid":
        body["workplace"] = "hybrid"
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


# The spec a run receives is the CRD's own model, sliced (api/models.py): one set of limits for both.
SourceSpec = api.JobSource
TargetSpec = api.JobTargetSpec
