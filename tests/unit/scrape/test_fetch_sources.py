"""The fetcher and every source module against a local HTTP server (no binaries, no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from scoutly.scrape.detect import detect
from scoutly.scrape.fetch import FetchConfig, Fetcher, FetchError
from scoutly.scrape.models import SourceSpec
from scoutly.scrape.settings import SOURCE_TYPES
from scoutly.scrape.sources import SourceContext, fetch_postings
from tests.integration.scrape.fakes import Board, board_app, gh_job, serve


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@pytest_asyncio.fixture
async def server() -> AsyncIterator[tuple[Board, str]]:
    b = Board(greenhouse=[gh_job(1), gh_job(2)])
    async with serve(board_app(b)) as url:
        yield b, url


def _fetcher(allow: tuple[str, ...] = ("127.0.0.1", "localhost"), **kw: object) -> Fetcher:
    kw.setdefault("rate_per_host", 1000.0)
    return Fetcher(config=FetchConfig(allow_private=allow, **kw), sleep=_no_sleep)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expect"),
    [
        ("https://boards.greenhouse.io/acme", {"1001": "Backend Engineer"}),
        ("https://jobs.lever.co/acme", {"5ac21346-8e0c-4494-8e7a-3eb92ff77902": "Senior Python Developer"}),
        ("https://jobs.ashbyhq.com/acme", {"a1": "ML Engineer"}),
        ("https://apply.workable.com/acme/", {"AB12CD": "Support Agent"}),
        ("https://jobs.smartrecruiters.com/acme", {"7000": "Analyst 0", "7149": "Analyst 149"}),
        ("https://acme.recruitee.com/", {"42": "Designer"}),
        ("https://acme.jobs.personio.de/", {"123": "DevOps Engineer"}),
        (
            "https://acme.wd3.myworkdayjobs.com/en-US/External",
            {"R0000": "Data Engineer_R0000", "R0044": "Data Engineer_R0044"},
        ),
    ],
)
async def test_sources(server: tuple[Board, str], url: str, expect: dict[str, str]) -> None:
    _, base = server
    ref = detect(SourceSpec(url=url), api_bases=dict.fromkeys(SOURCE_TYPES[:8], base))
    f = _fetcher()
    try:
        res = await fetch_postings(SourceContext(ref=ref, fetcher=f))
    finally:
        await f.aclose()
    by_id = {p.native_id: p for p in res.postings}
    for nid, title in expect.items():
        assert by_id[nid].title == title
        assert by_id[nid].source == ref.type and by_id[nid].description
    if ref.type == "greenhouse":
        assert (
            by_id["1001"].description.startswith("We build things.")
            and by_id["1001"].department == "Engineering"
        )
    if ref.type == "lever":  # the posting with an empty title is an error, not a stored posting
        assert (
            by_id[expect.__iter__().__next__()].salary is not None
            and by_id["5ac21346-8e0c-4494-8e7a-3eb92ff77902"].remote
        )
        assert len(res.postings) == 1 and "invalid title" in res.errors[0] and not res.complete
    elif ref.type == "ashby":
        assert "a2" not in by_id  # unlisted
    elif ref.type == "smartrecruiters":
        assert len(res.postings) == 150 and "Excel" in by_id["7000"].description
    elif ref.type == "workday":
        assert len(res.postings) == 45
    else:
        assert not res.errors


async def test_plain_html_fallback(server: tuple[Board, str]) -> None:
    _, base = server
    f = _fetcher()
    try:
        res = await fetch_postings(SourceContext(ref=detect(SourceSpec(url=f"{base}/plain")), fetcher=f))
    finally:
        await f.aclose()
    assert [(p.source, p.title) for p in res.postings] == [("html", "Software Engineer")]


async def test_ssrf_refusals(server: tuple[Board, str]) -> None:
    b, base = server
    f = _fetcher(allow=())
    try:
        with pytest.raises(FetchError, match=r"refused: 127\.0\.0\.1 resolves to the non-global"):
            await f.get(f"{base}/v1/boards/acme/jobs")
        with pytest.raises(FetchError, match="metadata"):
            await f.get("http://169.254.169.254/latest/meta-data/")
        with pytest.raises(FetchError, match="not an http"):
            await f._request("GET", "gopher://127.0.0.1/")
    finally:
        await f.aclose()
    # localhost is allowed by name, but a redirect to the bare 127.0.0.1 address is re-checked and refused
    port = base.rsplit(":", 1)[1]
    b.extra_routes["/hop"] = lambda: web.Response(
        status=302, headers={"Location": f"http://127.0.0.1:{port}/v1/boards/acme/jobs"}
    )
    f = _fetcher(allow=("localhost",))
    try:
        with pytest.raises(FetchError, match="refused"):
            await f.get(f"http://localhost:{port}/hop")
        assert b.hits["/hop"] == 1 and "/v1/boards/acme/jobs" not in b.hits
    finally:
        await f.aclose()


async def test_size_cap_retries_and_robots(server: tuple[Board, str]) -> None:
    b, base = server
    b.extra_routes["/huge"] = lambda: web.Response(body=b"x" * 50_000)
    f = _fetcher(max_bytes=10_000, retries=2)
    try:
        with pytest.raises(FetchError, match="too large"):
            await f.get(f"{base}/huge")
        b.extra_routes["/down"] = lambda: web.Response(status=503)
        with pytest.raises(FetchError, match="HTTP 503"):
            await f.get(f"{base}/down")
        assert b.hits["/down"] == 3
        with pytest.raises(FetchError, match="robots"):
            await f.get(f"{base}/private/jobs/9", html=True)
        assert (await f.get(f"{base}/careers", html=True)).status == 200
    finally:
        await f.aclose()
    b.robots = None  # 404 robots.txt: everything allowed
    f = _fetcher()
    try:
        assert (await f.get(f"{base}/careers", html=True)).status == 200
    finally:
        await f.aclose()
