"""One scrape run (`scoutly scrape --target ns/name`): fetch the board, store what changed, match the
tracking candidates, record tokens and the run summary. Partial failures are listed in the summary's
errors; only a run that could not do its job exits non-zero (with a one-line reason)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openai
from pydantic import ValidationError
from pymongo.errors import PyMongoError

from scoutly.api.summary import MAX_MESSAGE_BYTES, PostingQuality, QualityJump, RunSummary, TokenCounts
from scoutly.scheduling.policy import parse_duration
from scoutly.scrape import quality
from scoutly.scrape.cv import CvError, fetch_cv
from scoutly.scrape.dedupe import Diff, classify
from scoutly.scrape.detect import DetectError, SourceRef, detect
from scoutly.scrape.fetch import FetchConfig, Fetcher, Sleep, Validators
from scoutly.scrape.llm import LlmScorer, Usage
from scoutly.scrape.match import match_all
from scoutly.scrape.models import Posting, TargetSpec
from scoutly.scrape.netguard import Resolver, system_resolver
from scoutly.scrape.profile import MAX_CV_CHARS, CandidateProfile, profile_from_user
from scoutly.scrape.settings import ScrapeSettings
from scoutly.scrape.sources import PARSER_VERSION, SourceContext, SourceResult, fetch_postings, resolve
from scoutly.store import boards, candidates, companies, cvs, jobqueues, matches, postings, savedjobs, tokens
from scoutly.store.companies import CompanyRef
from scoutly.store.dblog import DbLogHandler
from scoutly.store.mongo import Database, Doc, connect, database, ensure_indexes

log = logging.getLogger("scoutly.scrape")
Clock = Callable[[], datetime]
INDEXES = (*postings.INDEXES, *matches.INDEXES, *savedjobs.INDEXES)


class RunFailed(Exception):
    """The run could not do its job; the message is the one-line reason."""


@dataclass
class Inputs:
    target: str
    spec: TargetSpec
    ref: SourceRef


@dataclass
class Outcome:
    summary: RunSummary
    failed: str | None = None
    notes: list[str] = field(default_factory=list)


def load_inputs(settings: ScrapeSettings, target_arg: str | None) -> Inputs:
    target = target_arg or settings.target
    if not target or target.count("/") != 1:
        raise RunFailed("no target: pass --target <namespace>/<name> or set SCOUTLY_TARGET")
    raw = settings.target_spec
    if settings.target_spec_file:
        try:
            raw = Path(settings.target_spec_file).read_text()
        except OSError as e:
            raise RunFailed(f"cannot read SCOUTLY_TARGET_SPEC_FILE: {e}") from e
    try:
        spec = TargetSpec.model_validate_json(raw)
    except ValidationError as e:
        err = e.errors()[0]
        raise RunFailed(f"invalid SCOUTLY_TARGET_SPEC: {'.'.join(map(str, err['loc']))}: {err['msg']}") from e
    try:
        ref = detect(spec.source, api_bases=settings.api_bases)
    except DetectError as e:
        raise RunFailed(f"invalid source: {e}") from e
    return Inputs(target, spec, ref)


def make_fetcher(
    settings: ScrapeSettings, *, resolver: Resolver | None = None, sleep: Sleep | None = None
) -> Fetcher:
    cfg = FetchConfig(
        user_agent=settings.scrape_user_agent,
        timeout=settings.scrape_timeout_seconds,
        max_bytes=settings.scrape_max_response_bytes,
        retries=settings.scrape_retries,
        backoff=settings.scrape_backoff_seconds,
        max_retry_after=settings.scrape_max_retry_after_seconds,
        rate_per_host=settings.scrape_rate_per_host,
        concurrency_per_host=settings.scrape_concurrency_per_host,
        max_redirects=settings.scrape_max_redirects,
        respect_robots=settings.scrape_respect_robots,
        allow_private=tuple(settings.allow_private),
    )
    return Fetcher(config=cfg, resolver=resolver or system_resolver, sleep=sleep or asyncio.sleep)


def make_scorer(settings: ScrapeSettings) -> LlmScorer | None:
    if settings.openai_api_key is None or not settings.openai_api_key.get_secret_value():
        return None
    client = openai.AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url or None,
        max_retries=settings.llm_max_retries,
        timeout=settings.llm_timeout_seconds,
    )
    return LlmScorer(
        client,
        model=settings.llm_model,
        max_completion_tokens=settings.llm_max_completion_tokens,
        budget=settings.llm_token_budget,
        tokens_per_minute=settings.llm_tokens_per_minute,
        max_posting_chars=settings.llm_max_posting_chars,
    )


def _posting_doc(p: Posting) -> dict[str, Any]:
    return {
        "nativeId": p.native_id,
        "title": p.title,
        "location": p.location,
        "locations": list(p.locations),
        "workplace": p.workplace,
        "remote": p.remote,
        "department": p.department,
        "employmentType": p.employment_type,
        "employmentLabel": p.employment_label,
        "salary": p.salary.model_dump() if p.salary else None,
        "url": p.url,
        "description": p.description,
        "postedAt": p.posted_at,
        "updatedAt": p.updated_at,
        "contentHash": p.content_hash,
    }


def _posting_from_doc(source: str, board: str, d: dict[str, Any]) -> Posting | None:
    """A stored posting back as the model (a board that answered 304 is matched from what is stored).
    Documents of older versions lack `locations`, `workplace` and `employmentLabel`: the model derives
    them from `location`, `remote` and the free-text `employmentType` they kept."""
    label = d.get("employmentLabel")
    etype = d.get("employmentType")
    try:
        return Posting(
            source=source,
            board=board,
            native_id=str(d.get("nativeId", "")),
            title=d.get("title"),
            locations=d.get("locations") or [],
            location=d.get("location"),
            workplace=d.get("workplace") or "unknown",
            remote=d.get("remote"),
            department=d.get("department"),
            employment_type=etype if label else None,
            employment_label=label or etype,
            salary=d.get("salary"),
            url=d.get("url"),
            description=d.get("description") or "",
            posted_at=d.get("postedAt"),
            updated_at=d.get("updatedAt"),
            content_hash=str(d.get("contentHash") or ""),
        )
    except ValidationError:
        return None


def _quality(
    found: SourceResult, source: str, previous: Any, *, threshold: float
) -> tuple[PostingQuality, dict[str, Any]]:
    """The summary's quality block and the stored baseline for the next run."""
    q = quality.measure(found.postings, untitled=found.untitled)
    jumps = quality.jumps(quality.Quality.from_doc(previous), q, threshold=threshold)
    for j in jumps:
        log.warning(
            "posting quality: %.0f%% of %s postings lack a %s (last run %.0f%%): a parser regression?",
            100 * j.after,
            source,
            j.field,
            100 * j.before,
        )
    block = PostingQuality(
        source=source,  # validated against SourceType
        rows=q.rows,
        missingTitle=q.missing["title"],
        missingUrl=q.missing["url"],
        missingLocation=q.missing["location"],
        missingDate=q.missing["date"],
        jumps=[QualityJump(field=j.field, before=j.before, after=j.after) for j in jumps],
    )
    return block, q.doc()


