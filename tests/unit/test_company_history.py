"""The app's scrape history in the controller, without a cluster: what counts as an edit of
`companies.lastSuccessfulScrape` (the periodic read) and of `status.lastSuccessfulScrape` (a target's
events), and the CV reader's pure parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from scoutly.controller import companies as feed_module
from scoutly.controller.companies import CompanyChange, CompanyFeed, CompanyTargets, takes_company_value
from scoutly.controller.state import target_view
from scoutly.scrape.cv import CvError, download_url, pdf_text
from scoutly.store.companies import LastScrape
from tests import pdfgen

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


class Rows:
    """Stands in for store.companies.last_scrapes: what the next read returns."""

    def __init__(self) -> None:
        self.rows: list[LastScrape] = []

    async def __call__(self, db: Any) -> list[LastScrape]:
        return list(self.rows)


@pytest.fixture
def rows(monkeypatch: pytest.MonkeyPatch) -> Rows:
    r = Rows()
    monkeypatch.setattr(feed_module.companies, "last_scrapes", r)
    return r


async def test_edits_new_companies_and_our_own_writes(rows: Rows) -> None:
    seen: list[list[CompanyChange]] = []
    feed = CompanyFeed(db=None, interval=30, on_changes=seen.append)  # type: ignore[arg-type]
    a, b, c = ObjectId(), ObjectId(), ObjectId()
    rows.rows = [LastScrape(a, "acme", T0), LastScrape(b, "beta", None)]
    assert await feed.refresh() == []  # the first read reports nothing: the controller seeds from it
    assert feed.last_scrape("acme") == (True, T0) and feed.last_scrape(str(b)) == (True, None)
    assert feed.last_scrape("gamma") == (False, None) and feed.key("gamma") == "ref:gamma"
    assert feed.key("acme") == feed.key(str(a)) == str(a)  # slug and _id: one company

    feed.wrote(a, T0 + timedelta(hours=1))  # the mirror moved acme after a Job of ours
    rows.rows = [
        LastScrape(a, "acme", T0 + timedelta(hours=1)),  # ours: no edit
        LastScrape(b, "beta", T0 - timedelta(days=1)),  # someone else: an edit
        LastScrape(c, "gamma", T0),  # a company created since
    ]
    changes = await feed.refresh()
    assert changes == [CompanyChange(b, T0 - timedelta(days=1), False), CompanyChange(c, T0, True)]
    assert seen == [changes]
    rows.rows[0] = LastScrape(a, "acme", T0 - timedelta(hours=5))  # an edit back in time is an edit too
    assert await feed.refresh() == [CompanyChange(a, T0 - timedelta(hours=5), False)]
    assert await feed.refresh() == []  # nothing changed since


def _target(status: dict[str, Any], rv: str = "1") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "acme", "uid": "u1", "generation": 1, "resourceVersion": rv},
        "spec": {"company": "Acme", "source": {"url": "https://boards.greenhouse.io/acme"}},
        "status": status,
    }


def test_a_status_edit_counts_an_echo_of_ours_does_not() -> None:
    first = target_view(_target({"lastSuccessfulScrape": "2026-03-01T10:00:00Z"}), None)
    # the controller records a newer scrape; an older event (an echo from before) must not undo it
    first.status = {**first.status, "lastSuccessfulScrape": "2026-03-01T12:00:00Z"}
    first.remember_last_scrape("2026-03-01T12:00:00Z")
    echo = target_view(_target({"lastSuccessfulScrape": "2026-03-01T10:00:00Z"}, "2"), first)
    assert echo.status["lastSuccessfulScrape"] == "2026-03-01T12:00:00Z"
    ours = target_view(_target({"lastSuccessfulScrape": "2026-03-01T12:00:00+00:00"}, "3"), echo)
    assert ours.status["lastSuccessfulScrape"] == "2026-03-01T12:00:00Z"  # same instant, other spelling
    # someone patched the status subresource to a value this process never wrote or saw
    edited = target_view(_target({"lastSuccessfulScrape": "2026-02-27T08:00:00Z"}, "4"), ours)
    assert edited.status["lastSuccessfulScrape"] == "2026-02-27T08:00:00Z"
    assert edited.observed["lastSuccessfulScrape"] == "2026-02-27T08:00:00Z"


def test_drive_links_become_download_links() -> None:
    share = "https://drive.google.com/file/d/1AbC_d-9/view?usp=sharing"
    assert download_url(share) == "https://drive.google.com/uc?export=download&id=1AbC_d-9"
    assert (
        download_url("https://drive.google.com/open?id=XyZ")
        == "https://drive.google.com/uc?export=download&id=XyZ"
    )
    assert download_url(" https://cv.example.com/me.pdf ") == "https://cv.example.com/me.pdf"
    odd = "https://drive.google.com/open?id=a/../b"
    assert download_url(odd) == odd  # not a file id: fetched as it is (the fetcher's checks apply)


def test_pdf_text_is_capped_and_refuses_what_it_cannot_read() -> None:
    pdf = pdfgen.text_pdf(["Backend Engineer", "Python " * 50])
    text = pdf_text(pdf, max_pages=5, max_chars=40)
    assert text.startswith("Backend Engineer Python") and len(text) == 40
    with pytest.raises(CvError, match="unreadable PDF"):
        pdf_text(b"%PDF-1.4 not really", max_pages=5, max_chars=100)
    with pytest.raises(CvError, match="no extractable text"):
        pdf_text(pdfgen.text_pdf([]), max_pages=5, max_chars=100)


def test_targets_by_company_follow_spec_changes() -> None:
    by = CompanyTargets()
    by.assign("ns/a", "c1")
    by.assign("ns/b", "c1")
    by.assign("ns/c", None)
    assert by.targets("c1") == {"ns/a", "ns/b"} and by.of("ns/c") is None
    by.assign("ns/b", "c2")  # its spec.companyId changed
    assert by.targets("c1") == {"ns/a"} and by.targets("c2") == {"ns/b"}
    by.drop("ns/a")
    assert by.companies() == ["c2"]


def test_which_targets_take_the_companys_last_scrape() -> None:
    h = timedelta(hours=1)
    # newer than all of them: someone else scraped the company -> all move
    assert takes_company_value([T0 - h, T0 - 2 * h], T0) == [True, True]
    # one of ours is as new: only the target without a history of its own takes it
    assert takes_company_value([T0, T0 - 2 * h, None], T0) == [False, False, True]
    assert takes_company_value([None], None) == [False]
    assert takes_company_value([], T0) == []
