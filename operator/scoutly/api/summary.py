"""The run summary a scrape container writes as its termination message (docs/architecture.md).

The controller treats it as untrusted input: size-capped, validated, unknown keys ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scoutly.api.models import SourceType

MAX_MESSAGE_BYTES = 4096  # the kubelet's own cap on termination messages


class TokenCounts(BaseModel):
    model_config = ConfigDict(extra="ignore")
    prompt: int = Field(0, ge=0)
    completion: int = Field(0, ge=0)
    cached: int = Field(0, ge=0)

    @property
    def total(self) -> int:
        return self.prompt + self.completion


class QualityJump(BaseModel):
    """The share of postings lacking `field` rose from `before` to `after` since the board's last run."""

    model_config = ConfigDict(extra="ignore")
    field: Literal["title", "url", "location", "date"]
    before: float = Field(ge=0, le=1)
    after: float = Field(ge=0, le=1)


class PostingQuality(BaseModel):
    """How many of the rows a source listed lack a title (dropped), a URL, a location (remote postings
    need none) or a date; `jumps` names the shares that rose sharply since the previous run."""

    model_config = ConfigDict(extra="ignore")
    source: SourceType
    rows: int = Field(0, ge=0)
    missingTitle: int = Field(0, ge=0)
    missingUrl: int = Field(0, ge=0)
    missingLocation: int = Field(0, ge=0)
    missingDate: int = Field(0, ge=0)
    jumps: list[QualityJump] = Field(default_factory=list, max_length=4)


class RunSummary(BaseModel):
    model_config = ConfigDict(extra="ignore")
    postingsFound: int = Field(0, ge=0)
    postingsNew: int = Field(0, ge=0)
    postingsChanged: int = Field(0, ge=0)
    postingsClosed: int = Field(0, ge=0)
    candidates: int = Field(0, ge=0)
    matches: int = Field(0, ge=0)
    tokens: TokenCounts = Field(default_factory=TokenCounts)
    model: str | None = Field(None, max_length=200)
    durationSeconds: float | None = Field(None, ge=0)
    errors: list[str] = Field(default_factory=list, max_length=50)
    message: str | None = Field(None, max_length=1024)
    quality: PostingQuality | None = None
    notModified: bool = False


def parse_summary(raw: str | None) -> tuple[RunSummary | None, str | None]:
    """(summary, None) when the message is a valid summary; (None, why) otherwise."""
    if not raw or not raw.strip():
        return None, None
    if len(raw.encode()) > MAX_MESSAGE_BYTES:
        return None, "termination message too large"
    text = raw.strip().splitlines()[-1]  # FallbackToLogsOnError may prepend log lines
    try:
        return RunSummary.model_validate_json(text), None
    except ValidationError as e:
        return None, f"termination message is not a run summary: {e.errors()[0]['msg']}"
