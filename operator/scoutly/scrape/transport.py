"""The httpx transport of every scrape request: the SSRF check sits in the connection path itself.

Each new TCP connection resolves its host through the guard (scrape/netguard.py) and connects to the
address that was checked, so no second DNS answer can slip in between check and connect. URLs keep their
host names: the connection pool is keyed by (scheme, host, port), so a connection (and the TLS session
whose certificate was checked for one name) is never reused for another host name on the same address.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import httpcore
import httpx

from scoutly.scrape.netguard import AllowList, BlockedAddress, Resolver, resolve_checked


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to addresses the guard allows."""

    def __init__(self, allow: AllowList, resolver: Resolver) -> None:
        self._allow = allow
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        ip = await resolve_checked(host, port, self._allow, self._resolver)
        return await self._inner.connect_tcp(
            str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress(f"unix socket {path} refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guarded backend; no proxies (a proxy would connect for us)."""

    def __init__(
        self,
        *,
        allow: AllowList,
        resolver: Resolver,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5)
        super().__init__(verify=verify, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow, resolver),
        )
