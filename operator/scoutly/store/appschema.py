"""The Scoutly app's documents as its Mongoose models store them, written out as pydantic models.

Derived by hand from `src/models/*.ts` of github.com/judithsanchez/scoutly (commits in `SOURCES`), not
generated from them. They check what the operator writes into the app's collections (at run time before
an insert, and in the tests for every document of a whole run) and describe what it reads.

What a Mongoose schema means for a stored document, and so what these models check:
- `required: true` on a String fails on a missing value, null and the empty string; on an array only on
  a missing value or null (arrays default to []); on a Number or Date on a missing value or null.
- Types are checked as stored, strictly: an ObjectId is a BSON ObjectId (not its hex string), a Date a
  BSON date (datetime), a String a str, a Number an int or float but never a bool.
- Enums keep the app's casing (`pending`, not `PENDING`).
- `timestamps: true` means the app's documents carry `createdAt` and `updatedAt`; Mongoose adds `__v`.
- Fields the schema does not know are ignored by Mongoose on read (strict mode), so the operator may add
  its own (`extra="allow"`); it may never drop or retype one of the app's.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from bson import ObjectId
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

APP_REPO = "judithsanchez/scoutly"
APP_HEAD = "ad33adeff18ae98731f14fc8979bb1ddc7519a8c"  # the newest commit read (2025-07-20)
ENGINE_COMMIT = "3dd3bb321e0bc74777db567e96909b422c46daf4"  # the Phase 2 scheduler/worker, deleted after it

# collection -> (model file, the commit that last changed it)
SOURCES: dict[str, tuple[str, str]] = {
    "companies": ("src/models/Company.ts", "041d8a9d20f751d91da31bb0705d3797e207d637"),
    "users": ("src/models/User.ts", "da5a0fdedd20722f0631bc540efd66b651084727"),
    "usercompanypreferences": (
        "src/models/UserCompanyPreference.ts",
        "1694450e2be47ae072dff1e4e7b18fdd04580cf4",
    ),
    "jobqueues": ("src/models/JobQueue.ts", "0cd8d89732a45ffc69fe6f9626306c80b92b8de1"),
    "savedjobs": ("src/models/SavedJob.ts", "e459a4228d28708d910f952877bd6bd06bb63688"),
    "tokenusages": ("src/models/TokenUsage.ts", "4428514598f4c8d39c68f77b274c7fc453dd4a97"),
    "logs": ("src/models/Log.ts", "3cc8841823645d706fc35d5f0e8e91c618aa93bd"),
}
# older generations the operator still reads
LEGACY_SOURCES: dict[str, tuple[str, str]] = {
    "savedjobs (user/company)": ("src/models/SavedJob.ts", "135a55dd852bfe26c3f1549cc88a1cbbb20e7e58"),
    "users (no userId, trackedCompanies)": (
        "src/models/User.ts",
        "8a926efa4a2135d4251957006c8a093bf545ef31",
    ),
}


def _is_oid(v: Any) -> Any:
    if not isinstance(v, ObjectId):
        raise ValueError(f"expected an ObjectId, got {type(v).__name__}")
    return v


def _is_date(v: Any) -> Any:
    if not isinstance(v, datetime):
        raise ValueError(f"expected a Date, got {type(v).__name__}")
    return v


Oid = Annotated[ObjectId, BeforeValidator(_is_oid)]
Date = Annotated[datetime, BeforeValidator(_is_date)]
Num = StrictInt | StrictFloat
ReqStr = Annotated[StrictStr, Field(min_length=1)]  # Mongoose's required fails on ""


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True, strict=True)


class _Sub(BaseModel):
    """A nested schema: the app's own keys only matter; unknown ones are dropped by Mongoose."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True, strict=True)


class _Stamped(_Doc):
    """`timestamps: true`: Mongoose sets both on create and `updatedAt` on every update."""

    id_: Oid = Field(alias="_id")
    createdAt: Date
    updatedAt: Date
    v: StrictInt | None = Field(None, alias="__v", ge=0)


# -- companies ----------------------------------------------------------------------------------------
class WorkModel(StrEnum):
    FULLY_REMOTE = "FULLY_REMOTE"
    HYBRID = "HYBRID"
    IN_OFFICE = "IN_OFFICE"


