"""Scrape workload benchmark: a generated Greenhouse board of N postings, 5 candidates, FerretDB and a
local OpenAI-compatible server. Reports fetch+parse time, full-run wall time, peak memory, LLM tokens
versus a naive baseline that scores every posting for every candidate, and what an unchanged re-run
costs: its wall time, the board's response bytes and status (the board sends an ETag; a client that
asks conditionally gets a 304 without a body). Timed parts run three times (median). Run: make bench-scrape

The harness uses only `run`, `detect` and `fetch_postings`, so it measures an older checkout too:
`PYTHONPATH=<checkout>/operator python bench/scrape_bench.py` (docs/performance.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.* fakes

from bench.ferret import start_ferretdb
from tests import appdata
from tests.integration.scrape.fakes import Board, FakeOpenAI, board_app, gh_job, serve

from scoutly.scrape.detect import detect
from scoutly.scrape.fetch import FetchConfig, Fetcher
from scoutly.scrape.llm import messages
from scoutly.scrape.models import SourceSpec
from scoutly.scrape.profile import profile_from_user
from scoutly.scrape.run import run
from scoutly.scrape.settings import ScrapeSettings
from scoutly.scrape.sources import SourceContext, fetch_postings

REPEATS = 3  # fetch+parse measurements and unchanged re-runs; the median is reported

ROLES = [
    "Backend Engineer",
    "Frontend Engineer",
    "Data Scientist",
    "Product Manager",
    "Account Executive",
    "Customer Success Manager",
    "DevOps Engineer",
    "Recruiter",
    "Financial Analyst",
    "Marketing Manager",
    "Sales Development Representative",
    "UX Designer",
    "Legal Counsel",
    "Office Manager",
    "Support Specialist",
]
LEVELS = ["", "Senior ", "Junior ", "Staff ", "Lead ", "Principal "]
CITIES = [
    "Berlin",
    "London",
    "New York",
    "Paris",
    "Madrid",
    "Remote",
    "Tokyo",
    "Toronto",
    "Munich",
    "Amsterdam",
]
# the app's users as its models store them (tests/appdata.py)
USERS = [
    appdata.user("b1@x.io", info=appdata.candidate_info(goals=["Backend Engineer"], city="Berlin")),
    appdata.user(
        "b2@x.io",
        info=appdata.candidate_info(goals=["Data Scientist"], city="London", environments=["On-site"]),
    ),
    appdata.user(
        "b3@x.io", generation="old", info=appdata.candidate_info(goals=["Product Manager"], city="New York")
    ),
    appdata.user("b4@x.io", info=appdata.candidate_info(goals=["UX Designer"], city="Paris")),
    appdata.user(
        "b5@x.io",
        info=appdata.candidate_info(goals=["DevOps Engineer", "Site Reliability Engineer"], city="Munich"),
    ),
]
COMPANY = appdata.company("acme", "Acme", "https://boards.greenhouse.io/acme")


def board_jobs(n: int, seed: int = 7) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    words = [
        "python",
        "kubernetes",
        "sql",
        "figma",
        "terraform",
        "customers",
        "growth",
        "roadmap",
        "react",
        "go",
        "rust",
        "data",
        "team",
    ]
    return [
        gh_job(
            i,
            title=rnd.choice(LEVELS) + rnd.choice(ROLES),
            location=rnd.choice(CITIES),
            body=" ".join(rnd.choices(words, k=120)),
        )
        for i in range(n)
    ]


async def main(n: int) -> dict[str, object]:
    board = Board(greenhouse=board_jobs(n))
    fake = FakeOpenAI()
    tmp = Path(tempfile.mkdtemp(prefix="scoutly-bench-"))
    fdb, mongo_uri = start_ferretdb(tmp)
    try:
        async with serve(board_app(board)) as url, serve(fake.app()) as llm_url:
            ref = detect(SourceSpec(url="https://boards.greenhouse.io/acme"), api_bases={"greenhouse": url})
            fetch_parse_all = []
            for _ in range(REPEATS):  # a shared machine is noisy: the median of a few
                fetcher = Fetcher(config=FetchConfig(allow_private=("127.0.0.1",)))
                t0 = time.perf_counter()
                res = await fetch_postings(SourceContext(ref=ref, fetcher=fetcher))
                fetch_parse_all.append(time.perf_counter() - t0)
                await fetcher.aclose()
                assert len(res.postings) == n, res.errors

            from pymongo import AsyncMongoClient

            uri = f"{mongo_uri}bench"
            mc: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
            await appdata.AppData(
                companies=[COMPANY],
                users=USERS,
                preferences=[appdata.preference(u, COMPANY, 80) for u in USERS],
            ).insert(mc["bench"])
            await mc.close()
            spec = {
                "company": "Acme",
                "companyId": str(COMPANY["_id"]),
                "source": {"url": "https://boards.greenhouse.io/acme"},
            }
            s = ScrapeSettings(
                target="bench/acme",
                target_spec=json.dumps(spec),
                job_name="bench-1",
                mongodb_uri=uri,
                termination_log="",
                scrape_allow_private_hosts="127.0.0.1",
                scrape_api_bases=json.dumps({"greenhouse": url}),
                openai_api_key="sk-test",
                openai_base_url=f"{llm_url}/v1",
                llm_token_budget=10_000_000,
                llm_tokens_per_minute=100_000_000,
                llm_concurrency=8,
                log_level="WARNING",
            )
            b0 = board.bytes_sent  # after the fetch+parse measurement above
            t0 = time.perf_counter()
            rc1, first = await run(s, None)
            run1 = time.perf_counter() - t0
            b1, s1 = board.bytes_sent, len(board.statuses)
            reruns = []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                rc2, second = await run(s, None)
                reruns.append(time.perf_counter() - t0)
                assert rc2 == 0 and second.postingsFound == n, second.message
            bytes1, bytes2, statuses2 = b1 - b0, board.bytes_sent - b1, board.statuses[s1:]
            assert rc1 == 0, first.message
            profiles = [profile_from_user(u) for u in USERS]
            naive = sum(
                FakeOpenAI.prompt_tokens(messages(pr, p, max_chars=s.llm_max_posting_chars)) + 17
                for pr in profiles
                for p in res.postings
            )
    finally:
        fdb.stop()
    return {
        "postings": n,
        "candidates": len(USERS),
        "fetch_parse_seconds": round(statistics.median(fetch_parse_all), 3),
        "fetch_parse_seconds_all": [round(x, 3) for x in fetch_parse_all],
        "first_run_seconds": round(run1, 2),
        "first_run_board_bytes": bytes1,
        "rerun_seconds": round(statistics.median(reruns), 2),
        "rerun_seconds_all": [round(x, 2) for x in reruns],
        "rerun_board_bytes": bytes2 // REPEATS,
        "rerun_board_statuses": statuses2,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "llm_calls_first_run": len(fake.reported),
        "tokens_first_run": first.tokens.total,
        "tokens_rerun": second.tokens.total,
        "tokens_naive": naive,
        "first_run_vs_naive": f"{first.tokens.total / naive:.1%}",
        "matches": first.matches,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--postings", type=int, default=2000)
    ap.add_argument("--out", help="also write the figures to this JSON file")
    args = ap.parse_args()
    import scoutly

    figures = {"code": str(Path(scoutly.__file__).resolve().parents[1]), **asyncio.run(main(args.postings))}
    print(json.dumps(figures, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