async def load_profiles(
    settings: ScrapeSettings,
    db: Database,
    fetcher: Fetcher,
    users: list[Doc],
    errors: list[str],
    *,
    clock: Clock,
) -> list[CandidateProfile]:
    """Profiles of the tracking users, each with its CV's text: reused from `candidatecvs` while
    younger than SCOUTLY_CV_MAX_AGE and for the same `cvUrl`, else fetched and read again. A CV that
    cannot be read is an error of the run, never fatal: the profile goes on without it."""
    max_age = parse_duration(settings.cv_max_age)
    now = clock()
    stored = await cvs.load(db, user_ids=[u["_id"] for u in users])
    profiles: list[CandidateProfile] = []
    for u in users:
        url = u.get("cvUrl")
        text = ""
        if isinstance(url, str) and url.strip():
            prev = stored.get(str(u["_id"]))
            fresh = (
                prev is not None
                and prev.get("cvUrl") == url
                and isinstance(prev.get("fetchedAt"), datetime)
                and now - prev["fetchedAt"] < max_age
            )
            if fresh and prev is not None:
                text = str(prev.get("text") or "")
                if prev.get("error"):
                    errors.append(f"CV of user {u['_id']}: {prev['error']}")
            else:
                try:
                    cv = await fetch_cv(fetcher, url, max_pages=settings.cv_max_pages, max_chars=MAX_CV_CHARS)
                    text, error, digest = cv.text, None, cv.sha256
                except CvError as e:
                    text, error, digest = "", str(e), None
                    errors.append(f"CV of user {u['_id']}: {e}")
                await cvs.save(
                    db, user_id=u["_id"], cv_url=url, text=text, error=error, sha256=digest, at=now
                )
        profiles.append(profile_from_user(u, cv_text=text))
    return profiles


