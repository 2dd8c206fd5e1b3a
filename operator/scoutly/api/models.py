"""ScrapeTarget (scoutly.io/v1alpha1): the typed models, the one source of truth for the CRD schema.

Field names are the API's (camelCase). Constraints here become OpenAPI validation in the CRD
(api/crd.py), so `kubectl apply` of a bad object fails at the API server; the controller re-validates
with the same models and reports instead of crashing.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

GROUP = "scoutly.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ScrapeTarget"
PLURAL = "scrapetargets"
SINGULAR = "scrapetarget"
SHORT_NAMES = ["st"]

# Go duration syntax (what kubectl users know from CronJob/Deployment fields), e.g. 6h, 90m, 1h30m.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$"
LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"

SCRAPE_NOW_ANNOTATION = "scoutly.io/scrape-now"


# Label keys the operator sets or the Job controller owns: a target may not set (or shadow) them.
RESERVED_LABEL_PREFIXES = ("scoutly.io/", "batch.kubernetes.io/")
RESERVED_LABEL_KEYS = ("job-name", "controller-uid", "app.kubernetes.io/managed-by")
# A valid label key for CEL: optional DNS-subdomain prefix, then a name of at most 63 characters.
LABEL_KEY_CEL_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


def label_key_error(key: str) -> str | None:
    """Why `key` cannot be a label a target adds to its Job, or None."""
    prefix, _, name = key.rpartition("/")
    if not re.match(LABEL_KEY_PATTERN, key) or len(name) > 63 or len(prefix) > 253:
        return f"{key!r} is not a valid label key ([prefix/]name, name at most 63 characters)"
    if key in RESERVED_LABEL_KEYS or any(key.startswith(p) for p in RESERVED_LABEL_PREFIXES):
        return (
            f"{key!r} is reserved (scoutly.io/, batch.kubernetes.io/, job-name, controller-uid, managed-by)"
        )
    return None


LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]
# Keys are checked by CEL in the CRD (api/crd.py) and again here for objects stored before it.
LabelKey = Annotated[str, Field(max_length=317, pattern=LABEL_KEY_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=True)


class SourceType(StrEnum):
    greenhouse = "greenhouse"
    lever = "lever"
    ashby = "ashby"
    workable = "workable"
    smartrecruiters = "smartrecruiters"
    recruitee = "recruitee"
    personio = "personio"
    workday = "workday"
    jsonld = "jsonld"
    html = "html"


class Source(_Model):
    """Where the company's postings are. The type is detected from the URL when absent."""

    url: Annotated[
        str,
        Field(
            min_length=8,
            max_length=2048,
            pattern=URL_PATTERN,
            description="Careers page or job-board URL (http or https).",
        ),
    ]
    type: SourceType | None = Field(None, description="Job-board type; detected from the URL when absent.")
    board: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9._~-]+$",
        description="Board/tenant token when the URL does not carry it.",
    )


class Tracker(_Model):
    """A user who follows this company, with their rank for it."""

    user: Annotated[str, Field(min_length=1, max_length=128, description="User id in the app.")]
    rank: Annotated[int, Field(ge=0, le=100, description="The user's rank for this company, 0..100.")]


# A Kubernetes resource quantity (k8s.io/apimachinery resource.Quantity), non-negative: "100m", "0.5",
# "512Mi", "1e3", or a bare integer. The CRD checks it with CEL isQuantity() (api/crd.py).
QUANTITY_PATTERN = r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"


def _quantity(v: int | str | None) -> str | None:
    if v is None:
        return None
    text = str(v)
    if isinstance(v, bool) or (isinstance(v, int) and v < 0) or not re.match(QUANTITY_PATTERN, text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 100m, 0.5, 512Mi)")
    return text


class ResourceList(_Model):
    cpu: int | str | None = Field(None, description="CPU quantity, e.g. 100m or 1.")
    memory: int | str | None = Field(None, description="Memory quantity, e.g. 512Mi.")

    @field_validator("cpu", "memory")
    @classmethod
    def _check(cls, v: int | str | None) -> str | None:
        return _quantity(v)


class Resources(_Model):
    requests: ResourceList | None = None
    limits: ResourceList | None = None


