"""Documents built exactly as the Scoutly app's Mongoose models store them (src/models/*.ts): ObjectId
`_id`s, BSON dates, `__v`, `createdAt`/`updatedAt`, the schema defaults filled in, lowercase enums, the
nested candidateInfo. Both app generations where they differ: preferences keyed by `String(users._id)`
(older app, and the 3dd3bb3 scheduler's query) or by `String(users.userId)` (newer app), users without
`userId` but with the stale `trackedCompanies`, companies with the stale `ranking`, savedjobs with
`user`/`company`, queue documents of the app's own scheduler.

Every builder's output is checked against scoutly.store.appschema in tests/unit/test_appschema.py, so
the fixtures cannot drift from the models they claim to follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.store import appschema

Doc = dict[str, Any]
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def ms(at: datetime) -> datetime:
    """BSON dates hold milliseconds: what a document reads back as."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _stamps(at: datetime) -> Doc:
    return {"createdAt": ms(at), "updatedAt": ms(at), "__v": 0}


def company(
    slug: str,
    name: str,
    careers_url: str,
    *,
    last_scrape: datetime | None = None,
    ranking: int | None = None,
    at: datetime = T0,
) -> Doc:
    """Company.create({...}) of the app's seed (src/data/companies.ts) shape. `ranking`: the stale
    field of f4e0a65..041d8a9, left on documents created then."""
    doc: Doc = {
        "_id": ObjectId(),
        "companyID": slug,
        "company": name,
        "careers_url": careers_url,
        "selector": "",
        "work_model": "HYBRID",
        "headquarters": "Amsterdam, Netherlands",
        "office_locations": ["Amsterdam"],
        "fields": ["software development"],
        "openToApplication": False,
        "isProblematic": False,
        "scrapeErrors": [],
        **_stamps(at),
    }
    if last_scrape is not None:
        doc["lastSuccessfulScrape"] = ms(last_scrape)
    if ranking is not None:
        doc["ranking"] = ranking
    return doc


def candidate_info(
    *,
    goals: Iterable[str] = ("Backend Engineer",),
    city: str = "Berlin",
    country: str = "Germany",
    relocate: bool = False,
    environments: Iterable[str] = ("Remote", "Hybrid"),
    exclude_roles: Iterable[str] = ("Sales",),
    exclude_tech: Iterable[str] = (),
) -> Doc:
    """The nested CandidateInfoSchema as Mongoose stores it (no _id in sub-documents)."""
    return {
        "logistics": {
            "currentResidence": {"city": city, "country": country, "countryCode": "DE", "timezone": "CET"},
            "willingToRelocate": relocate,
            "workAuthorization": [{"region": "European Union", "regionCode": "EU", "status": "Citizen"}],
        },
        "languages": [{"language": "English", "level": "C2"}, {"language": "German", "level": "B1"}],
        "preferences": {
            "careerGoals": list(goals),
            "jobTypes": ["Full-time"],
            "workEnvironments": list(environments),
            "companySizes": ["Startup", "Scale-up"],
            "exclusions": {
                "industries": ["Gambling"],
                "technologies": list(exclude_tech),
                "roleTypes": list(exclude_roles),
            },
        },
    }


def user(
    email: str,
    *,
    generation: str = "new",
    info: Doc | None = None,
    cv_url: str | None = None,
    tracked: Iterable[tuple[str, int]] = (),
    at: datetime = T0,
) -> Doc:
    """`generation="new"`: with `userId` (421db4a and later); `"old"`: without, and with the stale
    `trackedCompanies` [(companyID, ranking)] of the time before 0cd8d89."""
    doc: Doc = {"_id": ObjectId(), "email": email.lower(), **_stamps(at)}
    if generation == "new":
        doc["userId"] = ObjectId()
    else:
        doc["trackedCompanies"] = [{"companyID": c, "ranking": r} for c, r in tracked]
    if info is not None:
        doc["candidateInfo"] = info
    if cv_url is not None:
        doc["cvUrl"] = cv_url
    return doc


