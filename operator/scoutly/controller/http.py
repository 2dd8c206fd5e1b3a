"""/metrics, /healthz and /readyz on the operator's own event loop (aiohttp, already a kopf dependency)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from scoutly.metrics import REGISTRY


def make_app(
    *, live: Callable[[], tuple[bool, str]], ready: Callable[[], tuple[bool, str]]
) -> web.Application:
    def probe(check: Callable[[], tuple[bool, str]]) -> Callable[[web.Request], object]:
        async def handler(_: web.Request) -> web.Response:
            ok, detail = check()
            return web.Response(status=200 if ok else 503, text=("ok" if ok else "not ok") + f": {detail}\n")

        return handler

    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(REGISTRY))
    app.router.add_get("/healthz", probe(live))  # type: ignore[arg-type]
    app.router.add_get("/readyz", probe(ready))  # type: ignore[arg-type]
    return app


async def serve(app: web.Application, *, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host=host, port=port).start()
    return runner
