"""URL detection against real public board URLs (collected from other people's scrapers, job lists and
link checkers): the type, the board and the API base every run will call."""

from __future__ import annotations

import pytest

from scoutly.scrape.detect import DetectError, detect
from scoutly.scrape.models import SourceSpec

GH = "https://boards-api.greenhouse.io"
LEVER, LEVER_EU = "https://api.lever.co", "https://api.eu.lever.co"
ASHBY = "https://api.ashbyhq.com"
WORKABLE = "https://apply.workable.com"
SR = "https://api.smartrecruiters.com"

REAL = [
    # Greenhouse: boards, job-boards (also .eu), embeds; EU boards are served by the global API
    ("https://boards.greenhouse.io/stripe", "greenhouse", "stripe", GH),
    ("https://boards.greenhouse.io/airbnb", "greenhouse", "airbnb", GH),
    ("https://job-boards.greenhouse.io/databricks", "greenhouse", "databricks", GH),
    ("https://job-boards.eu.greenhouse.io/mariadbplc", "greenhouse", "mariadbplc", GH),
    ("https://job-boards.eu.greenhouse.io/imc/jobs/4696380101", "greenhouse", "imc", GH),
    ("https://boards.greenhouse.io/embed/job_board?for=discord", "greenhouse", "discord", GH),
    # Lever: global and EU hosts, board and posting links
    ("https://jobs.lever.co/matchgroup", "lever", "matchgroup", LEVER),
    ("https://jobs.lever.co/matillion", "lever", "matillion", LEVER),
    ("https://jobs.lever.co/binance/", "lever", "binance", LEVER),
    ("https://jobs.eu.lever.co/diabolocom", "lever", "diabolocom", LEVER_EU),
    (
        "https://jobs.eu.lever.co/coalfire/1a2b3c4d-5e6f-7788-99aa-bbccddeeff00",
        "lever",
        "coalfire",
        LEVER_EU,
    ),
    # Ashby
    ("https://jobs.ashbyhq.com/openai", "ashby", "openai", ASHBY),
    ("https://jobs.ashbyhq.com/notion", "ashby", "notion", ASHBY),
    ("https://jobs.ashbyhq.com/linear", "ashby", "linear", ASHBY),
    ("https://jobs.ashbyhq.com/ramp", "ashby", "ramp", ASHBY),
    ("https://jobs.ashbyhq.com/ashby/7458d4e9-da2e-47bd-98cb-adfda43d42b2", "ashby", "ashby", ASHBY),
    # Workable: account pages, account job links; the bare job link is resolved at run time (below)
    ("https://apply.workable.com/luminance-1/", "workable", "luminance-1", WORKABLE),
    ("https://apply.workable.com/big-potato", "workable", "big-potato", WORKABLE),
    ("https://apply.workable.com/vista-group/", "workable", "vista-group", WORKABLE),
    (
        "https://apply.workable.com/neat-method-careers/j/C7389E54B7/",
        "workable",
        "neat-method-careers",
        WORKABLE,
    ),
    # SmartRecruiters: company pages, posting links, one-click apply links
    ("https://jobs.smartrecruiters.com/REXEL1", "smartrecruiters", "REXEL1", SR),
    ("https://jobs.smartrecruiters.com/Ubisoft2/744000108777145-role", "smartrecruiters", "Ubisoft2", SR),
    ("https://jobs.smartrecruiters.com/ecovadis/744000141295519", "smartrecruiters", "ecovadis", SR),
    ("https://careers.smartrecruiters.com/devoteam", "smartrecruiters", "devoteam", SR),
    (
        "https://jobs.smartrecruiters.com/oneclick-ui/company/RenesasElectronics/publication/sr1",
        "smartrecruiters",
        "RenesasElectronics",
        SR,
    ),
    # Recruitee: subdomains, offer links
    ("https://rebuy.recruitee.com/", "recruitee", "rebuy", "https://rebuy.recruitee.com"),
    ("https://kfzteile24.recruitee.com", "recruitee", "kfzteile24", "https://kfzteile24.recruitee.com"),
    (
        "https://sendcloud.recruitee.com/o/senior-marketer-sample-london",
        "recruitee",
        "sendcloud",
        "https://sendcloud.recruitee.com",
    ),
    (
        "https://radishlab.recruitee.com/o/copywriter-talen-pool",
        "recruitee",
        "radishlab",
        "https://radishlab.recruitee.com",
    ),
    ("https://nmbrs.recruitee.com/", "recruitee", "nmbrs", "https://nmbrs.recruitee.com"),
    # Personio: .de and .com feeds, job links
    ("https://personio.jobs.personio.de/", "personio", "personio", "https://personio.jobs.personio.de"),
    ("https://personio.jobs.personio.com/", "personio", "personio", "https://personio.jobs.personio.com"),
    ("https://vivid.jobs.personio.de/xml", "personio", "vivid", "https://vivid.jobs.personio.de"),
    (
        "https://mrge-group-gmbh.jobs.personio.de/job/1834171?language=en",
        "personio",
        "mrge-group-gmbh",
        "https://mrge-group-gmbh.jobs.personio.de",
    ),
    # Workday: tenant hosts (with and without a locale) and the shared myworkdaysite.com host
    (
        "https://nvidia.wd5.myworkdayjobs.com/NVIDIAExternalCareerSite",
        "workday",
        "nvidia/NVIDIAExternalCareerSite",
        "https://nvidia.wd5.myworkdayjobs.com",
    ),
    (
        "https://adobe.wd5.myworkdayjobs.com/en-US/external_experienced",
        "workday",
        "adobe/external_experienced",
        "https://adobe.wd5.myworkdayjobs.com",
    ),
    (
        "https://cvshealth.wd1.myworkdayjobs.com/CVS_Health_Careers",
        "workday",
        "cvshealth/CVS_Health_Careers",
        "https://cvshealth.wd1.myworkdayjobs.com",
    ),
    (
        "https://accenture.wd103.myworkdayjobs.com/en-US/AccentureCareers/job/Warsaw/Gone_R002",
        "workday",
        "accenture/AccentureCareers",
        "https://accenture.wd103.myworkdayjobs.com",
    ),
    (
        "https://wd3.myworkdaysite.com/recruiting/mdlz/External",
        "workday",
        "mdlz/External",
        "https://wd3.myworkdaysite.com",
    ),
    (
        "https://wd1.myworkdaysite.com/recruiting/upenn/careers-at-penn",
        "workday",
        "upenn/careers-at-penn",
        "https://wd1.myworkdaysite.com",
    ),
    (
        "https://wd5.myworkdaysite.com/recruiting/microchiphr/External",
        "workday",
        "microchiphr/External",
        "https://wd5.myworkdaysite.com",
    ),
    (
        "https://wd1.myworkdaysite.com/en-US/recruiting/abinbev/GHQ/job/TANZANIA-DSM-HQ/OPERATOR_30022343",
        "workday",
        "abinbev/GHQ",
        "https://wd1.myworkdaysite.com",
    ),
    # career pages of their own: JSON-LD (a Recruitee site among them is recognised when fetched)
    (
        "https://careers.airbnb.com/positions/",
        "jsonld",
        "careers.airbnb.com/positions",
        "https://careers.airbnb.com",
    ),
    (
        "https://racingcareers.mclaren.com/",
        "jsonld",
        "racingcareers.mclaren.com",
        "https://racingcareers.mclaren.com",
    ),
    ("https://careers.g42.ai/global/en", "jsonld", "careers.g42.ai/global/en", "https://careers.g42.ai"),
]


