"""Every source end to end: `scoutly scrape` against the fixture corpus (a local server at the services'
own paths) and FerretDB, then an unchanged re-run. Boards that are one response answer the re-run with
304 and nothing is parsed or written; the others are read again and nothing changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scoutly.scrape.run import run
from scoutly.scrape.settings import ScrapeSettings
from scoutly.store import boards
from tests.fixtures.corpus import corpus_server, expected
from tests.integration.scrape.test_scrape_run import DB

pytestmark = pytest.mark.mongo

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # the corpus' relative Workday dates count from here


def _clock(day: int) -> Callable[[], datetime]:
    return lambda: NOW + timedelta(days=day - 1)


CONDITIONAL = {"greenhouse", "lever", "ashby", "workable", "recruitee", "personio"}
BOARDS = [
    ("greenhouse", "acme", "https://boards.greenhouse.io/acme"),
    ("lever", "acme", "https://jobs.lever.co/acme"),
    ("ashby", "acme", "https://jobs.ashbyhq.com/acme"),
    ("workable", "acme", "https://apply.workable.com/j/7B3A1C9E2F"),
    ("smartrecruiters", "acme", "https://jobs.smartrecruiters.com/acme"),
    ("recruitee", "acme", "https://acme.recruitee.com/"),
    ("personio", "acme", "https://acme.jobs.personio.de/"),
    ("workday", "acme", "https://acme.wd3.myworkdayjobs.com/en-US/External"),
    ("jsonld", "acme", "{base}/_/jsonld/acme/careers"),
]


def settings(uri: str, tmp: Path, source: str, board: str, url: str, base: str) -> ScrapeSettings:
    spec = {"company": "Acme", "companyId": "c1", "source": {"url": url}}
    return ScrapeSettings(
        target="team-a/acme",
        target_spec=json.dumps(spec),
        job_name="acme-001",
        mongodb_uri=uri,
        termination_log=str(tmp / "termination-log"),
        scrape_allow_private_hosts="127.0.0.1,localhost",
        scrape_api_bases=json.dumps({source: f"{base}/_/{source}/{board}"}),
        scrape_rate_per_host=1000.0,
        scrape_retries=0,
    )


@pytest.mark.parametrize(("source", "board", "url"), BOARDS, ids=[s for s, _, _ in BOARDS])
async def test_source_end_to_end(
    mongo_db: DB,
    mongo_uri: str,
    tmp_path: Path,
    source: str,
    board: str,
    url: str,
) -> None:
    async with corpus_server() as (corpus, base):
        want = json.loads(json.dumps(expected(source, board)).replace("{base}", base))
        s = settings(mongo_uri, tmp_path, source, board, url.format(base=base), base)
        rc, first = await run(s, None, clock=_clock(1))
        assert rc == 0, first.message
        docs = {d["nativeId"]: d async for d in mongo_db["jobpostings"].find({"source": source})}
        assert sorted(docs) == sorted(p["native_id"] for p in want["postings"])
        for p in want["postings"]:
            d = docs[p["native_id"]]
            assert (d["title"], d["locations"], d["location"], d["workplace"], d["remote"]) == (
                p["title"],
                p["locations"],
                p["location"],
                p["workplace"],
                p["remote"],
            )
            assert (d["employmentType"], d["employmentLabel"], d["url"]) == (
                p["employment_type"],
                p["employment_label"],
                p["url"],
            )
            assert (d["postedAt"].isoformat() if d["postedAt"] else None) == (
                p["posted_at"].replace("Z", "+00:00") if p["posted_at"] else None
            )
        assert first.quality is not None and first.quality.source == source
        assert first.quality.rows == len(want["postings"]) + want["untitled"]
        assert not first.notModified

        seen = len(corpus.seen)
        rc, again = await run(s, None, clock=_clock(2))
        assert rc == 0, again.message
        assert (again.postingsFound, again.postingsNew, again.postingsChanged) == (len(docs), 0, 0)
        if source in CONDITIONAL and want["complete"]:
            assert again.notModified and again.quality is None
            assert [status for _, _, status in corpus.seen[seen:]].count(304) == 1
            record = await boards.find(mongo_db, source=source, board=first_board(docs))
            assert record is not None and record["conditional"] and record["lastCompleteAt"] == _clock(2)()
        else:
            assert not again.notModified and 304 not in [status for _, _, status in corpus.seen[seen:]]
        async for d in mongo_db["jobpostings"].find({"source": source}):
            assert d["lastChangedAt"] == _clock(1)()  # nothing rewritten


def first_board(docs: dict[str, Any]) -> str:
    return str(next(iter(docs.values()))["board"])