class Company(_Stamped):
    collection: ClassVar[str] = "companies"
    companyID: ReqStr
    company: ReqStr
    careers_url: ReqStr
    selector: StrictStr = ""
    work_model: WorkModel = Field(strict=False)
    headquarters: ReqStr
    office_locations: list[StrictStr] = Field(default_factory=list)
    fields: list[StrictStr] = Field(default_factory=list)
    openToApplication: StrictBool
    lastSuccessfulScrape: Date | None = None
    isProblematic: StrictBool = False
    scrapeErrors: list[Oid] = Field(default_factory=list)


# -- users --------------------------------------------------------------------------------------------
class CurrentResidence(_Sub):
    city: StrictStr | None = None
    country: StrictStr | None = None
    countryCode: StrictStr | None = None
    timezone: StrictStr | None = None


class WorkAuthorization(_Sub):
    region: StrictStr | None = None
    regionCode: StrictStr | None = None
    status: StrictStr | None = None


class Logistics(_Sub):
    currentResidence: CurrentResidence | None = None
    willingToRelocate: StrictBool | None = None
    workAuthorization: list[WorkAuthorization] = Field(default_factory=list)


class Language(_Sub):
    language: StrictStr | None = None
    level: StrictStr | None = None


class Exclusions(_Sub):
    industries: list[StrictStr] = Field(default_factory=list)
    technologies: list[StrictStr] = Field(default_factory=list)
    roleTypes: list[StrictStr] = Field(default_factory=list)


class Preferences(_Sub):
    careerGoals: list[StrictStr] = Field(default_factory=list)
    jobTypes: list[StrictStr] = Field(default_factory=list)
    workEnvironments: list[StrictStr] = Field(default_factory=list)
    companySizes: list[StrictStr] = Field(default_factory=list)
    exclusions: Exclusions | None = None


class CandidateInfo(_Sub):
    logistics: Logistics | None = None
    languages: list[Language] = Field(default_factory=list)
    preferences: Preferences | None = None


class User(_Stamped):
    """The newer generation (421db4a and later): a `userId` ObjectId beside `_id`."""

    collection: ClassVar[str] = "users"
    userId: Oid
    email: ReqStr
    cvUrl: StrictStr | None = None
    candidateInfo: CandidateInfo | None = None


class TrackedCompany(_Sub):
    companyID: ReqStr
    ranking: Num = Field(ge=0, le=100)


class LegacyUser(_Stamped):
    """The older generation: no `userId`; `trackedCompanies` until 0cd8d89 (ignored: stale)."""

    collection: ClassVar[str] = "users"
    email: ReqStr
    cvUrl: StrictStr | None = None
    candidateInfo: CandidateInfo | None = None
    trackedCompanies: list[TrackedCompany] = Field(default_factory=list)


# -- usercompanypreferences ---------------------------------------------------------------------------
class UserCompanyPreference(_Stamped):
    """`userId` is a String: `String(users._id)` in the older app (the 3dd3bb3 scheduler queries
    `{userId: user._id}`, which Mongoose casts), `String(users.userId)` in the newer one (useCompanies)."""

    collection: ClassVar[str] = "usercompanypreferences"
    userId: ReqStr
    companyId: Oid
    rank: Num = Field(ge=1, le=100)
    isTracking: StrictBool
    frequency: Literal["Daily", "Every 2 days", "Weekly", "Bi-weekly", "Monthly"] | None = None


# -- jobqueues ----------------------------------------------------------------------------------------
class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class JobQueue(_Stamped):
    collection: ClassVar[str] = "jobqueues"
    companyId: Oid
    status: JobStatus = Field(strict=False)
    lastAttemptAt: Date | None = None
    completedAt: Date | None = None
    errorMessage: StrictStr | None = None
    retryCount: Num = Field(0, ge=0)


# -- savedjobs ----------------------------------------------------------------------------------------
class ApplicationStatus(StrEnum):
    WANT_TO_APPLY = "WANT_TO_APPLY"
    PENDING_APPLICATION = "PENDING_APPLICATION"
    APPLIED = "APPLIED"
    INTERVIEW_SCHEDULED = "INTERVIEW_SCHEDULED"
    TECHNICAL_ASSESSMENT = "TECHNICAL_ASSESSMENT"
    REJECTED = "REJECTED"
    OFFER_RECEIVED = "OFFER_RECEIVED"
    OFFER_ACCEPTED = "OFFER_ACCEPTED"
    OFFER_DECLINED = "OFFER_DECLINED"
    STALE = "STALE"
    DISCARDED = "DISCARDED"


class SalaryInfo(_Sub):
    min: Num | None = None
    max: Num | None = None
    currency: StrictStr | None = None
    period: StrictStr | None = None