# What a target may put in the scrape container's environment: an allow-list, because the scrape's own
# settings (SCOUTLY_*, OPENAI_*), proxies (*_PROXY), the interpreter (PYTHON*) and the loader (LD_*) are
# all read from it. Everything that steers a scrape comes from the operator (docs/security.md).
ENV_ALLOWED_PATTERN = r"^(TZ|LANG|LANGUAGE|LC_[A-Z]+)$"
ENV_ALLOWED_MESSAGE = (
    "may only be TZ, LANG, LANGUAGE or LC_*: the scrape's settings (SCOUTLY_*, OPENAI_*, *_PROXY, ...) "
    "are the operator's (docs/security.md)"
)


class EnvVar(_Model):
    """A plain environment variable for the scrape container: only TZ, LANG, LANGUAGE and LC_*."""

    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=128,
            pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
            description="TZ, LANG, LANGUAGE or LC_*; every other name is refused.",
            json_schema_extra={
                "x-kubernetes-validations": [
                    {
                        "rule": f"self.matches('{ENV_ALLOWED_PATTERN}')",
                        "message": f"spec.jobTemplate.env[].name {ENV_ALLOWED_MESSAGE}",
                    }
                ]
            },
        ),
    ]
    value: Annotated[str, Field(max_length=4096)] = ""

    @field_validator("name")
    @classmethod
    def _allowed(cls, v: str) -> str:
        if not re.match(ENV_ALLOWED_PATTERN, v):
            raise ValueError(f"{v!r} {ENV_ALLOWED_MESSAGE}")
        return v


class JobTemplate(_Model):
    """Per-target overrides of the scrape Job."""

    image: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        pattern=r"^[^\s]+$",
        description="Container image; defaults to the operator's setting.",
    )
    resources: Resources | None = None
    env: list[EnvVar] = Field(default_factory=list, max_length=32)
    backoffLimit: int | None = Field(None, ge=0, le=10, description="Pod retries inside one Job.")
    activeDeadlineSeconds: int | None = Field(
        None, ge=10, le=86400, description="Time limit of one scrape Job."
    )
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=16,
        description="Extra labels on the Job and its pod, e.g. kueue.x-k8s.io/queue-name; keys under "
        "scoutly.io/ and batch.kubernetes.io/ are refused.",
    )

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            error = label_key_error(key)
            if error:
                raise ValueError(error)
        return v


class ScrapeTargetSpec(_Model):
    company: Annotated[str, Field(min_length=1, max_length=200, description="Company display name.")]
    companyId: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Key into the app's companies collection.",
    )
    source: Source
    rank: Annotated[
        int, Field(ge=0, le=100, description="Priority 0..100: drives cooldown and dispatch order.")
    ] = 50
    cooldown: str | None = Field(
        None,
        max_length=32,
        pattern=DURATION_PATTERN,
        description="Override of the rank-based cooldown (Go duration).",
    )
    suspend: bool = Field(False, description="Stop scheduling new scrapes; running ones finish.")
    trackers: list[Tracker] = Field(
        default_factory=list,
        max_length=1000,
        description="Users following this company; effective rank = max.",
    )
    jobTemplate: JobTemplate | None = None


class JobRef(_Model):
    name: str
    uid: str | None = None


class LastJob(_Model):
    name: str
    result: str = Field(description="Succeeded or Failed")
    reason: str | None = None
    start: datetime | None = None
    finish: datetime | None = None
    postingsFound: int | None = None
    postingsNew: int | None = None
    matches: int | None = None
    tokens: int | None = None
    message: str | None = Field(None, max_length=1024)


class Condition(_Model):
    type: str
    status: str
    reason: str
    message: str = ""
    lastTransitionTime: datetime
    observedGeneration: int | None = None


class Phase(StrEnum):
    Idle = "Idle"
    Scheduled = "Scheduled"
    Running = "Running"
    Succeeded = "Succeeded"
    Failed = "Failed"
    Suspended = "Suspended"


class ScrapeTargetStatus(_Model):
    phase: Phase | None = None
    effectiveRank: int | None = None
    cooldown: str | None = Field(None, description="The cooldown in force (Go duration).")
    lastScheduleTime: datetime | None = None
    lastSuccessfulScrape: datetime | None = None
    lastFailureTime: datetime | None = None
    nextScrapeTime: datetime | None = None
    active: list[JobRef] = Field(default_factory=list)
    lastJob: LastJob | None = None
    consecutiveFailures: int = 0
    lastManualTrigger: str | None = Field(None, description="The last handled scoutly.io/scrape-now token.")
    observedGeneration: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


def parse_spec(raw: Any) -> ScrapeTargetSpec:
    """Validate a spec from the API server (raises pydantic.ValidationError with field paths)."""
    return ScrapeTargetSpec.model_validate(raw)
