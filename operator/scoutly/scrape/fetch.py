"""HTTP fetching for sources: SSRF-checked hops, size cap, retries honouring Retry-After, per-host
rate limit and concurrency cap, robots.txt for HTML pages. Every failure is a FetchError with a reason."""

from __future__ import annotations

import asyncio
import email.utils
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from aiolimiter import AsyncLimiter

from scoutly.scrape.netguard import AllowList, BlockedAddress, Resolver, system_resolver
from scoutly.scrape.robots import Robots, RobotsUnavailable
from scoutly.scrape.transport import GuardedTransport

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]


class FetchError(Exception):
    """A request that gave no usable answer; `status` is the last HTTP status, if any."""

    def __init__(self, url: str, reason: str, status: int | None = None, *, blocked: bool = False) -> None:
        super().__init__(f"{reason} ({_short(url)})")
        self.url = url
        self.reason = reason
        self.status = status
        self.blocked = blocked  # the SSRF guard refused it (never reported as robots.txt or retried)


def _short(url: str) -> str:
    return url if len(url) <= 200 else url[:197] + "..."


@dataclass(frozen=True)
class FetchConfig:
    user_agent: str = "ScoutlyBot/0.1"
    timeout: float = 20.0
    max_bytes: int = 20 * 1024 * 1024
    retries: int = 3
    backoff: float = 0.5
    max_retry_after: float = 60.0
    rate_per_host: float = 5.0
    concurrency_per_host: int = 4
    max_redirects: int = 5
    respect_robots: bool = True
    allow_private: tuple[str, ...] = ()


@dataclass(frozen=True)
class Validators:
    """What a server said identifies a response's version (RFC 9110 8.8): sent back as If-None-Match /
    If-Modified-Since, so an unchanged resource answers 304 without a body."""

    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


@dataclass
class Response:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def validators(self) -> Validators:
        etag, modified = self.headers.get("etag"), self.headers.get("last-modified")
        return Validators(
            etag=etag[:500] if etag else None, last_modified=modified[:100] if modified else None
        )

    def text(self) -> str:
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        if "charset=" in ctype:
            charset = ctype.split("charset=")[-1].split(";")[0].strip() or "utf-8"
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as e:
            raise FetchError(self.url, f"malformed JSON: {str(e)[:120]}", self.status) from e


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass
class _Host:
    limiter: AsyncLimiter
    slots: asyncio.Semaphore


