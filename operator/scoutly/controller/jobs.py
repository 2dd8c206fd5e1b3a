"""Build the batch/v1 Job for one scrape, and read a Job back into a small view (pure)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from scoutly.api import jobcontract as contract
from scoutly.api import models as m
from scoutly.api.jobcontract import CONTAINER, TERMINATION_LOG
from scoutly.config import OperatorSettings
from scoutly.scheduling.due import shorten

LABEL_TARGET = "scoutly.io/target"  # the target's name (namespace is the Job's own)
LABEL_TARGET_UID = "scoutly.io/target-uid"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "scoutly-operator"
ANN_SCHEDULED = "scoutly.io/scheduled-timestamp"  # like batch.kubernetes.io/cronjob-scheduled-timestamp
ANN_MANUAL = "scoutly.io/manual-trigger"
ANN_TARGET_SPEC = "scoutly.io/target-spec"  # the scrape's input, mounted as a file (downward API)
SPEC_DIR = "/etc/scoutly/target"
SPEC_FILE = "spec.json"
FINALIZER = "scoutly.io/record-outcome"


class JobPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


def iso(t: datetime) -> str:
    """RFC 3339 in UTC, second precision: the API server's own time format."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_job(
    *,
    name: str,
    namespace: str,
    target_name: str,
    target_uid: str,
    spec: m.ScrapeTargetSpec,
    scheduled: datetime,
    manual_token: str | None,
    settings: OperatorSettings,
) -> dict[str, Any]:
    """The Job manifest. Secrets reach the pod only as secretKeyRef; the pod gets no API token."""
    tmpl = spec.jobTemplate or m.JobTemplate()
    labels = {
        **settings.scrape_labels,
        **tmpl.labels,
        LABEL_TARGET: target_label(target_name),
        LABEL_TARGET_UID: target_uid,
        LABEL_MANAGED_BY: MANAGED_BY,
    }
    annotations = {ANN_SCHEDULED: iso(scheduled)}
    if manual_token is not None:
        annotations[ANN_MANUAL] = manual_token[:253]
    pod_annotations = dict(settings.extra_pod_annotations)
    target_spec = m.job_target_spec(spec)
    # The spec reaches the pod as a file (downward API of a pod annotation), not as one env string: a
    # thousand trackers exceed the 128 KiB Linux allows one (MAX_ARG_STRLEN) and the pod could not start.
    pod_annotations[ANN_TARGET_SPEC] = json.dumps(target_spec, separators=(",", ":"))
    env: list[dict[str, Any]] = [
        {"name": contract.ENV_TARGET, "value": f"{namespace}/{target_name}"},
        {"name": contract.ENV_TARGET_SPEC_FILE, "value": f"{SPEC_DIR}/{SPEC_FILE}"},
        {"name": contract.ENV_JOB_NAME, "value": name},
        {
            "name": contract.ENV_MONGODB_URI,
            "valueFrom": {
                "secretKeyRef": {"name": settings.mongodb_secret_name, "key": settings.mongodb_secret_key}
            },
        },
        {"name": contract.ENV_MONGODB_DATABASE, "value": settings.mongodb_database},
        {"name": contract.ENV_LLM_MODEL, "value": settings.llm_model},
    ]
    if settings.openai_secret_name:
        env.append(
            {
                "name": contract.ENV_OPENAI_API_KEY,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": settings.openai_secret_name,
                        "key": settings.openai_secret_key,
                        "optional": True,
                    }
                },
            }
        )
    if settings.openai_base_url:
        env.append({"name": contract.ENV_OPENAI_BASE_URL, "value": settings.openai_base_url})
    env += [{"name": k, "value": v} for k, v in settings.scrape_env]
    # the CRD admits only TZ, LANG, LANGUAGE and LC_* (api/models.py); the filter is a second fence
    reserved = {e["name"].upper() for e in env}
    env += [
        {"name": e.name, "value": e.value}
        for e in tmpl.env
        if e.name.upper() not in reserved and re.match(m.ENV_ALLOWED_PATTERN, e.name)
    ]

    res = tmpl.resources
    requests = {"cpu": settings.scrape_cpu_request, "memory": settings.scrape_memory_request}
    limits = {"memory": settings.scrape_memory_limit}
    if res and res.requests:
        requests.update(res.requests.model_dump(exclude_none=True))
    if res and res.limits:
        limits.update(res.limits.model_dump(exclude_none=True))

    container = {
        "name": CONTAINER,
        "image": tmpl.image or settings.scrape_image,
        "imagePullPolicy": settings.scrape_image_pull_policy,
        "command": ["scoutly", "scrape", "--target", f"{namespace}/{target_name}"],
        "env": env,
        "resources": {"requests": requests, "limits": limits},
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the read-only root fs needs a scratch dir
            {"name": "target", "mountPath": SPEC_DIR, "readOnly": True},
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
            "finalizers": [FINALIZER],
            "ownerReferences": [
                {
                    "apiVersion": m.API_VERSION,
                    "kind": m.KIND,
                    "name": target_name,
                    "uid": target_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": tmpl.backoffLimit
            if tmpl.backoffLimit is not None
            else settings.scrape_backoff_limit,
            "activeDeadlineSeconds": tmpl.activeDeadlineSeconds or settings.scrape_active_deadline_seconds,
            "podFailurePolicy": contract.pod_failure_policy(),
            "template": {
                "metadata": {"labels": labels, "annotations": pod_annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": settings.scrape_service_account,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                        "fsGroup": 65532,
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        {
                            "name": "target",
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": SPEC_FILE,
                                        "fieldRef": {
                                            "fieldPath": f"metadata.annotations['{ANN_TARGET_SPEC}']"
                                        },
                                    }
                                ]
                            },
                        },
                    ],
                    **_placement(settings),
                },
            },
        },
    }


