"""The free local prefilter: title, keywords, location and seniority against a candidate's profile.
Pure. Scores 0..100; only pairs at or above the threshold are worth an LLM call."""

from __future__ import annotations

import re
from dataclasses import dataclass

from scoutly.scrape.models import Posting
from scoutly.scrape.profile import CandidateProfile

_WORD = re.compile(r"[a-z0-9+#]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "the",
        "of",
        "for",
        "in",
        "at",
        "to",
        "with",
        "senior",
        "junior",
        "lead",
        "staff",
        "principal",
        "sr",
        "jr",
        "ii",
        "iii",
        "iv",
        "m",
        "w",
        "d",
        "f",
    ]
)
_LEVELS = (
    (0, ("intern", "internship", "working student", "werkstudent", "trainee", "apprentice")),
    (1, ("junior", "jr", "graduate", "entry")),
    (3, ("senior", "sr")),
    (4, ("staff", "principal", "lead", "architect")),
    (5, ("head", "director", "vp", "vice president", "chief")),
)
_CANDIDATE_LEVELS = {
    "intern": 0,
    "entry": 1,
    "junior": 1,
    "mid": 2,
    "intermediate": 2,
    "senior": 3,
    "staff": 4,
    "principal": 4,
    "lead": 4,
    "head": 5,
    "director": 5,
    "executive": 5,
}


@dataclass(frozen=True)
class Prefilter:
    score: int
    passed: bool
    reasons: tuple[str, ...]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _level(title: str) -> int | None:
    words = _words(title)
    low = title.lower()
    for level, markers in reversed(_LEVELS):
        if any((m in words) if " " not in m else (m in low) for m in markers):
            return level
    return None


def prefilter(profile: CandidateProfile, posting: Posting, *, min_score: int) -> Prefilter:
    title = posting.title
    twords = _words(title)
    reasons: list[str] = []
    if any(_words(x) and _words(x) <= twords for x in profile.exclude):
        return Prefilter(0, False, ("excluded keyword in title",))

    cap = 100
    if profile.titles:
        best = max(len((_words(t) - _STOP) & twords) / max(1, len(_words(t) - _STOP)) for t in profile.titles)
        title_pts = round(50 * best)
        if best == 0:
            reasons.append("title does not match")
        else:
            reasons.append(f"title match {best:.0%}")
    else:
        best, title_pts = 0.5, 25

    if profile.keywords:
        body = twords | _words(posting.description[:8000])
        hits = [k for k in profile.keywords if _words(k) and _words(k) <= body]
        frac = min(1.0, len(hits) / min(len(profile.keywords), 5))
        kw_pts = round(25 * frac)
        reasons.append(f"{len(hits)} keyword(s)")
    else:
        frac, kw_pts = 0.5, 12
    if profile.titles and best == 0 and frac < 0.6:
        cap = min(cap, 30)

    loc = (posting.location or "").lower()
    if not profile.locations:
        loc_pts = 15
    elif posting.remote and profile.remote_ok is not False:
        loc_pts = 15
        reasons.append("remote")
    elif not loc:
        loc_pts = 8
    elif any(w in loc for x in profile.locations for w in [x.lower()] if w):
        loc_pts = 15
        reasons.append("location match")
    else:
        loc_pts = 0
        cap = min(cap, 30)
        reasons.append("location mismatch")

    want = _CANDIDATE_LEVELS.get(profile.seniority or "")
    have = _level(title)
    if want is None or have is None:
        sen_pts = 5
    elif abs(want - have) <= 1:
        sen_pts = 10
    else:
        sen_pts = 0
        cap = min(cap, 30)
        reasons.append("seniority mismatch")

    score = min(cap, title_pts + kw_pts + loc_pts + sen_pts)
    return Prefilter(score, score >= min_score, tuple(reasons))