@dataclass
class Fetcher:
    config: FetchConfig = field(default_factory=FetchConfig)
    resolver: Resolver = system_resolver
    sleep: Sleep = asyncio.sleep
    clock: Clock = lambda: datetime.now(UTC)
    transport: httpx.AsyncBaseTransport | None = None
    verify: ssl.SSLContext | bool = True  # tests pass their own CA

    def __post_init__(self) -> None:
        self._allow = AllowList.parse(self.config.allow_private)
        self._client = httpx.AsyncClient(
            timeout=self.config.timeout,
            follow_redirects=False,  # every hop is checked here
            headers={"User-Agent": self.config.user_agent, "Accept-Encoding": "gzip, deflate"},
            transport=self.transport
            or GuardedTransport(allow=self._allow, resolver=self.resolver, verify=self.verify),
            trust_env=False,  # a proxy would bypass the address check
        )
        self._hosts: dict[str, _Host] = {}
        self._robots = Robots(self._fetch_robots, self.config.user_agent)
        self.requests = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(
        self,
        url: str,
        *,
        html: bool = False,
        headers: dict[str, str] | None = None,
        validators: Validators | None = None,
    ) -> Response:
        """GET `url`; `html=True` marks a web page (robots.txt applies), not a public API. With
        `validators` the request is conditional and a 304 (`Response.not_modified`, no body) is an answer."""
        robots = html and self.config.respect_robots
        if not validators:
            return await self._request("GET", url, headers=headers, robots=robots)
        return await self._request(
            "GET",
            url,
            headers={**(headers or {}), **validators.headers()},
            accept_status=lambda s: 200 <= s < 300 or s == 304,
            robots=robots,
        )

    async def _check_robots(self, url: str) -> None:
        """robots.txt of `url`'s origin allows it, else FetchError. A refused robots.txt fetch (a private
        or metadata address) is that refusal, not a robots.txt verdict."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(url, "refused: not an http(s) URL", blocked=True)
        try:
            allowed = await self._robots.allowed(url)
        except FetchError as e:
            raise FetchError(url, e.reason, e.status, blocked=e.blocked) from e
        if not allowed:
            raise FetchError(url, "disallowed by robots.txt")

    async def post_json(self, url: str, body: Any) -> Response:
        return await self._request(
            "POST", url, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )

    async def _fetch_robots(self, url: str) -> tuple[int, bytes]:
        try:
            r = await self._request("GET", url, accept_status=lambda s: True)
        except FetchError as e:
            if e.blocked:
                raise  # the guard's refusal, reported as such by _check_robots
            raise RobotsUnavailable(str(e)) from e
        return r.status, r.body

    async def _request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        accept_status: Callable[[int], bool] = lambda s: 200 <= s < 300,
        robots: bool = False,
    ) -> Response:
        attempt = 0
        while True:
            try:
                resp = await self._follow(method, url, content, headers or {}, robots)
            except httpx.TransportError as e:
                if attempt >= self.config.retries:
                    raise FetchError(url, f"{type(e).__name__}: {str(e)[:120] or 'transport error'}") from e
                await self.sleep(self.config.backoff * 2**attempt)
                attempt += 1
                continue
            if (
                resp.status in RETRY_STATUS
                and not accept_status(resp.status)
                and attempt < self.config.retries
            ):
                delay = parse_retry_after(resp.headers.get("retry-after"), self.clock())
                if delay is not None and delay > self.config.max_retry_after:
                    raise FetchError(
                        url, f"HTTP {resp.status} with Retry-After {delay:.0f}s (too long)", resp.status
                    )
                await self.sleep(delay if delay is not None else self.config.backoff * 2**attempt)
                attempt += 1
                continue
            if not accept_status(resp.status):
                raise FetchError(url, f"HTTP {resp.status}", resp.status)
            return resp

    async def _follow(
        self, method: str, url: str, content: bytes | None, headers: dict[str, str], robots: bool
    ) -> Response:
        for _ in range(self.config.max_redirects + 1):
            if robots:  # every hop: a redirect may lead to a path (or origin) robots.txt disallows
                await self._check_robots(url)
            resp = await self._send(method, url, content, headers)
            location = resp.headers.get("location")
            if resp.status not in REDIRECT_STATUS or not location:
                return resp
            url = urljoin(url, location)
            if resp.status in (301, 302, 303) and method != "GET":
                method, content = "GET", None
        raise FetchError(url, f"more than {self.config.max_redirects} redirects")

    def _host(self, netloc: str) -> _Host:
        h = self._hosts.get(netloc)
        if h is None:
            rate = self.config.rate_per_host
            h = _Host(
                AsyncLimiter(max(1.0, rate), max(1.0, rate) / rate),
                asyncio.Semaphore(self.config.concurrency_per_host),
            )
            self._hosts[netloc] = h
        return h

    async def _send(self, method: str, url: str, content: bytes | None, headers: dict[str, str]) -> Response:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(url, "refused: not an http(s) URL", blocked=True)
        # the address is checked when the connection is made (scrape/transport.py), not here: a check
        # apart from the connect is one DNS answer away from a different address
        try:
            req = self._client.build_request(
                method, urlunsplit(parts._replace(fragment="")), content=content, headers=headers
            )
        except httpx.InvalidURL as e:  # e.g. an octal 0177.0.0.1, which some resolvers read as 127.0.0.1
            raise FetchError(url, f"refused: invalid URL: {e}", blocked=True) from e
        host = self._host(parts.netloc)
        async with host.slots, host.limiter:
            self.requests += 1
            try:
                resp = await self._client.send(req, stream=True)
            except BlockedAddress as e:
                raise FetchError(url, f"refused: {e}", blocked=True) from e
            try:
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.config.max_bytes:
                    raise FetchError(url, f"response too large ({declared} bytes)", resp.status_code)
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > self.config.max_bytes:
                        raise FetchError(
                            url, f"response too large (> {self.config.max_bytes} bytes)", resp.status_code
                        )
                    chunks.append(chunk)
            except httpx.DecodingError as e:
                raise FetchError(url, f"undecodable body: {e}", resp.status_code) from e
            finally:
                await resp.aclose()
        return Response(url=url, status=resp.status_code, headers=resp.headers, body=b"".join(chunks))
