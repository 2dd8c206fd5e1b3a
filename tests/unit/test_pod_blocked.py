"""A scrape pod that cannot start is recognised from the kubelet's waiting reason (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from scoutly.controller.jobs import CONTAINER, pod_blocked


def _pod(reason: str | None, *, container: str = CONTAINER, job: str | None = "acme-1") -> dict[str, Any]:
    state: dict[str, Any] = {"waiting": {"reason": reason, "message": 'secret "scoutly-mongodb" not found'}}
    if reason is None:
        state = {"running": {"startedAt": "2026-11-22T10:00:00Z"}}
    labels = {"job-name": job} if job else {}
    return {
        "metadata": {"name": "acme-1-x", "labels": labels},
        "status": {"containerStatuses": [{"name": container, "state": state}]},
    }


def test_missing_secret_blocks_with_the_kubelets_message() -> None:
    assert pod_blocked(_pod("CreateContainerConfigError")) == (
        "acme-1",
        'CreateContainerConfigError: secret "scoutly-mongodb" not found',
    )


@pytest.mark.parametrize("reason", ["ErrImageNeverPull", "ImagePullBackOff", "InvalidImageName"])
def test_images_that_cannot_be_had_block(reason: str) -> None:
    found = pod_blocked(_pod(reason))
    assert found is not None and found[1].startswith(reason)


@pytest.mark.parametrize(
    "pod",
    [
        _pod(None),  # running
        _pod("ContainerCreating"),  # on its way
        _pod("CreateContainerConfigError", container="sidecar"),  # not the scrape container
        _pod("CreateContainerConfigError", job=None),  # not a Job's pod
    ],
)
def test_other_states_do_not_block(pod: dict[str, Any]) -> None:
    assert pod_blocked(pod) is None
