"""The run summary a scrape container writes as its termination message (docs/architecture.md).

The controller treats it as untrusted input: size-capped, validated, unknown keys ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_MESSAGE_BYTES = 4096  # the kubelet's own cap on termination messages


class TokenCounts(BaseModel):
    model_config = ConfigDict(extra="ignore")
    prompt: int = Field(0, ge=0)
    completion: int = Field(0, ge=0)
    cached: int = Field(0, ge=0)

    @property
    def total(self) -> int:
        return self.prompt + self.completion


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