@dataclass
class Saved:
    inserted: int = 0
    skipped_no_company: int = 0


async def save_matches(
    db: Database,
    docs: list[dict[str, Any]],
    current: list[Posting],
    company: CompanyRef | None,
    *,
    now: datetime,
    source: str,
    target: str,
) -> Saved:
    """New LLM matches into `savedjobs`, as the app's ResultsStorageStep saves them (a pair the user
    has saved already, in either app generation, is left alone)."""
    fresh = [d for d in docs if d.get("method") == "llm" and d.get("isMatch") and d.get("url")]
    out = Saved()
    if not fresh:
        return out
    if company is None:
        out.skipped_no_company = len(fresh)
        return out
    by_id = {p.native_id: p for p in current}
    have = await savedjobs.saved_pairs(
        db, user_ids=sorted({str(d["userId"]) for d in fresh}), urls=sorted({str(d["url"]) for d in fresh})
    )
    new: list[Doc] = []
    for d in fresh:
        key = (str(d["userId"]), str(d["url"]))
        if key in have:
            continue
        have.add(key)
        posting = by_id.get(str(d["nativeId"]))
        salary = posting.salary if posting else None
        new.append(
            savedjobs.saved_job(
                user_id=key[0],
                url=key[1],
                company=company.oid,
                title=str(d.get("title") or "")[:500] or "(untitled)",
                score=int(d.get("score") or 0),
                reasons=[str(r) for r in d.get("reasons") or []],
                location=posting.location if posting else None,
                salary={
                    k: v
                    for k, v in {
                        "min": salary.min,
                        "max": salary.max,
                        "currency": salary.currency,
                        "period": salary.interval,
                    }.items()
                    if v is not None
                }
                if salary
                else None,
                now=now,
                scoutly={
                    "target": target,
                    "source": source,
                    "nativeId": str(d["nativeId"]),
                    "verdict": d.get("verdict"),
                    "model": d.get("model"),
                },
            )
        )
    out.inserted = await savedjobs.insert_new(db, new)
    return out


