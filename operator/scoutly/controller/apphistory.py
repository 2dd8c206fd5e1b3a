"""The app's scrape history (companies.lastSuccessfulScrape) moves the targets of its company: read at
start and every SCOUTLY_COMPANY_POLL_INTERVAL (companies.py); an edit moves every target of the company.
AppHistory reads the caches (Store) and the feed, and moves a target by its status and its due key."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from scoutly.controller.companies import CompanyChange, takes_company_value
from scoutly.controller.jobs import iso, parse_time
from scoutly.controller.state import TargetView
from scoutly.controller.store import Store

log = logging.getLogger("scoutly.controller")


class AppHistory:
    def __init__(
        self,
        *,
        store: Store,
        reconcile_soon: Callable[[str], None],
        schedule: Callable[[TargetView], None],
        wake: Callable[[], None],
    ) -> None:
        self.store = store
        self._reconcile_soon = reconcile_soon  # the target's key: its status write
        self._schedule = schedule  # its due key
        self._wake = wake  # a dispatcher pass

    def _set_last_scrape(self, view: TargetView, at: datetime | None) -> None:
        """Schedule the target from `at` (from the app's history): status, NEXT SCRAPE, the due-queue."""
        value = iso(at) if at is not None else None
        if view.status.get("lastSuccessfulScrape") == value:
            return
        view.status = {**view.status, "lastSuccessfulScrape": value}
        view.remember_last_scrape(value)
        self._reconcile_soon(view.key)
        self._schedule(view)

    def seed_last_scrape(self, view: TargetView) -> None:
        """A target new to the operator (or re-created) without a last scrape of its own takes its
        company's: a company the app scraped 2 h ago is not due again at once."""
        if self.store.companies is None or view.spec is None or not view.spec.companyId:
            return
        if view.status.get("lastSuccessfulScrape"):
            return
        known, at = self.store.companies.last_scrape(view.spec.companyId)
        if not known:
            self.store.companies.kick()  # a company newer than the last read: read again now
        elif at is not None:
            view.status = {**view.status, "lastSuccessfulScrape": iso(at)}
            view.remember_last_scrape(iso(at))

    def _adopt_newer(self, views: list[TargetView], at: datetime | None) -> None:
        own = [parse_time(v.status.get("lastSuccessfulScrape")) for v in views]
        for v, take in zip(views, takes_company_value(own, at), strict=True):
            if take:
                self._set_last_scrape(v, at)

    async def load(self) -> None:
        """The first read of the app's history, before the first dispatch. A failure is logged: the
        targets are then scheduled from their status alone, and the first read that works later
        (CompanyFeed.run) applies it then (`on_companies_loaded`)."""
        if self.store.companies is None:
            return
        try:
            await self.store.companies.refresh()
        except Exception as e:  # MongoDB down: scheduling must go on
            log.warning("could not read the app's companies.lastSuccessfulScrape at start: %s", e)

    def on_companies_loaded(self) -> None:
        """After the first read: company slugs resolve now; a company scraped more recently than any of
        its targets (by the app, while the operator was away) moves them; targets without a last scrape
        of their own take the company's."""
        assert self.store.companies is not None
        for view in self.store.targets.values():
            self.store.index_company(view)
        for key in self.store.by_company.companies():
            known, at = self.store.companies.last_scrape(key[4:] if key.startswith("ref:") else key)
            if known:
                self._adopt_newer(self.store.views_of_company(key), at)
        self._wake()

    def on_company_changes(self, changes: list[CompanyChange]) -> None:
        """The periodic read found companies changed (edits: every target of the company follows) or
        new (their targets take the value unless they have a newer one)."""
        for change in changes:
            views = self.store.views_of_company(str(change.oid))
            if change.first_seen:
                for v in views:  # slug-named targets whose company was unknown until now
                    self.store.index_company(v)
                self._adopt_newer(self.store.views_of_company(str(change.oid)), change.at)
            else:
                for v in views:
                    log.info(
                        "company %s: lastSuccessfulScrape edited to %s, %s reschedules",
                        change.oid,
                        iso(change.at) if change.at else None,
                        v.key,
                    )
                    self._set_last_scrape(v, change.at)
        self._wake()
