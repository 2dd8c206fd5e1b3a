"""The keyed work queue (controller/workqueue.py): de-duplication, one worker per key, delayed adds,
per-key exponential backoff and the queue-wide token bucket, with the semantics of client-go's work
queue and its default controller rate limiter."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from scoutly.controller.workqueue import Backoff, RetryLater, TokenBucket, WorkQueue
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


def test_the_bucket_gives_its_burst_at_once_then_one_token_per_tenth_of_a_second() -> None:
    b = TokenBucket(rate=10.0, burst=100)
    assert [b.when(0.0) for _ in range(100)] == [0.0] * 100
    assert [round(b.when(0.0), 6) for _ in range(3)] == [0.1, 0.2, 0.3]  # in debt: queued behind
    # 1 s later 10 tokens came back; 3 of them pay the debt, so 7 are free and the 8th waits
    assert [b.when(1.0) for _ in range(7)] == [0.0] * 7
    assert round(b.when(1.0), 6) == 0.1


def test_the_bucket_refills_up_to_its_burst_only() -> None:
    b = TokenBucket(rate=10.0, burst=5)
    for _ in range(5):
        b.when(0.0)
    assert b.when(3600.0) == 0.0  # an hour idle refills 5 tokens, not 36,000
    assert [b.when(3600.0) for _ in range(4)] == [0.0] * 4
    assert round(b.when(3600.0), 6) == 0.1
    assert round(b.when(3599.0), 6) == 0.2  # a clock read earlier than the last one adds no tokens


def test_the_bucket_rejects_a_rate_or_burst_that_would_never_refill() -> None:
    with pytest.raises(ValueError, match="rate > 0 and burst >= 1"):
        TokenBucket(rate=0.0)
    with pytest.raises(ValueError, match="rate > 0 and burst >= 1"):
        TokenBucket(burst=0)


class _Timers:
    """The queue's timers on a clock that moves only by `advance` (no sleeping in the test)."""

    class _Handle:
        def __init__(self, at: float, seq: int, fire: Callable[[], object]) -> None:
            self.at, self.seq, self.fire, self.cancelled = at, seq, fire, False

        def __lt__(self, other: _Timers._Handle) -> bool:
            return (self.at, self.seq) < (other.at, other.seq)

        def when(self) -> float:
            return self.at

        def cancel(self) -> None:
            self.cancelled = True

    def __init__(self) -> None:
        self.now = 1000.0
        self._heap: list[_Timers._Handle] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Any:
        handle = self._Handle(self.now + delay, next(self._seq), lambda: callback(*args))
        heapq.heappush(self._heap, handle)
        return handle

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self._heap and self._heap[0].at <= end:
            handle = heapq.heappop(self._heap)
            self.now = handle.at
            if not handle.cancelled:
                handle.fire()
        self.now = end


async def test_many_failing_keys_retry_no_faster_than_the_bucket_allows() -> None:
    timers = _Timers()
    attempts: dict[str, int] = {}

    async def handle(key: str) -> None:
        attempts[key] = attempts.get(key, 0) + 1
        if attempts[key] == 1:
            raise ConnectionResetError("reset by peer")

    keys = [f"k{i}" for i in range(5)]
    q: WorkQueue[str] = WorkQueue(
        handle,
        workers=1,
        backoff=Backoff(base=0.001, cap=10.0),
        bucket=TokenBucket(rate=10.0, burst=2),
        timers=timers,  # type: ignore[arg-type]
    )
    for key in keys:
        q.add(key)
    await q.settled()
    delays = [round(q.delay(key) or -1.0, 6) for key in keys]
    # the first two retries fit the burst (their own backoff, 1 ms); the rest wait for a token each
    assert delays == [0.001, 0.001, 0.1, 0.2, 0.3]
    timers.advance(0.25)
    await q.settled()
    assert [attempts[k] for k in keys] == [2, 2, 2, 2, 1]
    timers.advance(0.05)
    await q.settled()
    assert all(attempts[k] == 2 for k in keys) and len(q) == 0
    await q.close()


