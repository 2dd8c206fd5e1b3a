"""Scrape workload benchmark: a generated Greenhouse board of N postings, 5 candidates, FerretDB and a
local OpenAI-compatible server. Reports fetch+parse time, full-run wall time, peak memory, and LLM tokens
versus a naive baseline that scores every posting for every candidate. Run: make bench-scrape"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
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
            fetcher = Fetcher(config=FetchConfig(allow_private=("127.0.0.1",)))
            t0 = time.perf_counter()
            res = await fetch_postings(SourceContext(ref=ref, fetcher=fetcher))
            fetch_parse = time.perf_counter() - t0
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
            t0 = time.perf_counter()
            rc1, first = await run(s, None)
            run1 = time.perf_counter() - t0
            t0 = time.perf_counter()
            rc2, second = await run(s, None)
            run2 = time.perf_counter() - t0
            assert rc1 == 0 and rc2 == 0, (first.message, second.message)
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
        "fetch_parse_seconds": round(fetch_parse, 3),
        "first_run_seconds": round(run1, 2),
        "rerun_seconds": round(run2, 2),
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
    print(json.dumps(asyncio.run(main(ap.parse_args().postings)), indent=2))