async def execute(
    settings: ScrapeSettings,
    inputs: Inputs,
    db: Database,
    fetcher: Fetcher,
    scorer: LlmScorer | None,
    *,
    clock: Clock,
) -> Outcome:
    """The run itself; every partial failure lands in the summary's errors."""
    started = time.monotonic()
    ref, spec = inputs.ref, inputs.spec
    errors: list[str] = []
    now = clock()
    ctx = SourceContext(
        ref=ref,
        fetcher=fetcher,
        max_pages=settings.scrape_max_pages,
        max_details=settings.scrape_max_detail_pages,
        description_limit=settings.scrape_max_description_chars,
        now=now,
    )
    try:
        ctx = await resolve(ctx)
    except DetectError as e:
        return Outcome(RunSummary(errors=[str(e)[:500]]), failed=f"invalid source: {e}")
    ref = ctx.ref
    record = await boards.find(db, source=ref.type, board=ref.board)
    if settings.scrape_conditional_requests:
        ctx.validators = {
            url: Validators(etag=v["etag"], last_modified=v["lastModified"])
            for url, v in boards.conditional_of(record, parser_version=PARSER_VERSION).items()
        }
    log.info("fetching %s board %s", ref.type, ref.board)
    found = await fetch_postings(ctx)
    errors.extend(found.errors)
    if not found.postings and not found.complete:
        return Outcome(RunSummary(errors=errors[:50]), failed=f"{ref.type} source failed: {found.errors[0]}")

    source = found.postings[0].source if found.postings else ref.type  # "html" after a JSON-LD fallback
    posting_quality: PostingQuality | None = None
    record_extra: dict[str, Any] = {}  # a 304 keeps the stored validators and quality baseline
    if found.not_modified:  # nothing to parse or write: the stored open postings are the board
        docs = await postings.find(db, source=source, board=ref.board)
        current = [
            p
            for d in docs
            if d.get("status") == postings.OPEN and (p := _posting_from_doc(source, ref.board, d))
        ]
        diff = Diff(unchanged=current)
        log.info("board unchanged (HTTP 304): %d stored open postings", len(current))
    else:
        posting_quality, quality_doc = _quality(
            found, source, (record or {}).get("quality"), threshold=settings.scrape_quality_jump
        )
        stored = await postings.load_states(db, source=source, board=ref.board)
        diff = classify(found.postings, stored.states, complete=found.complete)
        errors.extend(f"duplicate posting id {d}" for d in diff.duplicates[:10])
        await postings.save(
            db,
            source=source,
            board=ref.board,
            upserts=[_posting_doc(p) for p in (*diff.new, *diff.changed)],
            closed_ids=diff.closed,
            company_id=spec.company_id,
            target=inputs.target,
            now=now,
            ids=stored.ids,
        )
        clean = found.complete and not found.errors  # else the next run must read the whole board again
        record_extra = {
            "conditional": [
                {"url": url, "etag": v.etag, "lastModified": v.last_modified}
                for url, v in found.validators.items()
            ]
            if clean
            else [],
            "parser_version": PARSER_VERSION,
            "quality": quality_doc,
        }
    await boards.record_fetch(
        db,
        source=source,
        board=ref.board,
        target=inputs.target,
        company_id=spec.company_id,
        open_postings=len(diff.current),
        complete=found.complete or found.not_modified,
        now=now,
        **record_extra,
    )
    log.info(
        "postings: %d found, %d new, %d changed, %d closed",
        len(diff.current),
        len(diff.new),
        len(diff.changed),
        len(diff.closed),
    )

    company = await companies.resolve(db, spec.company_id) if spec.company_id else None
    refs = [t.user for t in spec.trackers]
    if company is not None:
        refs += await candidates.tracking_user_refs(db, company=company.oid)
    users = await candidates.load_users(db, refs=refs) if refs else []
    profiles = await load_profiles(settings, db, fetcher, users, errors, clock=clock)
    notes: list[str] = []
    if scorer is None:
        notes.append("LLM step skipped: no OPENAI_API_KEY")
        log.warning("no OPENAI_API_KEY: LLM step skipped, prefilter scores stored")
    stored_matches = await matches.load(
        db, source=source, board=ref.board, user_ids=[p.user_id for p in profiles]
    )

    async def on_usage(profile: CandidateProfile, usage: Usage, estimated: int) -> None:
        assert scorer is not None
        at = clock()
        await tokens.record(
            db,
            tokens.usage_doc(
                process_id=settings.job_name or inputs.target,
                estimated=estimated,
                prompt=usage.prompt_tokens,
                completion=usage.completion_tokens,
                price_input=settings.llm_price_input_per_million,
                price_output=settings.llm_price_output_per_million,
                user_email=profile.email or profile.user_id,
                company_id=(company.slug if company else None) or spec.company_id or inputs.target,
                company_name=(company.name if company else None) or spec.company,
                at=at,
                scoutly={
                    "model": scorer.model,
                    "cachedTokens": usage.cached_tokens,
                    "target": inputs.target,
                    "jobName": settings.job_name or None,
                    "userId": profile.user_id,
                },
            ),
        )

    mo = await match_all(
        diff.current,
        profiles,
        stored_matches,
        scorer=scorer,
        on_usage=on_usage,
        prefilter_min=settings.prefilter_min_score,
        match_min=settings.match_min_score,
        concurrency=settings.llm_concurrency,
        now=now,
        extra={"companyId": spec.company_id, "target": inputs.target},
    )
    # saved jobs before the verdicts: a run that dies in between scores the pair again, never loses it
    saved = await save_matches(
        db, mo.docs, diff.current, company, now=now, source=source, target=inputs.target
    )
    if saved.skipped_no_company:
        notes.append(f"{saved.skipped_no_company} matches not saved: the target names no company of the app")
    await matches.save(db, source=source, board=ref.board, docs=mo.docs, stored=stored_matches)
    errors.extend(mo.errors)
    log.info(
        "matching: %d candidates, %d LLM calls, %d tokens, %d matches, %d new saved jobs",
        len(profiles),
        mo.llm_calls,
        mo.tokens.total,
        mo.matches,
        saved.inserted,
    )
    summary = RunSummary(
        postingsFound=len(diff.current),
        postingsNew=len(diff.new),
        postingsChanged=len(diff.changed),
        postingsClosed=len(diff.closed),
        candidates=len(profiles),
        matches=mo.matches,
        tokens=TokenCounts(
            prompt=mo.tokens.prompt_tokens,
            completion=mo.tokens.completion_tokens,
            cached=mo.tokens.cached_tokens,
        ),
        model=scorer.model if scorer else None,
        durationSeconds=round(time.monotonic() - started, 3),
        errors=[e[:500] for e in errors[:50]],
        quality=posting_quality,
        notModified=found.not_modified,
    )
    if found.not_modified:
        notes.insert(0, "board unchanged (HTTP 304)")
    return Outcome(summary, failed=mo.fatal, notes=notes)


