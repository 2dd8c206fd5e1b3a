"""Fail points for crash-safety tests (like etcd's gofail): inert unless SCOUTLY_FAULT_POINTS is set.

SCOUTLY_FAULT_POINTS=after_create,before_release  SCOUTLY_FAULT_PROBABILITY=0.3  makes the process
kill -9 itself at those points with that probability, so a test can crash it at every step of a
dispatch and check that nothing is lost or duplicated.
"""

from __future__ import annotations

import os
import random
import signal

_POINTS = frozenset(p.strip() for p in os.environ.get("SCOUTLY_FAULT_POINTS", "").split(",") if p.strip())
_PROBABILITY = float(os.environ.get("SCOUTLY_FAULT_PROBABILITY", "1") or 1)

POINTS = (
    "after_decide",
    "after_create",
    "before_status",
    "after_status",
    "after_mirror",
    "before_release",
    "after_release",
)


def crash_point(name: str) -> None:
    if name in _POINTS and random.random() < _PROBABILITY:
        os.kill(os.getpid(), signal.SIGKILL)
