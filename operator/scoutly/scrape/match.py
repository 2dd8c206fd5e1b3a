"""Matching every current posting against every tracking candidate: prefilter first, then the LLM only
for pairs that passed and were never scored for this (posting hash, profile hash)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scoutly.scrape.llm import BudgetExhausted, LlmAuthError, LlmScorer, Usage
from scoutly.scrape.models import Posting
from scoutly.scrape.prefilter import Prefilter, prefilter
from scoutly.scrape.profile import CandidateProfile

OnUsage = Callable[[CandidateProfile, Usage, int], Awaitable[None]]  # (who, usage, estimate) per call


@dataclass
class MatchOutcome:
    docs: list[dict[str, Any]] = field(default_factory=list)  # verdicts to upsert
    matches: int = 0
    llm_calls: int = 0
    tokens: Usage = field(default_factory=Usage)
    errors: list[str] = field(default_factory=list)
    fatal: str | None = None


def _same_pair(prev: Mapping[str, Any] | None, posting: Posting, profile: CandidateProfile) -> bool:
    """The stored verdict was made for this posting's and this profile's current content."""
    return (
        prev is not None
        and prev.get("postingHash") == posting.content_hash
        and prev.get("profileHash") == profile.hash
    )


def _reusable(
    prev: Mapping[str, Any] | None, posting: Posting, profile: CandidateProfile, pf: Prefilter, llm: bool
) -> bool:
    if prev is None or not _same_pair(prev, posting, profile):
        return False
    if prev.get("method") == "llm":
        return True
    # a prefilter verdict stands unless the pair now deserves the LLM call it did not get
    return not (llm and pf.passed)


def _still_valid(
    prev: Mapping[str, Any] | None, posting: Posting, profile: CandidateProfile, prefilter_min: int, llm: bool
) -> bool:
    """`_reusable` without running the prefilter again: the stored score is what it would compute, since
    neither the posting (hash) nor the profile (hash) changed. Saves most of an unchanged re-run's CPU."""
    if prev is None or not _same_pair(prev, posting, profile):
        return False
    if prev.get("method") == "llm":
        return True
    score = prev.get("prefilterScore")
    return isinstance(score, int) and not (llm and score >= prefilter_min)


def _doc(
    posting: Posting, profile: CandidateProfile, pf: Prefilter, now: datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "nativeId": posting.native_id,
        "userId": profile.user_id,
        "postingHash": posting.content_hash,
        "profileHash": profile.hash,
        "title": posting.title,
        "url": posting.url,
        "prefilterScore": pf.score,
        "prefilterReasons": list(pf.reasons),
        "scoredAt": now,
        **extra,
    }


async def match_all(
    postings: Sequence[Posting],
    profiles: Sequence[CandidateProfile],
    stored: Mapping[tuple[str, str], Mapping[str, Any]],
    *,
    scorer: LlmScorer | None,
    on_usage: OnUsage,
    prefilter_min: int,
    match_min: int,
    concurrency: int,
    now: datetime,
    extra: Mapping[str, Any],
) -> MatchOutcome:
    out = MatchOutcome()
    pending: list[tuple[Posting, CandidateProfile, Prefilter]] = []
    for profile in profiles:
        for posting in postings:
            prev = stored.get((posting.native_id, profile.user_id))
            if _still_valid(prev, posting, profile, prefilter_min, scorer is not None):
                assert prev is not None
                out.matches += bool(prev.get("isMatch"))
                continue
            pf = prefilter(profile, posting, min_score=prefilter_min)
            if _reusable(prev, posting, profile, pf, scorer is not None):
                assert prev is not None
                out.matches += bool(prev.get("isMatch"))
            elif pf.passed and scorer is not None:
                pending.append((posting, profile, pf))
            else:
                skipped = pf.passed  # passed, but no API key
                out.docs.append(
                    _doc(
                        posting,
                        profile,
                        pf,
                        now,
                        method="prefilter",
                        score=pf.score,
                        verdict=None,
                        reasons=list(pf.reasons),
                        isMatch=skipped,
                        llmSkipped=skipped,
                        **extra,
                    )
                )
                out.matches += skipped
    if scorer is None or not pending:
        return out

    slots = asyncio.Semaphore(concurrency)
    budget_noted = False

    async def one(posting: Posting, profile: CandidateProfile, pf: Prefilter) -> None:
        nonlocal budget_noted
        async with slots:
            fallback = _doc(
                posting,
                profile,
                pf,
                now,
                method="prefilter",
                score=pf.score,
                verdict=None,
                reasons=list(pf.reasons),
                isMatch=False,
                llmSkipped=True,
                **extra,
            )
            if out.fatal:
                return
            try:
                res = await scorer.score(profile, posting)
            except BudgetExhausted as e:
                if not budget_noted:
                    out.errors.append(f"{e}: remaining pairs keep their prefilter score")
                    budget_noted = True
                out.docs.append(fallback)
                return
            except LlmAuthError as e:
                out.fatal = str(e)
                return
            out.llm_calls += 1
            out.tokens = Usage(
                prompt_tokens=out.tokens.prompt_tokens + res.usage.prompt_tokens,
                completion_tokens=out.tokens.completion_tokens + res.usage.completion_tokens,
                cached_tokens=out.tokens.cached_tokens + res.usage.cached_tokens,
            )
            await on_usage(profile, res.usage, res.estimated)
            if res.verdict is None:
                out.errors.append(f"posting {posting.native_id} / user {profile.user_id}: {res.error}")
                out.docs.append({**fallback, "llmError": res.error})
                return
            v = res.verdict
            is_match = v.score >= match_min and v.verdict != "no"
            out.docs.append(
                _doc(
                    posting,
                    profile,
                    pf,
                    now,
                    method="llm",
                    model=scorer.model,
                    score=v.score,
                    verdict=v.verdict,
                    reasons=v.reasons,
                    isMatch=is_match,
                    llmSkipped=False,
                    llmError=None,
                    **extra,
                )
            )
            out.matches += is_match

    await asyncio.gather(*(one(*p) for p in pending))
    return out
