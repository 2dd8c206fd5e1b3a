"""The normalised posting and the target spec a run receives. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from scoutly.scrape.settings import SOURCE_TYPES


class Salary(BaseModel):
    model_config = ConfigDict(frozen=True)
    min: float | None = None
    max: float | None = None
    currency: str | None = Field(None, max_length=10)
    interval: str | None = Field(None, max_length=20)
    text: str | None = Field(None, max_length=300)


class Posting(BaseModel):
    """One job posting as every source reports it. `content_hash` covers what a candidate reads."""

    model_config = ConfigDict(frozen=True)
    source: str
    board: str = Field(min_length=1, max_length=300)
    native_id: str = Field(min_length=1, max_length=300)
    title: str = Field(min_length=1, max_length=500)
    location: str | None = Field(None, max_length=500)
    remote: bool | None = None
    department: str | None = Field(None, max_length=300)
    employment_type: str | None = Field(None, max_length=100)
    salary: Salary | None = None
    url: str | None = Field(None, max_length=2000)
    description: str = ""
    posted_at: datetime | None = None
    updated_at: datetime | None = None
    content_hash: str = ""

    @field_validator("title", "location", "department", "employment_type", mode="before")
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


def content_hash(p: Posting) -> str:
    """Hash of the fields a reader sees; timestamps and URLs are left out so a re-publish is no change."""
    body = {
        "title": p.title,
        "location": p.location,
        "remote": p.remote,
        "department": p.department,
        "employment_type": p.employment_type,
        "salary": p.salary.model_dump() if p.salary else None,
        "description": p.description,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str = Field(min_length=1, max_length=2000)
    type: str | None = None
    board: str | None = Field(None, max_length=300)

    @field_validator("type")
    @classmethod
    def _type(cls, v: str | None) -> str | None:
        if v is not None and v not in SOURCE_TYPES:
            raise ValueError(f"unknown source type {v!r}")
        return v


class Tracker(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user: str = Field(min_length=1, max_length=200)
    rank: int = 0


class TargetSpec(BaseModel):
    """The slice of the ScrapeTarget spec a run reads (SCOUTLY_TARGET_SPEC); unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    company: str = Field("", max_length=300)
    company_id: str | None = Field(None, alias="companyId", max_length=200)
    source: SourceSpec
    trackers: list[Tracker] = Field(default_factory=list)