def _message(summary: RunSummary, failed: str | None, notes: list[str]) -> str:
    if failed:
        return failed
    text = (
        f"{summary.postingsFound} postings ({summary.postingsNew} new, {summary.postingsChanged} changed, "
        f"{summary.postingsClosed} closed); {summary.candidates} candidates; {summary.matches} matches; "
        f"{summary.tokens.total} tokens"
    )
    if summary.errors:
        text += f"; {len(summary.errors)} errors"
    if summary.quality:
        text += "".join(
            f"; quality: {j.after:.0%} lack a {j.field} (last run {j.before:.0%})"
            for j in summary.quality.jumps
        )
    return "; ".join([text, *notes])


def termination_text(summary: RunSummary) -> str:
    """One JSON line under the kubelet's cap: errors are shortened, then dropped, to fit."""
    s = summary.model_copy(update={"errors": [e[:200] for e in summary.errors]})
    while True:
        text = s.model_dump_json()
        if len(text.encode()) < MAX_MESSAGE_BYTES - 64 or not s.errors:
            return text
        s = s.model_copy(update={"errors": s.errors[:-1]})


def write_termination(path: str, summary: RunSummary) -> None:
    if not path:
        return
    with contextlib.suppress(OSError):  # not in a pod (local runs): stdout has it anyway
        Path(path).write_text(termination_text(summary) + "\n")


