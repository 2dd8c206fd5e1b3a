"""A tracking candidate's profile, from the fields the app writes on `users` (src/models/User.ts):
`email`, the nested `candidateInfo` and the text of the CV linked by `cvUrl`. Pure; read leniently (an
odd value is left out, never fatal).

candidateInfo -> what the prefilter and the LLM use:
- preferences.careerGoals -> titles (roles the candidate aims for)
- preferences.exclusions.{roleTypes, technologies, industries} -> excluded words (a posting whose
  title holds one is dropped by the prefilter)
- logistics.currentResidence.{city, country} and workAuthorization[].region -> locations, unless
  logistics.willingToRelocate (then no location constraint)
- preferences.workEnvironments containing "remote" -> remote ok
- everything else (job types, company sizes, languages, work authorization) goes to the LLM as details
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_CV_CHARS = 6000


def _strings(value: Any, limit: int = 20) -> list[str]:
    if not isinstance(value, list):
        return []
    out = [" ".join(v.split())[:100] for v in value if isinstance(v, str) and v.strip()]
    return out[:limit]


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return " ".join(value.split())[:100] or None


class CandidateProfile(BaseModel):
    model_config = ConfigDict(frozen=True)
    user_id: str  # String(users._id): savedjobs.userId as the app writes it
    email: str = ""
    titles: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    remote_ok: bool | None = None
    seniority: str | None = None
    details: list[tuple[str, str]] = Field(default_factory=list)  # (label, value) for the LLM
    cv_text: str = ""

    @property
    def hash(self) -> str:
        body = self.model_dump(exclude={"user_id", "email"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def profile_from_user(user: Mapping[str, Any], *, cv_text: str = "") -> CandidateProfile:
    info = _map(user.get("candidateInfo"))
    logistics = _map(info.get("logistics"))
    prefs = _map(info.get("preferences"))
    exclusions = _map(prefs.get("exclusions"))
    residence = _map(logistics.get("currentResidence"))
    auths = [_map(a) for a in logistics.get("workAuthorization") or [] if isinstance(a, Mapping)]

    relocate = logistics.get("willingToRelocate") is True
    locations: list[str] = []
    if not relocate:
        locations = [
            x for x in (_str(residence.get("city")), _str(residence.get("country"))) if x is not None
        ]
        locations += [r for r in (_str(a.get("region")) for a in auths) if r is not None]
    envs = [e.lower() for e in _strings(prefs.get("workEnvironments"))]
    remote_ok = True if any("remote" in e for e in envs) else (False if envs else None)

    details: list[tuple[str, str]] = []

    def add(label: str, values: list[str]) -> None:
        if values:
            details.append((label, ", ".join(values)))

    add("job types", _strings(prefs.get("jobTypes")))
    add("work environments", _strings(prefs.get("workEnvironments")))
    add("company sizes", _strings(prefs.get("companySizes")))
    add("excluded industries", _strings(exclusions.get("industries")))
    langs = [_map(x) for x in info.get("languages") or [] if isinstance(x, Mapping)]
    pairs = [(_str(x.get("language")), _str(x.get("level"))) for x in langs]
    add("languages", [f"{lang} ({lvl})" if lvl else lang for lang, lvl in pairs if lang])
    add(
        "work authorization",
        [
            " ".join(p for p in (_str(a.get("region")), _str(a.get("status"))) if p)
            for a in auths
            if _str(a.get("region"))
        ],
    )
    if relocate:
        details.append(("willing to relocate", "yes"))
    where = ", ".join(x for x in (_str(residence.get("city")), _str(residence.get("country"))) if x)
    if where:
        details.append(("lives in", where))

    email = user.get("email")
    return CandidateProfile(
        user_id=str(user["_id"]),
        email=email if isinstance(email, str) else "",
        titles=_strings(prefs.get("careerGoals")),
        exclude=_strings(exclusions.get("roleTypes")) + _strings(exclusions.get("technologies")),
        locations=locations,
        remote_ok=remote_ok,
        details=details,
        cv_text=cv_text[:MAX_CV_CHARS],
    )