def target_label(target_name: str) -> str:
    """The scoutly.io/target label: the name, hash-shortened like Job names when it is over 63
    characters (a plain cut can end in - or ., an invalid label that fails every Job create)."""
    return shorten(target_name, 63)


def _placement(settings: OperatorSettings) -> dict[str, Any]:
    """Where and how scrape pods run, from the operator's settings only (never from a target)."""
    out: dict[str, Any] = {}
    if settings.image_pull_secrets:
        out["imagePullSecrets"] = [{"name": n} for n in settings.image_pull_secrets]
    if settings.scrape_node_selector:
        out["nodeSelector"] = dict(settings.scrape_node_selector)
    if settings.scrape_tolerations:
        out["tolerations"] = [dict(t) for t in settings.scrape_tolerations]
    if settings.scrape_priority_class_name:
        out["priorityClassName"] = settings.scrape_priority_class_name
    return out


def image_error(spec: m.ScrapeTargetSpec, settings: OperatorSettings) -> str | None:
    """Why the target's own image may not run, or None. A target's image would run with the MongoDB URI
    and the API key mounted: only the operator's image, or the prefixes its settings allow."""
    image = spec.jobTemplate.image if spec.jobTemplate else None
    if image is None or image == settings.scrape_image:
        return None
    if any(image.startswith(p) for p in settings.allowed_image_prefixes):
        return None
    allowed = ", ".join(settings.allowed_image_prefixes) or settings.scrape_image
    return (
        f"spec.jobTemplate.image: {image!r} is not allowed by the operator (allowed: {allowed}; "
        "SCOUTLY_SCRAPE_ALLOWED_IMAGES)"
    )


@dataclass
class JobView:
    """What the controller needs to know of one of its Jobs."""

    name: str
    namespace: str
    uid: str
    target: str  # namespace/name of the owning ScrapeTarget
    target_uid: str
    phase: JobPhase
    created: datetime | None
    scheduled: datetime | None
    start: datetime | None
    finish: datetime | None
    reason: str | None
    message: str | None
    attempts: int
    deleting: bool
    has_finalizer: bool
    manual_token: str | None
    finalizer_at: int = 0  # the index of ours in metadata.finalizers, as last seen (the release's patch)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def terminal(self) -> bool:
        return self.phase in (JobPhase.SUCCEEDED, JobPhase.FAILED)


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for c in status.get("conditions") or []:
        if c.get("type") == kind and c.get("status") == "True":
            return dict(c)
    return None


# waiting reasons a scrape container never leaves by itself: without a report the target would sit in
# Running until the Job's activeDeadlineSeconds (30 min by default)
BLOCKING_WAIT_REASONS = frozenset(
    {
        "CreateContainerConfigError",  # a missing Secret or key
        "CreateContainerError",
        "ErrImageNeverPull",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
    }
)


def pod_blocked(pod: dict[str, Any]) -> tuple[str, str] | None:
    """(job name, "Reason: kubelet's message") when the pod's scrape container is stuck before it
    starts; None otherwise (also for pods that are not a scrape Job's)."""
    job = ((pod.get("metadata") or {}).get("labels") or {}).get("job-name")
    if not job:
        return None
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if cs.get("name") == CONTAINER and waiting.get("reason") in BLOCKING_WAIT_REASONS:
            return job, f"{waiting['reason']}: {waiting.get('message') or 'no message'}"[:512]
    return None


def job_view(body: dict[str, Any]) -> JobView | None:
    """A view of a Job body, or None when it is not one of ours."""
    meta = body.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(LABEL_MANAGED_BY) != MANAGED_BY or LABEL_TARGET not in labels:
        return None
    owner = next(
        (o for o in meta.get("ownerReferences") or [] if o.get("kind") == m.KIND and o.get("controller")),
        None,
    )
    target_name = owner["name"] if owner else labels[LABEL_TARGET]
    status = body.get("status") or {}
    complete, failed = _condition(status, "Complete"), _condition(status, "Failed")
    finish: datetime | None = None
    reason = message = None
    if complete:
        phase = JobPhase.SUCCEEDED
        finish = parse_time(status.get("completionTime")) or parse_time(complete.get("lastTransitionTime"))
    elif failed:
        phase = JobPhase.FAILED
        finish = parse_time(failed.get("lastTransitionTime"))
        reason, message = failed.get("reason"), failed.get("message")
    elif (
        (status.get("ready") or 0) > 0
        or (status.get("succeeded") or 0) > 0
        or (status.get("failed") or 0) > 0
        or any((status.get("uncountedTerminatedPods") or {}).values())  # finished, not yet counted
    ):
        phase = JobPhase.RUNNING
    else:
        phase = JobPhase.PENDING
    ann = meta.get("annotations") or {}
    finalizers = meta.get("finalizers") or []
    return JobView(
        name=meta["name"],
        namespace=meta["namespace"],
        uid=meta.get("uid", ""),
        target=f"{meta['namespace']}/{target_name}",
        target_uid=owner["uid"] if owner else labels.get(LABEL_TARGET_UID, ""),
        phase=phase,
        created=parse_time(meta.get("creationTimestamp")),
        scheduled=parse_time(ann.get(ANN_SCHEDULED)),
        start=parse_time(status.get("startTime")),
        finish=finish,
        reason=reason,
        message=message,
        attempts=int(status.get("failed") or 0)
        + int(status.get("succeeded") or 0)
        + int(status.get("active") or 0),
        deleting=bool(meta.get("deletionTimestamp")),
        has_finalizer=FINALIZER in finalizers,
        manual_token=ann.get(ANN_MANUAL),
        finalizer_at=finalizers.index(FINALIZER) if FINALIZER in finalizers else 0,
    )