@pytest.mark.parametrize(("url", "type_", "board", "api"), REAL, ids=[u for u, *_ in REAL])
def test_real_board_urls(url: str, type_: str, board: str, api: str) -> None:
    ref = detect(SourceSpec(url=url))
    assert (ref.type, ref.board, ref.api) == (type_, board, api)


def test_every_source_has_four_real_urls() -> None:
    counts: dict[str, int] = {}
    for _, type_, *_ in REAL:
        counts[type_] = counts.get(type_, 0) + 1
    ats = ("greenhouse", "lever", "ashby", "workable", "smartrecruiters", "recruitee", "personio", "workday")
    assert all(counts.get(t, 0) >= 4 for t in ats), counts


@pytest.mark.parametrize(
    "url",
    ["https://apply.workable.com/j/C7389E54B7", "https://apply.workable.com/j/5EA5DDE797/apply"],
)
def test_workable_job_link_waits_for_its_account(url: str) -> None:
    """The link Workable hands out names no account: `sources.resolve` follows it (test_symptoms)."""
    ref = detect(SourceSpec(url=url))
    assert (ref.type, ref.board, ref.api, ref.pending) == ("workable", "", WORKABLE, True)
    assert ref.extra["shortcode"] in url


@pytest.mark.parametrize(
    ("url", "board", "api"),
    [
        ("https://meet.zoi.tech/", "meet.zoi.tech", "https://meet.zoi.tech"),
        (
            "https://racingcareers.mclaren.com/o/engineer",
            "racingcareers.mclaren.com",
            "https://racingcareers.mclaren.com",
        ),
    ],
)
def test_recruitee_on_its_own_domain_by_type(url: str, board: str, api: str) -> None:
    ref = detect(SourceSpec(url=url, type="recruitee"))
    assert (ref.type, ref.board, ref.api) == ("recruitee", board, api)


def test_workday_sites_are_slugs_and_public_urls_are_kept() -> None:
    ref = detect(SourceSpec(url="https://wd3.myworkdaysite.com/recruiting/magna/Magna/job/Bangalore-IN/X_R1"))
    assert ref.extra == {
        "tenant": "magna",
        "site": "Magna",
        "public": "https://wd3.myworkdaysite.com/recruiting/magna/Magna",
    }
    with pytest.raises(DetectError, match="Workday"):
        detect(SourceSpec(url="https://wd3.myworkdaysite.com/wday/other/magna"))
    with pytest.raises(DetectError, match="Workday site"):
        detect(SourceSpec(url="https://wd3.myworkdaysite.com/recruiting/magna/..%2f..%2fadmin"))
