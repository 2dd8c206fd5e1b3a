"""Conditional fetching and the posting-quality check across runs, on the Greenhouse fake (it sends an
ETag and answers a matching If-None-Match with 304, as RFC 9110 has it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoutly.scrape.run import run
from scoutly.scrape.sources import PARSER_VERSION
from scoutly.store import boards
from tests.integration.scrape.fakes import Board, FakeOpenAI, gh_job
from tests.integration.scrape.test_scrape_run import (  # noqa: F401 - board, llm: fixtures
    DB,
    U3,
    UID,
    _clock,
    _seed_users,
    _settings,
    board,
    llm,
)

pytestmark = pytest.mark.mongo


async def test_unchanged_board_costs_a_304_and_new_trackers_are_still_matched(
    mongo_db: DB,
    mongo_uri: str,
    board: tuple[Board, str],  # noqa: F811
    llm: tuple[FakeOpenAI, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    b, url = board
    fake, llm_url = llm
    await _seed_users(mongo_db)
    s = _settings(mongo_uri, url, tmp_path, llm_url=llm_url)
    rc, first = await run(s, None, clock=_clock(1))
    assert rc == 0 and first.postingsNew == 5 and b.statuses == [200]
    record = await boards.find(mongo_db, source="greenhouse", board="acme")
    assert record is not None and record["parserVersion"] == PARSER_VERSION
    assert [r["url"] for r in record["conditional"]] == [f"{url}/v1/boards/acme/jobs?content=true"]
    assert record["conditional"][0]["etag"].startswith('W/"')
    calls = len(fake.calls)

    # u3 starts tracking: the unchanged board answers 304, and u3 is scored against the stored postings
    await mongo_db["usercompanypreferences"].update_one(
        {"userId": str(U3["userId"])}, {"$set": {"isTracking": True}}
    )
    rc, second = await run(s, None, clock=_clock(2))
    assert rc == 0, second.message
    assert b.statuses == [200, 304]
    assert second.notModified and "board unchanged (HTTP 304)" in (second.message or "")
    assert (second.postingsFound, second.postingsNew, second.postingsChanged, second.postingsClosed) == (
        5,
        0,
        0,
        0,
    )
    assert second.candidates == 3 and second.quality is None
    assert await mongo_db["jobmatches"].count_documents({"userId": UID["u3"]}) == 5
    assert await mongo_db["tokenusages"].count_documents({}) == len(fake.calls)
    # u3 (career goal Sales) was not a candidate of the first run
    assert all("career goals: Sales" not in call["messages"][1]["content"] for call in fake.calls[:calls])
    async for d in mongo_db["jobpostings"].find({}):
        assert d["lastChangedAt"] == _clock(1)()
    record = await boards.find(mongo_db, source="greenhouse", board="acme")
    assert record is not None and record["lastCompleteAt"] == _clock(2)() and record["openPostings"] == 5

    # a change is a 200 again, and is seen
    b.greenhouse[0] = gh_job(1, body="Now with Rust.")
    rc, third = await run(s, None, clock=_clock(3))
    assert rc == 0 and b.statuses == [200, 304, 200] and third.postingsChanged == 1 and not third.notModified


async def test_validators_are_kept_only_from_clean_runs_of_this_parser(
    mongo_db: DB,
    mongo_uri: str,
    board: tuple[Board, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    b, url = board
    s = _settings(mongo_uri, url, tmp_path)
    b.greenhouse.append({**gh_job(9), "title": ""})  # a row without a title: the run is not clean
    rc, first = await run(s, None, clock=_clock(1))
    assert rc == 0 and first.quality is not None and first.quality.missingTitle == 1
    record = await boards.find(mongo_db, source="greenhouse", board="acme")
    assert record is not None and record["conditional"] == []
    rc, _ = await run(s, None, clock=_clock(2))
    assert b.statuses == [200, 200]  # nothing to ask conditionally with

    b.greenhouse.pop()
    await run(s, None, clock=_clock(3))
    await run(s, None, clock=_clock(4))
    assert b.statuses[-2:] == [200, 304]
    # validators a different parser version stored are not used: the new parser reads the body once
    await mongo_db["jobboards"].update_one({}, {"$set": {"parserVersion": PARSER_VERSION - 1}})
    rc, fifth = await run(s, None, clock=_clock(5))
    assert rc == 0 and b.statuses[-1] == 200 and not fifth.notModified

    b.etags = False  # a service that sends no validators: every run reads the board
    await run(s, None, clock=_clock(6))
    await run(s, None, clock=_clock(7))
    assert b.statuses[-2:] == [200, 200]
    s_off = s.model_copy(update={"scrape_conditional_requests": False})
    b.etags = True
    await run(s_off, None, clock=_clock(8))
    await run(s_off, None, clock=_clock(9))
    assert b.statuses[-2:] == [200, 200]


async def test_a_quality_jump_reaches_the_summary_and_the_termination_message(
    mongo_db: DB,
    mongo_uri: str,
    board: tuple[Board, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    b, url = board
    b.greenhouse[:] = [gh_job(i, location=f"City {i}") for i in range(10)]
    s = _settings(mongo_uri, url, tmp_path)
    rc, first = await run(s, None, clock=_clock(1))
    assert rc == 0 and first.quality is not None and first.quality.jumps == []
    assert (first.quality.rows, first.quality.missingLocation, first.quality.missingDate) == (10, 0, 0)

    for i in range(8):  # the service stops sending the location of most postings
        b.greenhouse[i] = {**gh_job(i), "location": {"name": ""}, "offices": []}
    rc, second = await run(s, None, clock=_clock(2))
    assert rc == 0 and second.quality is not None
    assert [(j.field, j.before, j.after) for j in second.quality.jumps] == [("location", 0.0, 0.8)]
    assert "quality: 80% lack a location (last run 0%)" in (second.message or "")
    term = json.loads((tmp_path / "termination-log").read_text())
    assert term["quality"]["jumps"] == [{"field": "location", "before": 0.0, "after": 0.8}]
    assert term["quality"]["source"] == "greenhouse" and term["quality"]["missingLocation"] == 8
    record = await boards.find(mongo_db, source="greenhouse", board="acme")
    assert record is not None and record["quality"]["missing"]["location"] == 8

    rc, third = await run(s, None, clock=_clock(3))  # unchanged: a 304, no quality verdict either way
    assert rc == 0 and third.notModified and third.quality is None
