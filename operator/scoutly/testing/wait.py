"""Waiting on conditions with deadlines (never sleep-and-hope)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo.errors import PyMongoError

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Call `probe` until it returns a truthy value; raise AssertionError naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    error: Exception | None = None
    while True:
        try:
            last = await probe()
            error = None
            if last:
                return last
        except (AssertionError, PyMongoError) as e:  # probes may assert; a restarting MongoDB may refuse
            error = e
        if time.monotonic() >= deadline:
            detail = f"{error}" if error else f"last value: {last!r}"
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; {detail}")
        await asyncio.sleep(interval)
