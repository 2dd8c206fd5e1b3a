"""Every source parses its whole fixture corpus (tests/fixtures/<source>/) through the real fetcher against
a local server answering at the service's own paths; every field of every posting is compared with the
hand-written expectation beside the fixture."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from scoutly.scrape.detect import SourceRef, detect
from scoutly.scrape.fetch import FetchConfig, Fetcher
from scoutly.scrape.models import Posting, SourceSpec
from scoutly.scrape.sources import SourceContext, SourceResult, fetch_postings, resolve
from tests.fixtures.corpus import corpus_server, expected

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # "Posted 3 Days Ago" on Workday is relative to this


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def fetcher() -> Fetcher:
    cfg = FetchConfig(allow_private=("127.0.0.1", "localhost"), rate_per_host=1000.0, retries=0)
    return Fetcher(config=cfg, sleep=_no_sleep)


def ref_for(source: str, board: str, base: str, url: str) -> SourceRef:
    """The ref `detect` makes of the board's public `url`, pointed at the fixture server."""
    return detect(SourceSpec(url=url), api_bases={source: f"{base}/_/{source}/{board}"})


async def scrape(ref: SourceRef, **ctx_kw: Any) -> SourceResult:
    f = fetcher()
    try:
        ctx = await resolve(SourceContext(ref=ref, fetcher=f, now=NOW, **ctx_kw))
        return await fetch_postings(ctx)
    finally:
        await f.aclose()


def as_expected(p: Posting) -> dict[str, Any]:
    d = p.model_dump(mode="json", exclude={"source", "board", "content_hash"})
    d["locations"] = list(d["locations"])
    return d


def check(res: SourceResult, source: str, board: str, *, base: str = "") -> None:
    want = expected(source, board)
    if base:  # career pages' URLs (and URL-keyed ids) include the local server's address
        want = json.loads(json.dumps(want).replace("{base}", base))
    got = [as_expected(p) for p in res.postings]
    assert [p["native_id"] for p in got] == [p["native_id"] for p in want["postings"]]
    for g, w in zip(got, want["postings"], strict=True):
        assert g == w, g["native_id"]
    assert (res.complete, res.untitled) == (want["complete"], want["untitled"])
    assert len(res.errors) == len(want["errors"])  # detail pages finish in any order
    for pattern in want["errors"]:
        assert any(pattern in err for err in res.errors), (pattern, res.errors)
    assert {p.source for p in res.postings} <= {source}


BOARDS = [
    ("greenhouse", "acme", "https://boards.greenhouse.io/acme"),
    ("greenhouse", "empty", "https://job-boards.greenhouse.io/empty"),
    ("lever", "acme", "https://jobs.lever.co/acme"),
    ("lever", "empty", "https://jobs.eu.lever.co/empty"),
    ("ashby", "acme", "https://jobs.ashbyhq.com/acme"),
    ("ashby", "empty", "https://jobs.ashbyhq.com/empty"),
    ("workable", "acme", "https://apply.workable.com/acme/"),
    ("workable", "empty", "https://apply.workable.com/empty"),
    ("smartrecruiters", "acme", "https://jobs.smartrecruiters.com/acme"),
    ("smartrecruiters", "empty", "https://careers.smartrecruiters.com/empty"),
    ("recruitee", "acme", "https://acme.recruitee.com/"),
    ("recruitee", "empty", "https://empty.recruitee.com/"),
    ("personio", "acme", "https://acme.jobs.personio.de/"),
    ("personio", "empty", "https://empty.jobs.personio.com/"),
    ("workday", "acme", "https://acme.wd3.myworkdayjobs.com/en-US/External"),
    ("workday", "empty", "https://empty.wd1.myworkdayjobs.com/External"),
    ("jsonld", "acme", "{base}/_/jsonld/acme/careers"),
    ("jsonld", "empty", "{base}/_/jsonld/empty/careers"),
]


PAGED = [
    ("smartrecruiters", "paged", "https://jobs.smartrecruiters.com/paged", "v1/companies/paged/postings"),
    (
        "workday",
        "paged",
        "https://wd5.myworkdaysite.com/recruiting/paged/Careers",
        "wday/cxs/paged/Careers/jobs",
    ),
]


@pytest.mark.parametrize(("source", "board", "url"), BOARDS, ids=[f"{s}-{b}" for s, b, _ in BOARDS])
async def test_corpus(source: str, board: str, url: str) -> None:
    async with corpus_server() as (corpus, base):
        res = await scrape(ref_for(source, board, base, url.format(base=base)))
    check(res, source, board, base=base)
    assert all(status in (200, 304) for _, _, status in corpus.seen) or not res.complete


@pytest.mark.parametrize(("source", "board", "url", "listing"), PAGED, ids=[s for s, *_ in PAGED])
async def test_paged_corpus(source: str, board: str, url: str, listing: str) -> None:
    """Pages are requested by offset until the first page's total is reached (Workday reports 0 on later
    pages); every listed posting gets its detail."""
    async with corpus_server() as (corpus, base):
        res = await scrape(ref_for(source, board, base, url))
    want = expected(source, board)
    assert [p.native_id for p in res.postings] == want["native_ids"]
    assert (res.complete, res.errors) == (want["complete"], want["errors"])
    pages = [path for _, path, _ in corpus.seen if path.endswith(listing)]
    assert len(pages) == len(want["requests"])
    details = [path for _, path, status in corpus.seen if not path.endswith(listing) and status == 200]
    assert len(details) == len(want["native_ids"])
    assert all(p.description and p.url and p.posted_at for p in res.postings)
