"""A proxy between the operator and the real API server that cuts connections on purpose.

The operator's kubeconfig points at the proxy (plain HTTP on loopback); the proxy forwards every
request to the API server over TLS with the admin client certificate and streams the answer back
(watches included). A `Cut` rule drops the TCP connection of the requests it matches, either before
forwarding (the request never arrives) or after (it took effect, and its answer is lost): the operator
sees exactly what a network blip, a load balancer reset or a timeout gives it. The proxy also records
every request line and what each watch streamed, so a test can check what the operator asked the API
server for and what it got.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

from scoutly.testing.env import LocalEnv

# hop-by-hop or re-computed headers: never copied across
_DROP = {"host", "connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive"}


@dataclass
class Cut:
    method: str
    path: str  # a regular expression searched in the path and query
    body: str | None = None  # a substring the request body must contain
    after: bool = False  # forward first, then drop the connection instead of answering
    times: int = 1
    hits: int = 0

    def matches(self, method: str, path_qs: str, body: bytes) -> bool:
        return (
            self.hits < self.times
            and method == self.method
            and re.search(self.path, path_qs) is not None
            and (self.body is None or self.body.encode() in body)
        )


@dataclass
class FaultProxy:
    upstream: str
    ssl_context: ssl.SSLContext
    cuts: list[Cut] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    streams: dict[str, bytearray] = field(default_factory=dict)  # watch request -> what it streamed
    url: str = ""
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    @classmethod
    def for_env(cls, env: LocalEnv) -> FaultProxy:
        assert env.certs is not None
        ctx = ssl.create_default_context(cafile=str(env.certs.ca_crt))
        ctx.load_cert_chain(str(env.certs.admin_crt), str(env.certs.admin_key))
        return cls(upstream=env.api_url, ssl_context=ctx)

    async def start(self) -> FaultProxy:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.ssl_context),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=True,
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)  # watches end at once
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def kubeconfig(self, path: Path) -> Path:
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "proxy",
            "clusters": [{"name": "proxy", "cluster": {"server": self.url}}],
            "users": [{"name": "proxy", "user": {"token": "unused-the-proxy-authenticates"}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}],
        }
        path.write_text(yaml.safe_dump(cfg))
        return path

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        self.requests.append((request.method, request.path_qs))
        cut = next((c for c in self.cuts if c.matches(request.method, request.path_qs, body)), None)
        if cut is not None:
            cut.hits += 1
        if cut is not None and not cut.after:
            return self._drop(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP | {"authorization"}}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body or None
        ) as up:
            if cut is not None:
                await up.read()  # the server did it; the client never hears
                return self._drop(request)
            resp = web.StreamResponse(
                status=up.status,
                reason=up.reason,
                headers={k: v for k, v in up.headers.items() if k.lower() not in _DROP},
            )
            await resp.prepare(request)
            stream = (
                self.streams.setdefault(request.path_qs, bytearray())
                if "watch=" in request.query_string
                else None
            )
            try:
                async for chunk in up.content.iter_any():
                    if stream is not None:
                        stream += chunk
                    await resp.write(chunk)
            except (ConnectionResetError, aiohttp.ClientError):
                return resp  # either side went away: the watch ends, as a real one would
            await resp.write_eof()
            return resp

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: a reset, not a polite close
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        return web.Response(status=502)  # never sent: the connection is gone
