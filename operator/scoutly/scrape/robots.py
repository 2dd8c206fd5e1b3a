"""robots.txt with RFC 9309 semantics, cached per origin for the run (well under the 24 h limit)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from protego import Protego

MAX_ROBOTS_BYTES = 500 * 1024  # RFC 9309: parse at least 500 KiB


class RobotsUnavailable(Exception):
    """robots.txt answered 5xx or could not be fetched: everything on that origin counts as disallowed."""


# fetch(url) -> (status, body); raises RobotsUnavailable when unreachable
RobotsFetch = Callable[[str], Awaitable[tuple[int, bytes]]]


class Robots:
    def __init__(self, fetch: RobotsFetch, user_agent: str) -> None:
        self._fetch = fetch
        self._agent = user_agent.split("/")[0]
        self._cache: dict[str, Protego | bool] = {}

    async def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        rules = self._cache.get(origin)
        if rules is None:
            rules = await self._load(origin)
            self._cache[origin] = rules
        if isinstance(rules, bool):
            return rules
        return bool(rules.can_fetch(url, self._agent))

    async def _load(self, origin: str) -> Protego | bool:
        try:
            status, body = await self._fetch(f"{origin}/robots.txt")
        except RobotsUnavailable:
            return False
        if 400 <= status < 500:
            return True  # "unavailable": no rules
        if status >= 500 or status < 200 or status >= 300:
            return False  # "unreachable": complete disallow
        text = body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        return Protego.parse(text)