async def run(
    settings: ScrapeSettings,
    target_arg: str | None,
    *,
    resolver: Resolver | None = None,
    sleep: Sleep | None = None,
    clock: Clock = lambda: datetime.now(UTC),
) -> tuple[int, RunSummary]:
    """The whole program; returns (exit code, summary) and never raises for expected failures."""
    started = time.monotonic()
    outcome = Outcome(RunSummary())
    inputs: Inputs | None = None
    db: Database | None = None
    dblog: DbLogHandler | None = None
    client = None
    fetcher = None
    try:
        inputs = load_inputs(settings, target_arg)
        if settings.mongodb_uri is None:
            raise RunFailed("SCOUTLY_MONGODB_URI is not set")
        uri = settings.mongodb_uri.get_secret_value()
        client = connect(uri)
        db = database(client, uri, settings.mongodb_database)
        dblog = DbLogHandler(
            f"scrape:{inputs.target}",
            process_id=settings.job_name or f"scrape-{uuid.uuid4()}",
            max_entries=500,
        )
        logging.getLogger("scoutly").setLevel(settings.log_level.upper())  # records reach the db logger too
        logging.getLogger().addHandler(dblog)
        try:
            await ensure_indexes(db, INDEXES)
        except PyMongoError as e:
            raise RunFailed(f"MongoDB unreachable: {type(e).__name__}") from e
        fetcher = make_fetcher(settings, resolver=resolver, sleep=sleep)
        scorer = make_scorer(settings)
        try:
            outcome = await execute(settings, inputs, db, fetcher, scorer, clock=clock)
        finally:
            if scorer is not None:
                await scorer.client.close()
    except RunFailed as e:
        outcome = Outcome(outcome.summary, failed=str(e))
    except PyMongoError as e:
        outcome = Outcome(outcome.summary, failed=f"MongoDB error: {type(e).__name__}: {str(e)[:200]}")
    finally:
        if fetcher is not None:
            await fetcher.aclose()
    summary = outcome.summary.model_copy(
        update={
            "message": _message(outcome.summary, outcome.failed, outcome.notes)[:1024],
            "durationSeconds": round(time.monotonic() - started, 3),
        }
    )
    if outcome.failed:
        log.error("scrape failed: %s", outcome.failed)
    log.info("run summary %s", summary.model_dump_json())
    if db is not None:
        if settings.job_name and inputs is not None:
            with contextlib.suppress(PyMongoError):
                await record_result(db, settings, inputs, summary, clock())
        if dblog is not None:
            await dblog.flush_to(db)
            logging.getLogger().removeHandler(dblog)
    if client is not None:
        await client.close()
    write_termination(settings.termination_log, summary)
    return (1 if outcome.failed else 0), summary


async def record_result(
    db: Database, settings: ScrapeSettings, inputs: Inputs, summary: RunSummary, now: datetime
) -> None:
    """The run summary into the Job's `jobqueues` document (written by the controller too, in any
    order). Only for a target naming a company (the app's queue documents need a companyId): an `_id`
    spelled out is used as it is, as the controller does; a `companyID` slug is looked up."""
    ref = inputs.spec.company_id
    if not ref:
        return
    oid = companies.oid_of(ref)
    if oid is None:
        found = await companies.resolve(db, ref)
        if found is None:
            return
        oid = found.oid
    namespace = inputs.target.split("/", 1)[0]
    job = jobqueues.JobRef(
        namespace=namespace, job_name=settings.job_name, target=inputs.target, company=oid, created_at=now
    )
    await jobqueues.record_result(db, job=job, result=summary.model_dump(), now=now)


def main(target_arg: str | None) -> int:
    from scoutly.logs import setup_logging

    try:
        settings = ScrapeSettings()
    except ValidationError as e:
        err = e.errors()[0]
        print(f"error: invalid settings: {'.'.join(map(str, err['loc']))}: {err['msg']}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    rc, summary = asyncio.run(run(settings, target_arg))
    print(json.dumps({"summary": summary.model_dump()}, default=str))
    if rc:
        print(f"error: {summary.message}", file=sys.stderr)
    return rc
