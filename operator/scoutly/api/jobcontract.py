"""The Job contract between the operator (controller/jobs.py builds the Job) and its workload
(`scoutly scrape`, scrape/run.py): both import it from here, so they cannot drift apart
(docs/architecture.md, "The Job contract").

- the container's name and termination-message path;
- the environment the pod gets (names; the operator fills the values);
- the exit codes, and the podFailurePolicy that turns them into the Job's reaction;
- the termination message: one JSON line, `RunSummary` (api/summary.py), parsed back by `parse_summary`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from scoutly.api.summary import MAX_MESSAGE_BYTES, RunSummary, parse_summary

__all__ = [
    "CONTAINER",
    "ENV_JOB_NAME",
    "ENV_LLM_MODEL",
    "ENV_MONGODB_DATABASE",
    "ENV_MONGODB_URI",
    "ENV_OPENAI_API_KEY",
    "ENV_OPENAI_BASE_URL",
    "ENV_TARGET",
    "ENV_TARGET_SPEC",
    "ENV_TARGET_SPEC_FILE",
    "MAX_MESSAGE_BYTES",
    "TERMINATION_LOG",
    "ExitCode",
    "RunSummary",
    "parse_summary",
    "pod_failure_policy",
]

CONTAINER = "scrape"
TERMINATION_LOG = "/dev/termination-log"

ENV_TARGET = "SCOUTLY_TARGET"  # <namespace>/<name> of the ScrapeTarget
ENV_TARGET_SPEC_FILE = "SCOUTLY_TARGET_SPEC_FILE"  # a file holding the spec slice as JSON (the Job's way)
ENV_TARGET_SPEC = (
    "SCOUTLY_TARGET_SPEC"  # the spec slice as JSON inline (local runs; api.models.JobTargetSpec)
)
ENV_JOB_NAME = "SCOUTLY_JOB_NAME"  # with the namespace, the key of the Job's jobqueues document
ENV_MONGODB_URI = "SCOUTLY_MONGODB_URI"  # from a Secret reference, never a literal
ENV_MONGODB_DATABASE = "SCOUTLY_MONGODB_DATABASE"
ENV_LLM_MODEL = "SCOUTLY_LLM_MODEL"
ENV_OPENAI_API_KEY = "OPENAI_API_KEY"  # from a Secret reference (optional)
ENV_OPENAI_BASE_URL = "OPENAI_BASE_URL"


class ExitCode(IntEnum):
    OK = 0  # partial failures are listed in the summary's errors
    FAILED = 1  # could not do its job this time (MongoDB or the board unreachable): retried
    BAD_INPUT = 2  # an invalid target or settings, or refused credentials: retrying cannot help


def pod_failure_policy() -> dict[str, Any]:
    """Bad input fails the Job at once instead of walking backoffLimit; a pod evicted or preempted
    (DisruptionTarget) is retried without counting against it."""
    return {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": CONTAINER,
                    "operator": "In",
                    "values": [int(ExitCode.BAD_INPUT)],
                },
            },
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]
    }