async def test_a_key_whose_own_backoff_is_longer_waits_for_its_backoff() -> None:
    timers = _Timers()

    async def handle(key: str) -> None:
        raise ConnectionResetError("reset by peer")

    q: WorkQueue[str] = WorkQueue(
        handle,
        workers=1,
        backoff=Backoff(base=2.0),
        bucket=TokenBucket(burst=1),
        timers=timers,  # type: ignore[arg-type]
    )
    q.add("a")
    q.add("b")
    await q.settled()
    assert q.delay("a") == 2.0 and q.delay("b") == 2.0  # b's token wait (0.1 s) is the shorter one
    await q.close()


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


def _lane(key: str) -> int:
    return 0 if key.startswith("!") else 1 if key.startswith("+") else 2


async def test_keys_are_taken_lowest_lane_first_and_in_order_within_a_lane() -> None:
    seen: list[str] = []
    gate = asyncio.Event()

    started = asyncio.Event()

    async def handle(key: str) -> None:
        if key == "blocker":
            started.set()
            await gate.wait()
        seen.append(key)

    q: WorkQueue[str] = WorkQueue(handle, workers=1, lane=_lane)
    q.add("blocker")  # occupies the only worker
    await asyncio.wait_for(started.wait(), timeout=5)
    for key in ("a", "+j1", "b", "!due", "c", "+j2", "!dispatch"):
        q.add(key)
    gate.set()
    await eventually(lambda: _true(len(seen) == 8), timeout=5, what="all handled")
    # lane 0 in its own order, then lane 1, then the backlog of lane 2 in FIFO order
    assert seen == ["blocker", "!due", "!dispatch", "+j1", "+j2", "a", "b", "c"]
    await q.close()


async def test_a_first_lane_key_added_while_it_runs_goes_to_the_front_again() -> None:
    seen: list[str] = []
    gate = asyncio.Event()

    async def handle(key: str) -> None:
        seen.append(key)
        if key == "!d" and seen.count("!d") == 1:
            await gate.wait()

    q: WorkQueue[str] = WorkQueue(handle, workers=1, lane=_lane)
    q.add("!d")
    await eventually(lambda: _true(seen == ["!d"]), timeout=5, what="first run")
    q.add("x")
    q.add("!d")  # re-queued when its run returns: ahead of x
    gate.set()
    await eventually(lambda: _true(len(seen) == 3), timeout=5, what="all handled")
    assert seen == ["!d", "!d", "x"]
    await q.close()


async def test_the_observer_sees_waits_work_times_depth_and_retries_on_the_queue_clock() -> None:
    timers = _Timers()
    depth: dict[str, int] = {}
    waited: dict[str, float] = {}
    took: dict[str, float] = {}
    retried: list[str] = []
    fail_once = {"bad"}

    class Observer:
        def depth(self, key: str, delta: int) -> None:
            depth[key] = depth.get(key, 0) + delta

        def started(self, key: str, wait: float) -> None:
            waited[key] = wait

        def finished(self, key: str, seconds: float) -> None:
            took[key] = seconds

        def retried(self, key: str) -> None:
            retried.append(key)

    async def handle(key: str) -> None:
        timers.now += 0.5  # each key "takes" half a second of the injected clock
        if key in fail_once:
            fail_once.discard(key)
            raise ConnectionResetError("reset by peer")

    q: WorkQueue[str] = WorkQueue(
        handle,
        workers=1,
        backoff=Backoff(base=1.0),
        timers=timers,  # type: ignore[arg-type]
        observer=Observer(),
    )
    q.add("a")
    q.add("b")
    q.add("bad")
    assert depth == {"a": 1, "b": 1, "bad": 1}
    await q.settled()
    # one worker: b waited for a's half second, bad for both
    assert waited == {"a": 0.0, "b": 0.5, "bad": 1.0}
    assert took == {"a": 0.5, "b": 0.5, "bad": 0.5}
    assert retried == ["bad"] and depth == {"a": 0, "b": 0, "bad": 0}
    timers.advance(1.0)
    await q.settled()
    assert waited["bad"] == 0.0 and depth["bad"] == 0 and len(q) == 0
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
