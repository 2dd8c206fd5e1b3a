"""Issue 15's symptoms, one test each, on the fixture corpus through the real fetcher. Each of these
failed on the code before the fix (the module imports nothing that code lacked, so it runs there too)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scoutly.scrape import sources
from scoutly.scrape.detect import detect
from scoutly.scrape.fetch import FetchConfig, Fetcher
from scoutly.scrape.models import Posting, SourceSpec
from scoutly.scrape.sources import SourceContext, fetch_postings
from tests.fixtures.corpus import corpus_server

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


async def board(source: str, name: str, url: str, *, base: str, **spec: Any) -> list[Posting]:
    f = Fetcher(config=FetchConfig(allow_private=("127.0.0.1", "localhost"), rate_per_host=1000.0, retries=0))
    try:
        ref = detect(SourceSpec(url=url, **spec), api_bases={source: f"{base}/_/{source}/{name}"})
        ctx = SourceContext(ref=ref, fetcher=f)
        if hasattr(ctx, "now"):
            ctx.now = NOW
        if resolve := getattr(sources, "resolve", None):
            ctx = await resolve(ctx)
        return (await fetch_postings(ctx)).postings
    finally:
        await f.aclose()


def by_id(postings: list[Posting]) -> dict[str, list[Posting]]:
    out: dict[str, list[Posting]] = {}
    for p in postings:
        out.setdefault(p.native_id, []).append(p)
    return out


async def test_recruitee_utc_suffixed_times_parse() -> None:
    async with corpus_server() as (_, base):
        found = by_id(await board("recruitee", "acme", "https://acme.recruitee.com/", base=base))
    offer = found["2772077"][0]
    assert offer.posted_at == datetime(2026, 8, 11, 20, 45, 29, tzinfo=UTC)
    assert offer.updated_at == datetime(2026, 9, 1, 7, 30, tzinfo=UTC)
    assert found["3001003"][0].posted_at == datetime(2026, 11, 2, 8, 15, tzinfo=UTC)  # created_at only


async def test_ashby_hybrid_is_not_remote() -> None:
    async with corpus_server() as (_, base):
        found = by_id(await board("ashby", "acme", "https://jobs.ashbyhq.com/acme", base=base))
    hybrid = found["7458d4e9-da2e-47bd-98cb-adfda43d42b2"][0]  # workplaceType Hybrid, isRemote true
    assert hybrid.remote is False
    assert getattr(hybrid, "workplace", None) == "hybrid"


async def test_workable_location_rows_fold_into_one_posting() -> None:
    async with corpus_server() as (_, base):
        found = by_id(await board("workable", "acme", "https://apply.workable.com/acme/", base=base))
    rows = found["7B3A1C9E2F"]
    assert len(rows) == 1
    assert rows[0].location == "Athens, Attica, Greece; Thessaloniki, Central Macedonia, Greece"


async def test_workday_reads_additional_locations_and_remote_type() -> None:
    async with corpus_server() as (_, base):
        found = by_id(
            await board("workday", "acme", "https://acme.wd3.myworkdayjobs.com/en-US/External", base=base)
        )
    job = found["R0001234"][0]
    assert job.location == "Berlin, Germany; Munich, Germany; Remote, Germany"
    assert job.remote is False and getattr(job, "workplace", None) == "hybrid"


async def test_jsonld_identifier_name_is_never_the_posting_id() -> None:
    async with corpus_server() as (_, base):
        postings = await board("jsonld", "acme", f"{base}/_/jsonld/acme/careers", base=base)
    ids = [p.native_id for p in postings]
    assert "Acme Corp" not in ids
    assert len(ids) == len(set(ids)) == 6
    assert {p.title for p in postings} >= {
        "Remote Support Agent",
        "Store Manager",
        "Driver (North)",
        "Driver (South)",
    }


async def test_failed_detail_keeps_the_listed_posting() -> None:
    async with corpus_server() as (_, base):
        sr = by_id(await board("smartrecruiters", "acme", "https://jobs.smartrecruiters.com/acme", base=base))
        wd = by_id(
            await board("workday", "acme", "https://acme.wd3.myworkdayjobs.com/en-US/External", base=base)
        )
    kept = sr["744000112233448"][0]  # its detail answers 404
    assert (kept.title, kept.location, kept.url) == (
        "Warehouse Operative",
        "Hamburg, Germany",
        "https://jobs.smartrecruiters.com/Acme/744000112233448",
    )
    listed = wd["R0009999"][0]
    assert (listed.title, listed.location, listed.url) == (
        "Warehouse Associate",
        "Reno, NV",
        "https://acme.wd3.myworkdayjobs.com/External/job/Reno-NV/Warehouse-Associate_R0009999",
    )
    assert listed.posted_at == datetime(2026, 11, 17, tzinfo=UTC)  # "Posted 3 Days Ago"


async def test_smartrecruiters_url_when_the_detail_has_none() -> None:
    """The URL came only from the detail; a listed posting always has one."""
    async with corpus_server() as (_, base):
        found = await board("smartrecruiters", "acme", "https://jobs.smartrecruiters.com/acme", base=base)
    assert all(p.url for p in found) and len(found) == 5


def test_detect_workable_job_link_myworkdaysite_and_recruitee_own_domain() -> None:
    ref = detect(SourceSpec(url="https://apply.workable.com/j/C7389E54B7"))
    assert ref.type == "workable" and ref.board != "j"
    ref = detect(SourceSpec(url="https://wd3.myworkdaysite.com/recruiting/mdlz/External"))
    assert (ref.type, ref.board, ref.api) == ("workday", "mdlz/External", "https://wd3.myworkdaysite.com")
    ref = detect(SourceSpec(url="https://meet.zoi.tech/", type="recruitee"))
    assert (ref.type, ref.board, ref.api) == ("recruitee", "meet.zoi.tech", "https://meet.zoi.tech")


async def test_workable_job_link_resolves_to_its_account() -> None:
    async with corpus_server() as (_, base):
        postings = await board("workable", "acme", "https://apply.workable.com/j/7B3A1C9E2F", base=base)
    assert {p.board for p in postings} == {"acme"} and len(postings) == 5


async def test_recruitee_careers_site_on_its_own_domain() -> None:
    async with corpus_server(prefix=False, fixture="recruitee/owndomain") as (_, site):
        postings = await board("jsonld", "owndomain", f"{site.replace('127.0.0.1', 'localhost')}/", base=site)
    assert [(p.source, p.title) for p in postings] == [("recruitee", "Platform Engineer")]


async def test_greenhouse_employment_type_from_metadata() -> None:
    async with corpus_server() as (_, base):
        found = by_id(await board("greenhouse", "acme", "https://boards.greenhouse.io/acme", base=base))
    assert found["4012345001"][0].employment_type in ("FULL_TIME", "Full-time")
    assert found["4012345002"][0].employment_type in ("CONTRACTOR", "Contract")


async def test_personio_additional_offices() -> None:
    async with corpus_server() as (_, base):
        found = by_id(await board("personio", "acme", "https://acme.jobs.personio.de/", base=base))
    assert found["1834171"][0].location == "Munich; Berlin"  # "Remote" is the workplace, not an office
    assert found["1834171"][0].remote is True


# -- similar symptoms the corpus found ---------------------------------------------------------------


async def test_lever_workplace_type_and_all_locations() -> None:
    async with corpus_server() as (_, base):
        found = by_id(await board("lever", "acme", "https://jobs.lever.co/acme", base=base))
    hybrid = found["5ac21346-8e0c-4494-8e7a-3eb92ff77902"][0]
    assert hybrid.location == "London, United Kingdom; Dublin, Ireland; Lisbon, Portugal"
    assert hybrid.remote is False  # workplaceType hybrid
    assert found["270ab137-6144-4126-aced-a4d4094048d6"][0].remote is False  # on-site


async def test_recruitee_hybrid_flag_and_locations() -> None:
    async with corpus_server() as (_, base):
        found = by_id(await board("recruitee", "acme", "https://acme.recruitee.com/", base=base))
    offer = found["2772077"][0]
    assert offer.location == "Amsterdam, Noord-Holland, Netherlands; Rotterdam, Zuid-Holland, Netherlands"
    assert getattr(offer, "workplace", None) == "hybrid"


async def test_smartrecruiters_hybrid_flag() -> None:
    async with corpus_server() as (_, base):
        found = by_id(
            await board("smartrecruiters", "acme", "https://jobs.smartrecruiters.com/acme", base=base)
        )
    assert getattr(found["744000112233445"][0], "workplace", None) == "hybrid"


async def test_greenhouse_posts_of_one_job_are_one_posting() -> None:
    async with corpus_server() as (_, base):
        found = by_id(await board("greenhouse", "acme", "https://boards.greenhouse.io/acme", base=base))
    assert "4012345007" not in found
    assert found["4012345006"][0].location == "Toronto, ON; Vancouver, BC"


async def test_ashby_secondary_locations_and_salary_range() -> None:
    async with corpus_server() as (_, base):
        found = by_id(await board("ashby", "acme", "https://jobs.ashbyhq.com/acme", base=base))
    job = found["7458d4e9-da2e-47bd-98cb-adfda43d42b2"][0]
    assert job.location == "San Francisco; New York; Seattle"
    assert job.salary is not None and (job.salary.min, job.salary.max, job.salary.currency) == (
        180000,
        220000,
        "USD",
    )


async def test_paged_boards_read_every_posting() -> None:
    """SmartRecruiters in pages of 100, Workday in pages of 20 on the shared myworkdaysite.com host."""
    async with corpus_server() as (_, base):
        sr = await board("smartrecruiters", "paged", "https://jobs.smartrecruiters.com/paged", base=base)
        wd = await board(
            "workday", "paged", "https://wd5.myworkdaysite.com/recruiting/paged/Careers", base=base
        )
    assert (len(sr), len(wd)) == (103, 23)


async def test_a_page_named_jsonld_is_not_sniffed() -> None:
    async with corpus_server(prefix=False, fixture="recruitee/owndomain") as (_, site):
        url = f"{site.replace('127.0.0.1', 'localhost')}/"
        postings = await board("jsonld", "owndomain", url, base=site, type="jsonld")
    assert postings == []  # the page has no JSON-LD and no job links; the Recruitee API is not asked
