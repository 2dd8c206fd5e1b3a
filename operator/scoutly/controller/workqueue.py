"""A keyed work queue after client-go's (../shared/reference/reconcile.md): keys, never events.

- `add(key)` is idempotent while the key waits; a key added while it is being handled runs once more
  after its handler returns, so one key never runs in two workers at once and no add is lost.
- `add_after(key, seconds)`: a delayed add; the earlier of two pending delays wins.
- `add_rate_limited(key)`: a delayed add after the larger of the key's exponential backoff (`Backoff`)
  and the wait for a token of the queue-wide `TokenBucket` (client-go's default controller rate
  limiter: 10/s, burst 100), so many failing keys together retry at most 10 times a second;
  a handler that raises is re-added this way, one that returns resets its backoff (`forget`).
- `lane(key)`: the key's lane, 0 first; a worker takes the oldest key of the lowest lane that has one
  (FIFO within a lane). The controller puts the keys whose handler only touches memory (a due time
  firing, a dispatcher pass) first, then the finished Jobs that hold up their target's next run, then
  the status writes, which fold while they wait (docs/performance.md). Under a sustained overload a
  later lane waits for the earlier ones; every key of the earlier lanes is bounded by Jobs, so it
  drains.
- `observer`: told of each add, start, end and retry, with the queue's own clock (metrics).
Workers start on the first add, so a queue needs no lifecycle beyond `close()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)
log = logging.getLogger("scoutly.workqueue")


class Timer(Protocol):
    def when(self) -> float: ...

    def cancel(self) -> None: ...


class Timers(Protocol):
    """Where delayed adds wait: the running event loop, or a test's manual clock."""

    def time(self) -> float: ...

    def call_later(
        self, delay: float, callback: Callable[..., object], *args: Any
    ) -> asyncio.TimerHandle: ...


class Observer(Protocol[K_contra]):
    """What the queue reports (client-go's workqueue metrics); all times in seconds."""

    def depth(self, key: K_contra, delta: int) -> None: ...

    def started(self, key: K_contra, waited: float) -> None: ...

    def finished(self, key: K_contra, took: float) -> None: ...

    def retried(self, key: K_contra) -> None: ...


class RetryLater(Exception):
    """Raised by a handler whose work is not done yet and was already counted where it failed."""


class Backoff(Generic[K]):
    """Per-key exponential backoff: base, 2*base, 4*base ... up to cap; pure (no clock, no I/O)."""

    def __init__(self, base: float = 0.05, cap: float = 300.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """The delay before the key's next attempt; counts one more failure."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return float(min(self.base * 2.0 ** min(n, 64), self.cap))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)


class TokenBucket:
    """A token bucket over all keys (golang.org/x/time/rate's reservations): `burst` tokens at most,
    refilled at `rate` per second. Each `when(now)` takes one token, going into debt when none is left,
    and returns how long that token's holder must wait. Pure: the caller passes the time."""

    def __init__(self, rate: float = 10.0, burst: int = 100) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None

    def when(self, now: float) -> float:
        if self._last is not None and now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        if self._last is None or now > self._last:
            self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class WorkQueue(Generic[K]):
    def __init__(
        self,
        handle: Callable[[K], Awaitable[None]],
        *,
        workers: int = 4,
        backoff: Backoff[K] | None = None,
        bucket: TokenBucket | None = None,
        on_error: Callable[[K, Exception], None] | None = None,
        timers: Timers | None = None,
        lane: Callable[[K], int] | None = None,
        observer: Observer[K] | None = None,
    ) -> None:
        self._handle = handle
        self._lane = lane or (lambda key: 0)
        self._observer = observer
        self._n_workers = workers
        self.backoff: Backoff[K] = backoff or Backoff()
        self.bucket = bucket or TokenBucket()
        self._on_error = on_error
        self._timers_source = timers
        self._lanes: dict[int, deque[K]] = {}  # waiting keys by lane, lowest first
        self._added: dict[K, float] = {}  # when each waiting key was queued (its wait, for the observer)
        self._dirty: set[K] = set()  # waiting in a lane, or to be re-queued when its handler returns
        self._processing: set[K] = set()
        self._timers: dict[K, Timer] = {}
        self._has_work = asyncio.Event()
        self._idle = asyncio.Event()  # nothing waiting or running (delayed adds aside)
        self._idle.set()
        self._workers: list[asyncio.Task[None]] = []

    def add(self, key: K) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._push(key)
            self._idle.clear()
        self._start()

    def _push(self, key: K) -> None:
        lane = self._lane(key)
        if lane not in self._lanes:
            self._lanes = dict(sorted({**self._lanes, lane: deque()}.items()))  # lowest lane first
        self._lanes[lane].append(key)
        if self._observer is not None:
            self._added[key] = self._clock().time()
            self._observer.depth(key, 1)
        self._has_work.set()

    def add_after(self, key: K, seconds: float) -> None:
        if seconds <= 0:
            self.add(key)
            return
        loop = self._clock()
        pending = self._timers.get(key)
        if pending is not None:
            if pending.when() <= loop.time() + seconds:
                return
            pending.cancel()
        self._timers[key] = loop.call_later(seconds, self._fire, key)

    def add_rate_limited(self, key: K) -> None:
        # both are consulted every time, as in client-go's MaxOfRateLimiter: the token is taken even
        # when the key's own backoff is the longer wait
        if self._observer is not None:
            self._observer.retried(key)
        per_key = self.backoff.when(key)
        overall = self.bucket.when(self._clock().time())
        self.add_after(key, max(per_key, overall))

    def forget(self, key: K) -> None:
        self.backoff.forget(key)

    def delay(self, key: K) -> float | None:
        """Seconds until the key's delayed add fires; None when it has none."""
        timer = self._timers.get(key)
        if timer is None:
            return None
        return timer.when() - self._clock().time()

    def running(self) -> bool:
        """No worker has stopped (none has started is running too): the liveness probe's signal."""
        return not any(w.done() for w in self._workers)

    def pending(self, key: K) -> bool:
        """Waiting, delayed or being handled."""
        return key in self._dirty or key in self._timers or key in self._processing

    def __len__(self) -> int:
        return len(self._dirty | set(self._timers) | self._processing)

    def _clock(self) -> Timers:
        return self._timers_source or asyncio.get_running_loop()

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _start(self) -> None:
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._work(), name=f"workqueue-{i}") for i in range(self._n_workers)
            ]

    def _has_waiting(self) -> bool:
        return any(self._lanes.values())

    async def _work(self) -> None:
        while True:
            while not self._has_waiting():
                self._has_work.clear()
                await self._has_work.wait()
            key = next(q for q in self._lanes.values() if q).popleft()
            self._dirty.discard(key)
            self._processing.add(key)
            observer = self._observer
            start = 0.0
            if observer is not None:
                start = self._clock().time()
                observer.depth(key, -1)
                observer.started(key, start - self._added.pop(key, start))
            try:
                await self._handle(key)
            except Exception as e:
                if self._on_error is not None and not isinstance(e, RetryLater):
                    self._on_error(key, e)
                self.add_rate_limited(key)
            else:
                self.forget(key)
            finally:
                if observer is not None:
                    observer.finished(key, self._clock().time() - start)
                self._processing.discard(key)
                if key in self._dirty:  # added again while it ran
                    self._push(key)
                elif not self._has_waiting() and not self._processing:
                    self._idle.set()

    async def settled(self) -> None:
        """Wait until no key is waiting or being handled (delayed adds may still be pending)."""
        await self._idle.wait()

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._added.clear()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
