"""The one date parser, format by format; workplace words; the posting model's derived fields; the
quality check. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scoutly.scrape import quality
from scoutly.scrape.fetch import Validators
from scoutly.scrape.models import Posting, employment_type_of, join_locations
from scoutly.scrape.sources.base import fold
from scoutly.scrape.text import parse_time, workplace_in, workplace_of

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "want", "who"),
    [
        (1761955200000, utc(2025, 11, 1), "Lever createdAt (epoch ms)"),
        (1761955200, utc(2025, 11, 1), "epoch seconds"),
        ("1761955200000", utc(2025, 11, 1), "epoch ms as a string"),
        ("2026-10-20", utc(2026, 10, 20), "Workable published_on, Workday startDate, JSON-LD datePosted"),
        ("2026-11-01T10:00:00-04:00", utc(2026, 11, 1, 14), "Greenhouse updated_at / first_published"),
        (
            "2021-04-30T16:21:55.393+00:00",
            datetime(2021, 4, 30, 16, 21, 55, 393000, tzinfo=UTC),
            "Ashby publishedAt",
        ),
        ("2026-10-10T09:00:00.000Z", utc(2026, 10, 10, 9), "SmartRecruiters releasedDate"),
        (
            "2013-03-13T12:05:46.398+0000",
            datetime(2013, 3, 13, 12, 5, 46, 398000, tzinfo=UTC),
            "offset without colon",
        ),
        ("2026-08-11 20:45:29 UTC", utc(2026, 8, 11, 20, 45, 29), "Recruitee created_at / published_at"),
        ("2026-08-11 20:45:29 GMT", utc(2026, 8, 11, 20, 45, 29), "GMT suffix"),
        ("2020-01-15T10:58:37+00:00", utc(2020, 1, 15, 10, 58, 37), "Personio createdAt"),
        ("2026-10-30T10:00", utc(2026, 10, 30, 10), "JSON-LD without offset (taken as UTC)"),
        ("Wed, 01 Jul 2026 13:55:38 +0200", utc(2026, 7, 1, 11, 55, 38), "RFC 2822"),
        ("30.10.2026", utc(2026, 10, 30), "German career pages"),
        ("Posted Today", utc(2026, 11, 20), "Workday postedOn"),
        ("Posted Yesterday", utc(2026, 11, 19), "Workday postedOn"),
        ("Posted 3 Days Ago", utc(2026, 11, 17), "Workday postedOn"),
        ("Posted 30+ Days Ago", utc(2026, 10, 21), "Workday postedOn (a lower bound)"),
        ("  2026-10-20  ", utc(2026, 10, 20), "surrounding blanks"),
    ],
)
def test_every_date_format(value: object, want: datetime, who: str) -> None:
    got = parse_time(value, now=NOW)
    assert got == want, who
    assert got is not None and got.tzinfo is not None and got.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize(
    "value",
    [None, True, "", "garbage", "0001-01-01", "2026-13-01", "31.02.2026", 0, -5, "Posted Soon", [], {}],
)
def test_what_is_not_a_date(value: object) -> None:
    assert parse_time(value, now=NOW) is None


def test_relative_dates_need_a_clock() -> None:
    assert parse_time("Posted Today") is None


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("Remote", "remote"),
        ("Fully Remote", "remote"),
        ("remote", "remote"),
        ("Hybrid", "hybrid"),
        ("hybrid", "hybrid"),
        ("OnSite", "onsite"),
        ("On-site", "onsite"),
        ("on-site", "onsite"),
        ("on_site", "onsite"),
        ("In office", "onsite"),
        ("unspecified", "unknown"),
        ("Flexible", "unknown"),
        (None, "unknown"),
        (["remote"], "unknown"),
    ],
)
def test_workplace_fields(value: object, want: str) -> None:
    assert workplace_of(value) == want


@pytest.mark.parametrize(
    ("texts", "want"),
    [
        (("Remote - EMEA",), "remote"),
        (("Berlin, Germany (Hybrid)",), "hybrid"),
        (("Toronto or Remote",), "remote"),
        (("London",), "unknown"),
        ((None, "Anywhere"), "remote"),
        (("Remoteville, CA",), "unknown"),
    ],
)
def test_workplace_in_free_text(texts: tuple[str | None, ...], want: str) -> None:
    assert workplace_in(*texts) == want


@pytest.mark.parametrize(
    ("label", "want"),
    [
        ("Full-time", "FULL_TIME"),
        ("FullTime", "FULL_TIME"),
        ("fulltime_permanent", "FULL_TIME"),
        ("Full time", "FULL_TIME"),
        ("permanent", "FULL_TIME"),
        ("permanent, part-time", "PART_TIME"),
        ("Part-time", "PART_TIME"),
        ("parttime", "PART_TIME"),
        ("Contract", "CONTRACTOR"),
        ("freelance", "CONTRACTOR"),
        ("Temporary", "TEMPORARY"),
        ("Intern", "INTERN"),
        ("Internship", "INTERN"),
        ("traineeship", "INTERN"),
        ("volunteer", "VOLUNTEER"),
        ("Other", "OTHER"),
        ("Internal transfer", None),
        ("", None),
        (None, None),
    ],
)
def test_employment_labels(label: str | None, want: str | None) -> None:
    assert employment_type_of(label) == want


def _p(**kw: object) -> Posting:
    return Posting(source="x", board="b", native_id="1", title="T", **kw)  # type: ignore[arg-type]


def test_model_derives_location_remote_and_employment() -> None:
    p = _p(locations=["Berlin", " berlin ", "Munich", ""], workplace="hybrid", employment_label="Full-time")
    assert (p.locations, p.location, p.remote, p.employment_type) == (
        ("Berlin", "Munich"),
        "Berlin; Munich",
        False,
        "FULL_TIME",
    )
    old = _p(location="Remote", remote=True, employment_type="FullTime")  # what older documents hold
    assert (old.locations, old.workplace, old.remote) == (("Remote",), "remote", True)
    assert (old.employment_type, old.employment_label) == ("FULL_TIME", "FullTime")
    assert _p(workplace="onsite").remote is False and _p().remote is None


def test_hash_keeps_its_old_shape_and_sees_hybrid() -> None:
    """A posting that says what it said before hashes as before (stored verdicts stay valid); hybrid is
    a new fact and changes it."""
    single = _p(locations=["Berlin"], employment_label="Full-time", description="d")
    assert single.content_hash == "e518e294ecdf56b4a734250eb7490456"  # what eb5d63d hashed it to
    assert _p(locations=["Berlin"], workplace="hybrid").content_hash != _p(locations=["Berlin"]).content_hash
    assert (
        _p(locations=["Berlin"], workplace="onsite").content_hash
        == _p(location="Berlin", remote=False).content_hash
    )


def test_long_location_lists_fit() -> None:
    many = tuple(f"City number {i}, Some Region, Some Country" for i in range(40))
    text = join_locations(many)
    assert (
        text is not None and len(text) <= 500 and text.endswith("more)") and text.startswith("City number 0")
    )


def test_fold_joins_locations_and_fills_gaps() -> None:
    a = _p(locations=["Athens"], url="https://x.io/1", description="")
    b = _p(locations=["Thessaloniki"], url="https://x.io/1", description="text", employment_label="Contract")
    f = fold(a, b)
    assert (f.location, f.description, f.employment_type) == ("Athens; Thessaloniki", "text", "CONTRACTOR")
    assert f.content_hash != a.content_hash


def test_quality_counts_and_jumps() -> None:
    good = [_p(locations=["Berlin"], url="https://x.io/1", posted_at=NOW) for _ in range(10)]
    bad = [_p(url="https://x.io/1", posted_at=NOW) for _ in range(8)] + [
        _p(workplace="remote", url="https://x.io/1", posted_at=NOW) for _ in range(2)
    ]
    before = quality.measure(good)
    after = quality.measure(bad, untitled=1)
    assert after.rows == 11 and after.missing == {"title": 1, "url": 0, "location": 8, "date": 0}
    assert quality.jumps(before, after, threshold=0.25) == [quality.Jump("location", 0.0, round(8 / 11, 3))]
    assert quality.jumps(None, after, threshold=0.25) == []  # no baseline: no jump
    assert quality.jumps(after, after, threshold=0.25) == []  # a steady share is the new normal
    small = quality.measure([_p() for _ in range(3)])
    assert quality.jumps(quality.measure(good[:3]), small, threshold=0.25) == []  # too few postings
    assert quality.Quality.from_doc(after.doc()) == after
    assert quality.Quality.from_doc({"rows": 2, "missing": {"url": 5}}) is None


def test_validators_become_conditional_headers() -> None:
    assert Validators(etag='W/"1"', last_modified="Wed, 01 Jul 2026 13:55:38 GMT").headers() == {
        "If-None-Match": 'W/"1"',
        "If-Modified-Since": "Wed, 01 Jul 2026 13:55:38 GMT",
    }
    assert not Validators() and Validators().headers() == {}
