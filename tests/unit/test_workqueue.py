"""The keyed work queue (controller/workqueue.py): de-duplication, one worker per key, delayed adds and
per-key exponential backoff, with the semantics of client-go's work queue."""

from __future__ import annotations

import asyncio
import itertools

from scoutly.controller.workqueue import Backoff, RetryLater, WorkQueue
from scoutly.testing.wait import eventually


def test_backoff_doubles_per_failure_up_to_its_cap_and_forget_resets_it() -> None:
    b: Backoff[str] = Backoff(base=0.5, cap=3.0)
    assert [b.when("a") for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert b.when("b") == 0.5  # per key
    assert b.failures("a") == 5
    b.forget("a")
    assert b.failures("a") == 0 and b.when("a") == 0.5


def test_backoff_survives_very_many_failures() -> None:
    b: Backoff[str] = Backoff(base=0.5, cap=300.0)
    for _ in range(5000):
        b.when("a")
    assert b.when("a") == 300.0


async def test_a_key_added_while_it_waits_runs_once() -> None:
    seen: list[str] = []
    gate = asyncio.Event()

    async def handle(key: str) -> None:
        await gate.wait()
        seen.append(key)

    q: WorkQueue[str] = WorkQueue(handle, workers=1)
    q.add("blocker")  # occupies the only worker
    for _ in range(3):
        q.add("a")
    gate.set()
    await eventually(lambda: _true(seen == ["blocker", "a"]), timeout=5, what="a handled")
    await eventually(lambda: _true(len(q) == 0), timeout=5, what="queue empty")
    assert seen == ["blocker", "a"]
    await q.close()


async def test_a_key_added_while_running_runs_once_more_after_and_never_in_parallel() -> None:
    running: set[str] = set()
    overlaps = 0
    runs = 0
    release = asyncio.Event()

    async def handle(key: str) -> None:
        nonlocal overlaps, runs
        if key in running:
            overlaps += 1
        running.add(key)
        runs += 1
        if runs == 1:
            await release.wait()
        running.discard(key)

    q: WorkQueue[str] = WorkQueue(handle, workers=4)
    q.add("a")
    await eventually(lambda: _true(runs == 1), timeout=5, what="first run started")
    q.add("a")
    q.add("a")  # both folded into one re-run, held back until the first run returns
    await asyncio.sleep(0)
    assert runs == 1
    release.set()
    await eventually(lambda: _true(runs == 2 and len(q) == 0), timeout=5, what="one more run")
    assert overlaps == 0 and runs == 2
    await q.close()


async def test_add_after_waits_and_the_earlier_of_two_delays_wins() -> None:
    loop = asyncio.get_running_loop()
    handled: dict[str, float] = {}

    async def handle(key: str) -> None:
        handled[key] = loop.time()

    q: WorkQueue[str] = WorkQueue(handle)
    start = loop.time()
    q.add_after("late", 0.3)
    q.add_after("late", 5.0)  # later than the pending one: ignored
    q.add_after("early", 5.0)
    q.add_after("early", 0.1)  # earlier: replaces it
    assert q.pending("late") and q.pending("early")
    await eventually(lambda: _true(len(handled) == 2), timeout=3, what="both delayed keys handled")
    assert 0.1 <= handled["early"] - start < 1.0
    assert 0.3 <= handled["late"] - start < 1.0
    await q.close()


async def test_a_failing_key_is_retried_with_growing_backoff_until_it_succeeds() -> None:
    loop = asyncio.get_running_loop()
    attempts: list[float] = []
    errors: list[Exception] = []

    async def handle(key: str) -> None:
        attempts.append(loop.time())
        if len(attempts) == 2:
            raise RetryLater(key)  # counted where it failed: not reported again
        if len(attempts) < 4:
            raise ConnectionResetError("reset by peer")

    q: WorkQueue[str] = WorkQueue(
        handle, backoff=Backoff(base=0.05, cap=10.0), on_error=lambda _k, e: errors.append(e)
    )
    q.add("a")
    await eventually(lambda: _true(len(attempts) == 4 and len(q) == 0), timeout=5, what="4 attempts")
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2  # 0.05, 0.1, 0.2: doubling
    assert [type(e) for e in errors] == [ConnectionResetError, ConnectionResetError]
    assert q.backoff.failures("a") == 0  # the success reset it
    await q.close()


async def test_close_cancels_pending_delays() -> None:
    handled: list[str] = []

    async def handle(key: str) -> None:
        handled.append(key)

    q: WorkQueue[str] = WorkQueue(handle)
    q.add("now")
    q.add_after("later", 30.0)
    await eventually(lambda: _true(handled == ["now"]), timeout=5, what="immediate key handled")
    await q.close()
    assert not q.pending("later") and len(q) == 0


async def _true(value: bool) -> bool:
    return value
