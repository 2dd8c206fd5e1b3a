"""A status write that fails in transit (timeout, connection reset, 5xx) is retried with backoff until it
lands: without the retry the status would stay stale until the target's next event, hours away. The
API is a stand-in here because the failure must hit exactly the status write; the integration suites
cover the writes against the real API server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from scoutly.config import OperatorSettings
from scoutly.controller.core import Controller
from scoutly.controller.mirror import Mirror
from scoutly.kube.client import ApiError
from scoutly.testing.wait import eventually


class FlakyStatusApi:
    """Answers status merge patches like the API server (echoes the status), after `failures` errors."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.attempts = 0
        self.status: dict[str, Any] = {}

    async def merge_patch(self, path: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        assert path.endswith("/status")
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.status.update(body["status"])
        return {"status": dict(self.status)}

    async def create(self, path: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        return body  # Events


def target(name: str = "acme") -> dict[str, Any]:
    return {
        "apiVersion": "scoutly.io/v1alpha1",
        "kind": "ScrapeTarget",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": "u-1",
            "generation": 1,
            "creationTimestamp": "2026-11-22T10:00:00Z",
        },
        "spec": {"company": "Acme", "rank": 90, "source": {"url": "https://boards.greenhouse.io/acme"}},
    }


async def test_failed_status_write_is_retried_until_it_lands() -> None:
    api = FlakyStatusApi(
        [TimeoutError(), ConnectionResetError(), ApiError(503, "ServiceUnavailable", "busy")]
    )
    controller = Controller(OperatorSettings(status_batch=timedelta(0)), api, Mirror(None))  # type: ignore[arg-type]
    controller.queue.backoff.base = 0.01
    await controller.on_target_event(target(), "ADDED")
    assert api.status == {}  # the first write failed

    await eventually(lambda: _written(api), timeout=5, what="status written after retries")
    assert api.attempts == 4
    assert api.status["phase"] == "Idle" and api.status["effectiveRank"] == 90
    assert controller.targets["ns/acme"].observed["phase"] == "Idle"


async def test_not_found_is_not_retried() -> None:
    api = FlakyStatusApi([ApiError(404, "NotFound", "gone")])
    controller = Controller(OperatorSettings(status_batch=timedelta(0)), api, Mirror(None))  # type: ignore[arg-type]
    controller.queue.backoff.base = 0.01
    await controller.on_target_event(target(), "ADDED")
    await controller.queue.settled()  # the queued status write ran; a retry would be pending now
    assert api.attempts == 1 and not controller.queue.pending(("target", "ns/acme"))


async def _written(api: FlakyStatusApi) -> bool:
    return bool(api.status)
