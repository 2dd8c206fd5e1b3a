"""Issue 16, item 4: every way of writing a private address is refused where the connection is made,
robots.txt holds on every redirect hop, a refusal says it is one, and no connection (nor the TLS session
whose certificate was checked) is reused for another host name. Real sockets: a local aiohttp server on
127.0.0.1 that counts what reaches it; the system resolver for the numeric forms (getaddrinfo)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from scoutly.scrape.fetch import FetchConfig, Fetcher, FetchError
from scoutly.scrape.netguard import AllowList, BlockedAddress, check_address, system_resolver


@dataclass
class Hits:
    paths: list[str] = field(default_factory=list)


Route = tuple[int, dict[str, str], str]  # status, headers, body: a fresh response per request


def _app(hits: Hits, routes: dict[str, Route]) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        hits.paths.append(request.path)
        status, headers, text = routes.get(request.path, (200, {}, "ok"))
        return web.Response(status=status, headers=headers, text=text)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


@asynccontextmanager
async def serve(
    routes: dict[str, Route] | None = None, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[Hits, int]]:
    hits = Hits()
    runner = web.AppRunner(_app(hits, routes or {}), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield hits, port
    finally:
        await runner.cleanup()


def fetcher(allow: tuple[str, ...] = (), resolver: object = system_resolver, **kw: object) -> Fetcher:
    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    config = FetchConfig(allow_private=allow, retries=0, rate_per_host=1000.0, **kw)  # type: ignore[arg-type]
    return Fetcher(config=config, resolver=resolver, sleep=no_sleep, **{})  # type: ignore[arg-type]


def static_resolver(answers: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError(f"no such host {host}")
        return answers[host]

    return resolve


# -- the address forms --------------------------------------------------------------------------------
# Every one of them reaches 127.0.0.1 (where the server listens) if nothing stops it.
LOOPBACK_FORMS = [
    "127.0.0.1",
    "2130706433",  # decimal
    "0x7f000001",  # hexadecimal
    "0177.0.0.1",  # octal
    "017700000001",  # octal, one number
    "127.1",  # short form
    "127.0.1",
    "0x7f.1",
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",  # IPv4-compatible
    "[64:ff9b::7f00:1]",  # NAT64
    "[2002:7f00:1::1]",  # 6to4
    "localhost",
]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
async def test_every_form_of_a_private_address_is_refused_before_a_byte_is_sent(host: str) -> None:
    async with serve() as (hits, port):
        f = fetcher()
        try:
            with pytest.raises(FetchError) as refused:
                await f.get(f"http://{host}:{port}/jobs", html=True)
        finally:
            await f.aclose()
    assert hits.paths == []
    assert "robots" not in refused.value.reason  # reported as what it is
    assert refused.value.reason.startswith(("refused", "invalid URL")), refused.value.reason


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "::ffff:169.254.169.254",
        "::a9fe:a9fe",  # IPv4-compatible
        "64:ff9b::a9fe:a9fe",  # NAT64
        "64:ff9b:1::a9fe:a9fe",  # NAT64, local-use prefix
        "2002:a9fe:a9fe::1",  # 6to4
        "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo, client 169.254.169.254
        "fd00:ec2::254",
    ],
)
def test_metadata_is_refused_in_every_ipv6_wrapping_even_when_allowed(address: str) -> None:
    allow = AllowList.parse(["169.254.0.0/16", "::/0", "h"])
    with pytest.raises(BlockedAddress, match="metadata"):
        check_address("h", address, allow)


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "::ffff:10.1.2.3",
        "::a01:203",
        "64:ff9b::a01:203",
        "2002:a01:203::1",
        "fe80::1",
        "fc00::1",
        "::1",
    ],
)
def test_private_addresses_are_refused_in_every_wrapping(address: str) -> None:
    with pytest.raises(BlockedAddress, match="non-global"):
        check_address("h", address, AllowList.parse([]))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"]
)
def test_public_addresses_pass(address: str) -> None:
    check_address("h", address, AllowList.parse([]))


async def test_a_dns_answer_mixing_public_and_private_addresses_is_refused() -> None:
    async with serve() as (hits, port):
        f = fetcher(resolver=static_resolver({"mixed.test": ["93.184.216.34", "127.0.0.1"]}))
        try:
            with pytest.raises(FetchError, match=r"refused: mixed\.test resolves to the non-global"):
                await f.get(f"http://mixed.test:{port}/")
        finally:
            await f.aclose()
    assert hits.paths == []


async def test_the_metadata_url_is_reported_as_refused_not_as_robots() -> None:
    f = fetcher(allow=("169.254.0.0/16",))
    try:
        with pytest.raises(FetchError) as refused:
            await f.get("http://169.254.169.254/latest/meta-data/", html=True)
    finally:
        await f.aclose()
    assert refused.value.blocked
    assert "metadata endpoint 169.254.169.254" in refused.value.reason
    assert "robots" not in str(refused.value)


# -- redirects ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/secret",
        "http://[::ffff:127.0.0.1]:{port}/secret",
        "http://2130706433:{port}/secret",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "gopher://public.test:{port}/secret",
    ],
)
@pytest.mark.parametrize("html", [False, True])
async def test_a_redirect_to_a_private_address_or_another_scheme_is_refused(
    location: str, html: bool
) -> None:
    """public.test is allowed by name (it stands for a public board); where it redirects is checked again."""
    async with serve() as (hits, port):
        routes: dict[str, Route] = {"/jobs": (302, {"Location": location.format(port=port)}, "")}
        async with serve(routes) as (public_hits, public_port):
            f = fetcher(allow=("public.test",), resolver=static_resolver({"public.test": ["127.0.0.1"]}))
            try:
                with pytest.raises(FetchError) as refused:
                    await f.get(f"http://public.test:{public_port}/jobs", html=html)
            finally:
                await f.aclose()
    assert refused.value.blocked and refused.value.reason.startswith("refused"), refused.value.reason
    assert "/jobs" in public_hits.paths and "/secret" not in public_hits.paths
    assert hits.paths == []


async def test_robots_txt_is_checked_on_every_redirect_hop() -> None:
    routes: dict[str, Route] = {
        "/robots.txt": (200, {}, "User-agent: *\nDisallow: /private\n"),
        "/jobs": (301, {"Location": "/private/jobs"}, ""),
    }
    async with serve(routes) as (hits, port):
        f = fetcher(allow=("127.0.0.1",))
        try:
            with pytest.raises(FetchError, match=r"disallowed by robots\.txt") as refused:
                await f.get(f"http://127.0.0.1:{port}/jobs", html=True)
            assert not refused.value.blocked
            assert refused.value.url.endswith("/private/jobs")
            # an API call (not a web page) is not subject to robots.txt
            assert (await f.get(f"http://127.0.0.1:{port}/jobs")).status == 200
        finally:
            await f.aclose()
    assert hits.paths.count("/private/jobs") == 1  # only the API call reached it


# -- TLS: no connection reuse across host names ------------------------------------------------------
def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A CA, and a server certificate valid for a.test only. (client context, server context)"""
    d = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=d)  # fmt: skip
    (d / "ext").write_text("basicConstraints=CA:FALSE\nsubjectAltName=DNS:a.test\n")
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=a.test",
        "-keyout",
        "a.key",
        "-out",
        "a.csr",
        cwd=d,
    )
    _openssl("x509", "-req", "-in", "a.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "ext", "-out", "a.crt", cwd=d)  # fmt: skip
    client = ssl.create_default_context(cafile=str(d / "ca.crt"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(d / "a.crt", d / "a.key")
    return client, server


async def test_a_tls_connection_is_never_reused_for_another_host_name(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """a.test and b.test share one address; the certificate is a.test's. A connection pooled by address
    would carry b.test's request over a.test's TLS session, and b.test's certificate was never checked."""
    client, server = tls
    resolver = static_resolver({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    async with serve(ssl_context=server) as (hits, port):
        f = Fetcher(
            config=FetchConfig(allow_private=("a.test", "b.test"), retries=0, rate_per_host=1000.0),
            resolver=resolver,
            verify=client,
        )
        try:
            assert (await f.get(f"https://a.test:{port}/a")).status == 200
            with pytest.raises(FetchError, match=r"CERTIFICATE_VERIFY_FAILED|certificate|hostname"):
                await f.get(f"https://b.test:{port}/b")
        finally:
            await f.aclose()
    assert hits.paths == ["/a"]
