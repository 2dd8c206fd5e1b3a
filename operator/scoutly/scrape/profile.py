"""A tracking candidate's profile, read leniently from the app's `users` document. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_CV_CHARS = 6000


def _strings(value: Any, limit: int = 20) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.replace(";", ",").split(",")]
    if not isinstance(value, list):
        return []
    out = [" ".join(v.split())[:100] for v in value if isinstance(v, str) and v.strip()]
    return out[:limit]


def _first(info: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        if info.get(k) not in (None, "", []):
            return info[k]
    return None


class CandidateProfile(BaseModel):
    model_config = ConfigDict(frozen=True)
    user_id: str
    titles: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    remote_ok: bool | None = None
    seniority: str | None = None
    summary: str = ""
    cv_text: str = ""

    @property
    def hash(self) -> str:
        body = self.model_dump(exclude={"user_id"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def profile_from_user(user: Mapping[str, Any]) -> CandidateProfile:
    raw = user.get("candidateInfo")
    info: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    summary = raw if isinstance(raw, str) else _first(info, "summary", "about", "bio")
    remote = _first(info, "remote", "openToRemote", "remoteOk")
    seniority = _first(info, "seniority", "level", "experienceLevel")
    cv = user.get("cvText") or info.get("cvText")
    return CandidateProfile(
        user_id=str(user["_id"]),
        titles=_strings(
            _first(info, "desiredTitles", "titles", "targetRoles", "roles", "title", "currentTitle")
        ),
        keywords=_strings(_first(info, "skills", "keywords"), 40),
        exclude=_strings(_first(info, "excludeKeywords", "exclude"), 20),
        locations=_strings(_first(info, "locations", "preferredLocations", "location")),
        remote_ok=remote if isinstance(remote, bool) else None,
        seniority=seniority.lower()[:30] if isinstance(seniority, str) else None,
        summary=summary[:2000] if isinstance(summary, str) else "",
        cv_text=cv[:MAX_CV_CHARS] if isinstance(cv, str) else "",
    )