def preference(
    u: Doc, c: Doc, rank: float = 50, *, tracking: bool = True, by: str | None = None, at: datetime = T0
) -> Doc:
    """UserCompanyPreference.create: `userId` is String(users._id) (older app, `by="_id"`) or
    String(users.userId) (newer app, `by="userId"`; the default for users that have one)."""
    key = by or ("userId" if "userId" in u else "_id")
    return {
        "_id": ObjectId(),
        "userId": str(u[key]),
        "companyId": c["_id"],
        "rank": rank,
        "isTracking": tracking,
        "frequency": "Weekly",
        **_stamps(at),
    }


def app_queue_doc(c: Doc, status: str = "pending", *, at: datetime = T0, legacy: bool = False) -> Doc:
    """JobQueue.create({companyId, status}) by the app's scheduler; `legacy`: the 135a55d model, which
    stored `lastAttemptAt: null` by default."""
    doc: Doc = {"_id": ObjectId(), "companyId": c["_id"], "status": status, "retryCount": 0, **_stamps(at)}
    if legacy:
        doc["lastAttemptAt"] = None
    if status == "processing":
        doc["lastAttemptAt"] = ms(at)
    return doc


def legacy_saved_job(u: Doc, c: Doc, url: str, *, at: datetime = T0) -> Doc:
    """A saved job of the model before 496542d: `user`/`company` ObjectIds, unique per (user, url)."""
    return {
        "_id": ObjectId(),
        "title": "Backend Engineer",
        "url": url,
        "techStack": [],
        "languageRequirements": [],
        "goodFitReasons": ["Python"],
        "considerationPoints": [],
        "stretchGoals": [],
        "suitabilityScore": 80,
        "status": "APPLIED",
        "user": u["_id"],
        "company": c["_id"],
        **_stamps(at),
    }


@dataclass
class AppData:
    companies: list[Doc] = field(default_factory=list)
    users: list[Doc] = field(default_factory=list)
    preferences: list[Doc] = field(default_factory=list)
    jobqueues: list[Doc] = field(default_factory=list)
    savedjobs: list[Doc] = field(default_factory=list)

    async def insert(self, db: AsyncDatabase[Any]) -> None:
        for name, docs in (
            ("companies", self.companies),
            ("users", self.users),
            ("usercompanypreferences", self.preferences),
            ("jobqueues", self.jobqueues),
            ("savedjobs", self.savedjobs),
        ):
            if docs:
                await db[name].insert_many([dict(d) for d in docs])


async def create_app_collections(db: AsyncDatabase[Any]) -> None:
    """What the app's Mongoose models create on start: the capped `logs` collection (Log.ts: size
    52428800, max 10000) and the indexes the models declare (autoIndex)."""
    await db.create_collection(
        "logs", capped=True, size=appschema.Log.CAPPED_SIZE, max=appschema.Log.CAPPED_MAX
    )
    await db["logs"].create_index([("processId", 1)])
    await db["usercompanypreferences"].create_index([("userId", 1), ("companyId", 1)], unique=True)
    await db["usercompanypreferences"].create_index([("userId", 1), ("isTracking", 1), ("rank", -1)])
    await db["jobqueues"].create_index([("status", 1), ("createdAt", 1)])
    await db["jobqueues"].create_index([("companyId", 1), ("status", 1)])
    await db["savedjobs"].create_index([("userId", 1)])
    await db["savedjobs"].create_index([("userId", 1), ("jobId", 1)], unique=True)
    await db["companies"].create_index([("companyID", 1)], unique=True)
    await db["users"].create_index([("email", 1)], unique=True)


def validate_all(collection: str, docs: Iterable[Doc]) -> list[str]:
    """Every problem the app's model finds in `docs` (empty: all fit)."""
    out: list[str] = []
    for d in docs:
        out += [f"{collection} {d.get('_id')}: {p}" for p in appschema.problems(collection, d)]
    return out


def hours_ago(now: datetime, hours: float) -> datetime:
    return now - timedelta(hours=hours)
