"""Whole scrape runs against fake boards and a fake OpenAI server, asserting on what lands in MongoDB."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.api.jobcontract import ExitCode
from scoutly.scrape.run import run
from scoutly.scrape.settings import SOURCE_TYPES, ScrapeSettings
from scoutly.store import boards, matches, postings
from tests import appdata
from tests.integration.scrape.fakes import Board, FakeOpenAI, board_app, gh_job, serve

pytestmark = pytest.mark.mongo
DB = AsyncDatabase[dict[str, Any]]


@pytest_asyncio.fixture
async def board() -> AsyncIterator[tuple[Board, str]]:
    b = Board(
        greenhouse=[
            gh_job(1),
            gh_job(2, title="Senior Backend Engineer"),
            gh_job(3, title="Account Executive"),
            gh_job(4, title="Python Developer", location="Remote"),
            gh_job(5, title="Office Manager"),
        ]
    )
    async with serve(board_app(b)) as url:
        yield b, url


@pytest_asyncio.fixture
async def llm() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    async with serve(fake.app()) as url:
        yield fake, url


# The app's data as its Mongoose models store it (tests/appdata.py): a company, three users of both
# app generations (preferences by String(userId) and by String(_id)), one of them not tracking.
ACME = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")
U1 = appdata.user("a@x.io", info=appdata.candidate_info(goals=["Backend Engineer"], city="Berlin"))
U2 = appdata.user(
    "b@x.io", generation="old", info=appdata.candidate_info(goals=["Python Developer"], city="Hamburg")
)
U3 = appdata.user("c@x.io", info=appdata.candidate_info(goals=["Sales"]))
UID = {name: str(u["_id"]) for name, u in (("u1", U1), ("u2", U2), ("u3", U3))}


async def _seed_users(db: DB) -> None:
    await appdata.create_app_collections(db)
    data = appdata.AppData(
        companies=[ACME],
        users=[U1, U2, U3],
        preferences=[
            appdata.preference(U1, ACME, 90),
            appdata.preference(U2, ACME, 60),
            appdata.preference(U3, ACME, 70, tracking=False),
        ],
    )
    await data.insert(db)


def _settings(
    uri: str,
    board_url: str,
    tmp: Path,
    *,
    llm_url: str | None = None,
    key: str | None = "sk-test",
    source: dict[str, Any] | None = None,
    **kw: Any,
) -> ScrapeSettings:
    spec = {
        "company": "Acme",
        "companyId": str(ACME["_id"]),
        "source": source or {"url": "https://boards.greenhouse.io/acme"},
        "trackers": [],
    }
    return ScrapeSettings(
        target="team-a/acme",
        target_spec=json.dumps(spec),
        job_name="acme-001",
        mongodb_uri=uri,
        termination_log=str(tmp / "termination-log"),
        scrape_allow_private_hosts="127.0.0.1,localhost",
        scrape_api_bases=json.dumps(dict.fromkeys(SOURCE_TYPES[:8], board_url)),
        openai_api_key=key if llm_url else None,
        openai_base_url=f"{llm_url}/v1" if llm_url else None,
        llm_max_retries=2,
        scrape_rate_per_host=1000.0,
        **kw,
    )


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, d: float) -> None:
        self.delays.append(d)
        await asyncio.sleep(0)


async def _token_sum(db: DB) -> tuple[int, int, int, int]:
    """Summed the way the app's TokenUsageService reads them (inputTokens, outputTokens, actualTokens),
    plus the cached tokens the operator keeps beside them."""
    docs = await db["tokenusages"].find({}).to_list()
    assert appdata.validate_all("tokenusages", docs) == []
    assert all(d["actualTokens"] == d["inputTokens"] + d["outputTokens"] for d in docs)
    return (
        len(docs),
        sum(d["inputTokens"] for d in docs),
        sum(d["outputTokens"] for d in docs),
        sum(d["scoutly"]["cachedTokens"] for d in docs),
    )


async def test_first_run_rerun_change_and_close(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], llm: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    b, url = board
    fake, llm_url = llm
    fake.cached = 3
    await _seed_users(mongo_db)
    s = _settings(mongo_uri, url, tmp_path, llm_url=llm_url)

    rc, summary = await run(s, None)
    assert rc == 0, summary.message
    assert (summary.postingsFound, summary.postingsNew, summary.candidates) == (5, 5, 2)
    posting = await mongo_db["jobpostings"].find_one({"nativeId": "1001"})
    assert posting is not None and posting["status"] == "OPEN"
    assert "We build things." in posting["description"] and "&lt;" not in posting["description"]
    calls1 = len(fake.calls)
    assert 0 < calls1 < 10  # the prefilter kept most of the 5 x 2 pairs away from the model
    n, prompt, completion, cached = await _token_sum(mongo_db)
    assert n == calls1
    assert prompt == sum(r["prompt_tokens"] for r in fake.reported)
    assert completion == 17 * calls1 and cached == 3 * calls1
    assert (summary.tokens.prompt, summary.tokens.completion, summary.tokens.cached) == (
        prompt,
        completion,
        cached,
    )
    usage = await mongo_db["tokenusages"].find_one({})
    assert usage is not None and usage["scoutly"]["target"] == "team-a/acme"
    assert usage["scoutly"]["model"] == "gpt-4o-mini" and usage["operation"] == "deep_dive_analysis"
    assert usage["userEmail"] in ("a@x.io", "b@x.io") and usage["processId"] == "acme-001"
    assert (usage["companyId"], usage["companyName"]) == ("acme", "Acme")  # the slug, as the app writes it
    llm_docs = await mongo_db["jobmatches"].find({"method": "llm"}).to_list()
    assert len(llm_docs) == calls1 and all(d["verdict"] in ("strong", "weak") for d in llm_docs)
    assert await mongo_db["jobmatches"].count_documents({"userId": UID["u3"]}) == 0  # not tracking
    # the matches the app shows: savedjobs, one per (user, posting URL), in the app's schema
    saved = await mongo_db["savedjobs"].find({}).to_list()
    assert appdata.validate_all("savedjobs", saved) == []
    strong = [d for d in llm_docs if d["isMatch"]]
    assert len(saved) == len(strong) > 0
    assert {(d["userId"], d["jobId"]) for d in saved} == {(d["userId"], d["url"]) for d in strong}
    assert all(d["companyId"] == ACME["_id"] and d["status"] == "WANT_TO_APPLY" for d in saved)
    jq = await mongo_db["jobqueues"].find_one({"jobName": "acme-001"})
    assert jq is not None and jq["result"]["postingsFound"] == 5
    assert appdata.validate_all("jobqueues", [jq]) == [] and jq["companyId"] == ACME["_id"]
    term = json.loads((tmp_path / "termination-log").read_text())
    assert term["tokens"]["prompt"] == prompt and term["matches"] == summary.matches

    rc, again = await run(s, None)
    assert rc == 0
    assert len(fake.calls) == calls1, "an unchanged board must cost no LLM call"
    assert again.tokens.total == 0 and again.postingsNew == 0 and again.postingsChanged == 0
    assert again.matches == summary.matches

    b.greenhouse[0] = gh_job(1, body="Now with Rust and Go.")  # u1's backend engineer posting changes
    removed = b.greenhouse.pop(2)  # the account executive role is gone
    rc, third = await run(s, None)
    assert rc == 0
    assert (third.postingsChanged, third.postingsClosed, third.postingsFound) == (1, 1, 4)
    rescored = fake.calls[calls1:]
    assert len(rescored) == 1 and "Now with Rust and Go." in rescored[0]["messages"][-1]["content"]
    closed = await mongo_db["jobpostings"].find_one({"nativeId": str(removed["id"])})
    assert closed is not None and closed["status"] == "CLOSED" and closed["closedAt"] is not None
    assert await mongo_db["jobpostings"].count_documents({}) == 5  # closed, not deleted

    rc, fourth = await run(s, None)
    assert rc == 0 and fourth.tokens.total == 0 and len(fake.calls) == calls1 + 1
    # one batch document per run in the app's capped `logs`, as the app's worker logs one per job
    logs = await mongo_db["logs"].find({"context": "scrape:team-a/acme"}).to_list()
    assert len(logs) == 4 and appdata.validate_all("logs", logs) == []
    assert all(len(d["entries"]) >= 3 and d["processId"] == "acme-001" for d in logs)
    assert not any("sk-test" in e["message"] for d in logs for e in d["entries"])
    assert await mongo_db["savedjobs"].count_documents({}) == len(saved)  # nothing saved twice


async def test_without_api_key_prefilter_scores_are_stored(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], tmp_path: Path
) -> None:
    _, url = board
    await _seed_users(mongo_db)
    rc, summary = await run(_settings(mongo_uri, url, tmp_path), None)
    assert rc == 0
    assert "LLM step skipped" in (summary.message or "") and summary.tokens.total == 0
    docs = await mongo_db["jobmatches"].find({}).to_list()
    assert len(docs) == 10 and {d["method"] for d in docs} == {"prefilter"}
    assert any(d["llmSkipped"] and d["isMatch"] for d in docs)
    assert await mongo_db["tokenusages"].count_documents({}) == 0
    # unanalysed prefilter hits are no saved jobs: the app saves only what its model analysed
    assert await mongo_db["savedjobs"].count_documents({}) == 0


async def test_rate_limited_then_success_and_auth_failure(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], llm: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    _, url = board
    fake, llm_url = llm
    await _seed_users(mongo_db)
    fake.script = ["429", "500"]
    rc, summary = await run(_settings(mongo_uri, url, tmp_path, llm_url=llm_url, llm_concurrency=1), None)
    assert rc == 0 and not summary.errors
    assert fake.statuses[:3] == [429, 500, 200]
    n, prompt, _, _ = await _token_sum(mongo_db)
    assert n == len(fake.calls) and prompt == sum(r["prompt_tokens"] for r in fake.reported)

    await mongo_db["jobmatches"].delete_many({})
    rc, failed = await run(
        _settings(mongo_uri, url, tmp_path, llm_url=llm_url, key="sk-wrong", llm_concurrency=1), None
    )
    assert rc == ExitCode.BAD_INPUT  # the Job contract: a refused key fails the Job at once, no retries
    assert "OPENAI_API_KEY" in (failed.message or "") and "401" in (failed.message or "")
    assert fake.statuses[-1] == 401 and fake.statuses.count(401) == 1  # fails fast: no retries, no more calls
    assert await mongo_db["jobpostings"].count_documents({}) == 5  # what was fetched is kept
    jq = await mongo_db["jobqueues"].find_one({"jobName": "acme-001"})
    assert jq is not None and "OPENAI_API_KEY" in jq["result"]["message"]


async def test_bad_and_injected_llm_output_is_rejected_per_pair(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], llm: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    _, url = board
    fake, llm_url = llm
    await _seed_users(mongo_db)
    fake.script = ["bad", "inject"]
    rc, summary = await run(_settings(mongo_uri, url, tmp_path, llm_url=llm_url, llm_concurrency=1), None)
    assert rc == 0
    assert any("fails the schema" in e for e in summary.errors)
    assert any("prompt injection" in e for e in summary.errors)
    rejected = await mongo_db["jobmatches"].find({"llmError": {"$ne": None}, "method": "prefilter"}).to_list()
    assert len(rejected) == 2 and all(d["verdict"] is None and not d["isMatch"] for d in rejected)
    assert await mongo_db["jobmatches"].count_documents({"reasons": {"$regex": "Ignore previous"}}) == 0
    n, prompt, _, _ = await _token_sum(mongo_db)  # rejected answers still cost tokens
    assert n == len(fake.calls) and summary.tokens.prompt == prompt


async def test_workday_paging_and_a_broken_page(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], tmp_path: Path
) -> None:
    b, url = board
    src = {"url": "https://acme.wd3.myworkdayjobs.com/en-US/External"}
    sleeps = Sleeps()
    rc, summary = await run(_settings(mongo_uri, url, tmp_path, source=src), None, sleep=sleeps)
    assert rc == 0 and summary.postingsFound == 45 and not summary.errors
    assert (
        await mongo_db["jobpostings"].count_documents({"source": "workday", "board": "acme/External"}) == 45
    )

    b.fail_workday_offset = 20
    rc, partial = await run(
        _settings(mongo_uri, url, tmp_path, source=src, scrape_retries=1), None, sleep=sleeps
    )
    assert rc == 0
    assert partial.postingsFound == 20 and partial.postingsClosed == 0  # an incomplete listing closes nothing
    assert any("offset 20" in e and "HTTP 500" in e for e in partial.errors)
    assert await mongo_db["jobpostings"].count_documents({"status": "OPEN"}) == 45


async def test_retry_after_is_honoured(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], tmp_path: Path
) -> None:
    b, url = board
    b.throttle_once.add("/v1/boards/acme/jobs")
    b.retry_after = "7"
    sleeps = Sleeps()
    rc, summary = await run(_settings(mongo_uri, url, tmp_path), None, sleep=sleeps)
    assert rc == 0 and summary.postingsFound == 5
    assert sleeps.delays == [7.0] and b.hits["/v1/boards/acme/jobs"] == 2


async def test_private_addresses_refused_without_allow_list(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], tmp_path: Path
) -> None:
    _, url = board
    s = _settings(mongo_uri, url, tmp_path).model_copy(update={"scrape_allow_private_hosts": ""})
    rc, summary = await run(s, None)
    assert rc == 1
    assert "refused" in (summary.message or "") and "127.0.0.1" in (summary.message or "")
    assert await mongo_db["jobpostings"].count_documents({}) == 0


async def test_jsonld_list_and_detail_pages(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], tmp_path: Path
) -> None:
    _, url = board
    src = {"url": f"{url.replace('127.0.0.1', 'localhost')}/careers"}
    rc, summary = await run(_settings(mongo_uri, url, tmp_path, source=src), None)
    assert rc == 0
    docs = {d["nativeId"]: d for d in await mongo_db["jobpostings"].find({"source": "jsonld"}).to_list()}
    assert set(docs) == {"JL-1", "JL-2"}
    assert docs["JL-1"]["salary"]["min"] == 70000 and docs["JL-1"]["description"] == "Run & grow the platform"
    assert any("JSON-LD script 1 is malformed" in e for e in summary.errors)  # the broken sibling
    assert any("/careers/jobs/3" in e for e in summary.errors)  # the page with only a broken script
    assert summary.postingsClosed == 0


def _clock(day: int) -> Callable[[], datetime]:
    return lambda: datetime(2026, 3, day, 12, tzinfo=UTC)


async def _natural_keys_are_unique(db: DB) -> tuple[int, int]:
    postings_ = await db["jobpostings"].find({}).to_list()
    matches_ = await db["jobmatches"].find({}).to_list()
    assert len({(p["source"], p["board"], p["nativeId"]) for p in postings_}) == len(postings_)
    assert len({(m["source"], m["board"], m["nativeId"], m["userId"]) for m in matches_}) == len(matches_)
    return len(postings_), len(matches_)


async def test_reruns_write_no_duplicates_and_ids_come_from_natural_keys(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], llm: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    b, url = board
    _, llm_url = llm
    await _seed_users(mongo_db)
    s = _settings(mongo_uri, url, tmp_path, llm_url=llm_url)
    for day in (1, 2):
        rc, _ = await run(s, None, clock=_clock(day))
        assert rc == 0
        assert await _natural_keys_are_unique(mongo_db) == (5, 10)  # 5 postings x 2 tracking users
    b.greenhouse[1] = gh_job(2, title="Senior Backend Engineer", body="Now in Go.")  # changed
    b.greenhouse.append(gh_job(6, title="Backend Engineer"))  # new
    rc, third = await run(s, None, clock=_clock(3))
    assert rc == 0 and (third.postingsNew, third.postingsChanged) == (1, 1)
    assert await _natural_keys_are_unique(mongo_db) == (6, 12)
    async for p in mongo_db["jobpostings"].find({}):
        assert p["_id"] == postings.posting_id("greenhouse", "acme", p["nativeId"])
        assert p["firstSeenAt"] == _clock(3 if p["nativeId"] == "1006" else 1)()
        assert p["lastChangedAt"] == _clock(3 if p["nativeId"] in ("1002", "1006") else 1)()
        assert "lastSeenAt" not in p  # unchanged postings are not written: the board record says when
    board_doc = await boards.find(mongo_db, source="greenhouse", board="acme")
    assert board_doc is not None
    assert (board_doc["lastCompleteAt"], board_doc["firstFetchedAt"]) == (_clock(3)(), _clock(1)())
    assert board_doc["openPostings"] == 6 and board_doc["target"] == s.target
    async for m in mongo_db["jobmatches"].find({}):
        assert m["_id"] == matches.match_id("greenhouse", "acme", m["nativeId"], m["userId"])


async def test_documents_of_an_older_version_are_updated_in_place(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], llm: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    """Older versions upserted by natural key, so the server gave every document an ObjectId `_id`."""
    b, url = board
    fake, llm_url = llm
    await _seed_users(mongo_db)
    s = _settings(mongo_uri, url, tmp_path, llm_url=llm_url)
    rc, _ = await run(s, None, clock=_clock(1))
    assert rc == 0
    legacy: dict[tuple[str, ...], ObjectId] = {}
    for coll, key in (("jobpostings", ("nativeId",)), ("jobmatches", ("nativeId", "userId"))):
        for d in await mongo_db[coll].find({}).to_list():
            await mongo_db[coll].delete_one({"_id": d.pop("_id")})
            d["_id"] = legacy[(coll, *(d[k] for k in key))] = ObjectId()
            await mongo_db[coll].insert_one(d)
    calls = len(fake.calls)

    b.greenhouse[0] = gh_job(1, body="Now with Rust and Go.")  # changed: u1's verdict is redone
    gone = b.greenhouse.pop(2)  # closed
    b.greenhouse.append(gh_job(6, title="Python Developer", location="Remote"))  # new
    rc, summary = await run(s, None, clock=_clock(2))
    assert rc == 0, summary.message
    assert (summary.postingsNew, summary.postingsChanged, summary.postingsClosed) == (1, 1, 1)
    assert len(fake.calls) > calls
    assert await _natural_keys_are_unique(mongo_db) == (6, 12)

    by_native = {p["nativeId"]: p async for p in mongo_db["jobpostings"].find({})}
    for nid, p in by_native.items():
        if nid == "1006":
            assert p["_id"] == postings.posting_id("greenhouse", "acme", "1006")
        else:
            assert p["_id"] == legacy[("jobpostings", nid)]  # kept, not duplicated
    changed = by_native["1001"]
    assert "Now with Rust and Go." in changed["description"] and changed["lastChangedAt"] == _clock(2)()
    assert changed["firstSeenAt"] == _clock(1)()
    assert by_native["1002"]["lastChangedAt"] == _clock(1)()  # unchanged: not rewritten
    closed = by_native[str(gone["id"])]
    assert closed["status"] == "CLOSED" and closed["closedAt"] == _clock(2)()

    rescored = await mongo_db["jobmatches"].find_one({"nativeId": "1001", "userId": UID["u1"]})
    assert rescored is not None and rescored["_id"] == legacy[("jobmatches", "1001", UID["u1"])]
    assert rescored["postingHash"] == changed["contentHash"] and rescored["scoredAt"] == _clock(2)()
    async for m in mongo_db["jobmatches"].find({"nativeId": "1006"}):
        assert m["_id"] == matches.match_id("greenhouse", "acme", "1006", m["userId"])


async def test_a_hundred_changed_postings_in_one_run(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], tmp_path: Path
) -> None:
    """FerretDB v1.24 (SQLite) never answers an update command of >= 100 statements that match existing
    documents; the store splits its writes so a big change still completes."""
    b, url = board
    await _seed_users(mongo_db)
    b.greenhouse[:] = [gh_job(i) for i in range(130)]
    s = _settings(mongo_uri, url, tmp_path)
    rc, first = await asyncio.wait_for(run(s, None, clock=_clock(1)), 120)
    assert rc == 0 and first.postingsNew == 130
    b.greenhouse[:] = [gh_job(i, body="Rewritten.") for i in range(130)]
    rc, second = await asyncio.wait_for(run(s, None, clock=_clock(2)), 120)
    assert rc == 0 and second.postingsChanged == 130
    assert await _natural_keys_are_unique(mongo_db) == (130, 260)
    assert await mongo_db["jobmatches"].count_documents({"scoredAt": _clock(2)()}) == 260


async def test_unreadable_cvs_are_errors_of_the_run_and_not_fetched_again(
    mongo_db: DB, mongo_uri: str, board: tuple[Board, str], tmp_path: Path
) -> None:
    """`users.cvUrl` is fetched through the guarded fetcher; a CV that is missing or not a PDF is named
    in the run's errors (the run still succeeds) and not fetched again before SCOUTLY_CV_MAX_AGE."""
    b, url = board
    await _seed_users(mongo_db)
    await mongo_db["users"].update_one({"_id": U1["_id"]}, {"$set": {"cvUrl": f"{url}/cv/missing.pdf"}})
    await mongo_db["users"].update_one({"_id": U2["_id"]}, {"$set": {"cvUrl": f"{url}/careers"}})
    s = _settings(mongo_uri, url, tmp_path)
    for _ in range(2):
        rc, summary = await run(s, None)
        assert rc == 0, summary.message
        errors = " | ".join(summary.errors)
        assert f"CV of user {U1['_id']}: fetch failed: HTTP 404" in errors
        assert f"CV of user {U2['_id']}: not a PDF" in errors
    # each fetched once: the second run used the stored result
    assert (b.hits.get("/cv/missing.pdf"), b.hits.get("/careers")) == (1, 1)
    stored = {d["_id"]: d async for d in mongo_db["candidatecvs"].find({})}
    assert stored[U1["_id"]]["error"] == "fetch failed: HTTP 404" and stored[U1["_id"]]["text"] == ""