class _JobDetails(_Stamped):
    title: ReqStr
    url: ReqStr
    location: StrictStr | None = None
    timezone: StrictStr | None = None
    salary: SalaryInfo | None = None
    techStack: list[StrictStr] = Field(default_factory=list)
    experienceLevel: StrictStr | None = None
    languageRequirements: list[StrictStr] = Field(default_factory=list)
    visaSponsorshipOffered: StrictBool | None = None
    relocationAssistanceOffered: StrictBool | None = None
    notes: StrictStr | None = None


class SavedJob(_JobDetails):
    """`userId` is what ResultsStorageStep writes: `user.id`, Mongoose's string of `users._id`."""

    collection: ClassVar[str] = "savedjobs"
    userId: ReqStr
    jobId: ReqStr
    companyId: Oid
    status: ReqStr  # a String in the schema; the app writes ApplicationStatus values
    goodFitReasons: list[StrictStr]
    considerationPoints: list[StrictStr]
    stretchGoals: list[StrictStr]
    suitabilityScore: Num = Field(ge=0, le=100)


class LegacySavedJob(_JobDetails):
    """Before 496542d: `user`/`company` ObjectIds, unique per (user, url)."""

    collection: ClassVar[str] = "savedjobs"
    user: Oid
    company: Oid
    status: ApplicationStatus = Field(strict=False)
    goodFitReasons: list[StrictStr] = Field(default_factory=list)
    considerationPoints: list[StrictStr] = Field(default_factory=list)
    stretchGoals: list[StrictStr] = Field(default_factory=list)
    suitabilityScore: Num


# -- tokenusages --------------------------------------------------------------------------------------
class TokenOperation(StrEnum):
    INITIAL_MATCHING = "initial_matching"
    DEEP_DIVE_ANALYSIS = "deep_dive_analysis"
    JOB_BATCH_ANALYSIS = "job_batch_analysis"


class CostEstimate(_Sub):
    input: Num
    output: Num
    total: Num
    currency: ReqStr
    isFreeUsage: StrictBool


class TokenUsage(_Stamped):
    """`companyId` is a String: JobMatchingContext writes the company's `companyID` slug."""

    collection: ClassVar[str] = "tokenusages"
    processId: ReqStr
    timestamp: Date
    operation: TokenOperation = Field(strict=False)
    estimatedTokens: Num
    actualTokens: Num
    inputTokens: Num
    outputTokens: Num
    costEstimate: CostEstimate
    userEmail: ReqStr
    companyId: ReqStr
    companyName: ReqStr


# -- logs ---------------------------------------------------------------------------------------------
LOG_LEVELS = ("debug", "info", "warn", "error", "success")  # the app's LogLevel type


class LogEntry(_Sub):
    timestamp: Date
    level: Literal["debug", "info", "warn", "error", "success"]
    message: ReqStr
    context: ReqStr
    data: Any = None
    sequence: Num


class Log(_Doc):
    """One batch: LogService.saveBatchedLogs writes a process's buffered records as one document into
    the capped collection (size 52428800 bytes, max 10000 documents; no timestamps)."""

    collection: ClassVar[str] = "logs"
    CAPPED_SIZE: ClassVar[int] = 52_428_800
    CAPPED_MAX: ClassVar[int] = 10_000
    id_: Oid = Field(alias="_id")
    processId: ReqStr
    context: ReqStr
    startTime: Date
    endTime: Date
    entries: list[LogEntry]
    v: StrictInt | None = Field(None, alias="__v", ge=0)


MODELS: dict[str, type[_Doc]] = {
    "companies": Company,
    "users": User,
    "usercompanypreferences": UserCompanyPreference,
    "jobqueues": JobQueue,
    "savedjobs": SavedJob,
    "tokenusages": TokenUsage,
    "logs": Log,
}


class AppSchemaError(ValueError):
    """A document the app's Mongoose model would not accept."""


def check(collection: str, doc: dict[str, Any], model: type[_Doc] | None = None) -> None:
    """Raise AppSchemaError (naming the first bad field) unless `doc` fits the app's model."""
    cls = model or MODELS[collection]
    try:
        cls.model_validate(doc)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(document)"
        raise AppSchemaError(f"{collection}: {loc}: {err['msg']}") from e


def problems(collection: str, doc: dict[str, Any], model: type[_Doc] | None = None) -> list[str]:
    """Every field the app's model would refuse (empty: the document fits)."""
    cls = model or MODELS[collection]
    try:
        cls.model_validate(doc)
    except ValidationError as e:
        return [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
    return []
