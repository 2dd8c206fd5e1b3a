"""Build the ScrapeTarget CustomResourceDefinition from the pydantic models (pure).

The JSON schema pydantic emits is rewritten into a Kubernetes structural schema: $refs inlined,
Optional[X] collapsed to X, titles dropped, `extra=forbid` left to the API server's pruning and strict
field validation (structural schemas may not say additionalProperties: false). Rules that span fields
are CEL (x-kubernetes-validations) with messages that name the field.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from scoutly.api import models as m

JsonSchema = dict[str, Any]

SPEC_RULES: list[dict[str, str]] = [
    {
        "rule": "!has(self.cooldown) || duration(self.cooldown) >= duration('1s')"
        " && duration(self.cooldown) <= duration('2160h')",
        "message": "spec.cooldown must be between 1s and 2160h (90 days)",
        "fieldPath": ".cooldown",
    },
    {
        "rule": "!has(self.cooldown) || !has(self.jobTemplate) || !has(self.jobTemplate.activeDeadlineSeconds)"
        " || self.jobTemplate.activeDeadlineSeconds <= duration(self.cooldown).getSeconds()",
        "message": "spec.jobTemplate.activeDeadlineSeconds must not exceed spec.cooldown",
        "fieldPath": ".jobTemplate.activeDeadlineSeconds",
    },
]
SOURCE_RULES: list[dict[str, str]] = [
    {
        "rule": "!has(self.board) || has(self.type)",
        "message": "spec.source.board needs spec.source.type: a board token alone does not say which job board",
        "fieldPath": ".board",
    },
]

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Company", "type": "string", "jsonPath": ".spec.company"},
    {"name": "Rank", "type": "integer", "jsonPath": ".spec.rank"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Last Scrape", "type": "date", "jsonPath": ".status.lastSuccessfulScrape"},
    # a string, not a date: kubectl renders dates as an age, and a future time as <invalid>
    {"name": "Next Scrape", "type": "string", "jsonPath": ".status.nextScrapeTime"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Cooldown", "type": "string", "jsonPath": ".status.cooldown", "priority": 1},
    {"name": "Failures", "type": "integer", "jsonPath": ".status.consecutiveFailures", "priority": 1},
]


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].split("/")[-1]]
        merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(options) == 1:
            return _structural({**options[0], **rest}, defs)
        if sorted(o.get("type", "") for o in options) == ["integer", "string"]:
            return _structural({**rest, "x-kubernetes-int-or-string": True}, defs)
        return {**_structural(rest, defs), "anyOf": _structural(options, defs)}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key == "default" and (value is None or value == [] or value == {}):
            continue
        if key == "additionalProperties" and value is False:
            continue
        if key == "propertyNames":
            continue  # not in structural schemas: keys are checked by the controller's models
        if key == "patternProperties":
            (only,) = value.values()
            out["additionalProperties"] = _structural(only, defs)
            continue
        if key == "properties":
            out[key] = {k: _structural(v, defs) for k, v in value.items()}
        elif key == "pattern":
            out[key] = value.replace("µs|", "")  # ECMA regex in the API server: keep it ASCII
        else:
            out[key] = _structural(value, defs)
    return out


def _schema(model: type[BaseModel]) -> JsonSchema:
    raw = model.model_json_schema(mode="serialization")
    schema: JsonSchema = _structural(raw, raw.get("$defs", {}))
    return schema


# One rule per quantity field: int-or-string like core/v1 ResourceList, checked with the Kubernetes
# quantity library (a Job with a malformed quantity would fail every create). Kubernetes reads "." as
# zero; a digit is required here, so a typo is not a zero request.
QUANTITY_SCHEMA: JsonSchema = {
    "x-kubernetes-int-or-string": True,
    "x-kubernetes-validations": [
        {
            "rule": "type(self) == int ? self >= 0 : self.matches('[0-9]') && isQuantity(self)"
            " && !quantity(self).isLessThan(quantity('0'))",
            "message": "must be a non-negative Kubernetes quantity with a digit, e.g. 100m, 0.5 or 512Mi",
        }
    ],
}
LABEL_RULES: list[dict[str, str]] = [
    {
        "rule": f"self.all(k, size(k) <= 317 && k.matches(r'{m.LABEL_KEY_CEL_PATTERN}'))",
        "message": "spec.jobTemplate.labels keys must be valid label keys ([prefix/]name, name at most 63 "
        "characters)",
    },
    {
        "rule": "self.all(k, "
        + " && ".join(f"!k.startsWith('{p}')" for p in m.RESERVED_LABEL_PREFIXES)
        + " && "
        + " && ".join(f"k != '{k}'" for k in m.RESERVED_LABEL_KEYS)
        + ")",
        "message": "spec.jobTemplate.labels may not set keys under scoutly.io/ or batch.kubernetes.io/, nor "
        "job-name, controller-uid or app.kubernetes.io/managed-by: the operator and the Job controller own "
        "them",
    },
]


def _resources(resources: JsonSchema) -> None:
    for side in ("requests", "limits"):
        for field in ("cpu", "memory"):
            node = resources["properties"][side]["properties"][field]
            assert node.get("x-kubernetes-int-or-string"), node
            node.update(copy.deepcopy(QUANTITY_SCHEMA))


def spec_schema() -> JsonSchema:
    spec = _schema(m.ScrapeTargetSpec)
    job_template = spec["properties"]["jobTemplate"]
    _resources(job_template["properties"]["resources"])
    labels = job_template["properties"]["labels"]
    labels["x-kubernetes-validations"] = LABEL_RULES
    spec["x-kubernetes-validations"] = SPEC_RULES
    spec["properties"]["source"]["x-kubernetes-validations"] = SOURCE_RULES
    trackers = spec["properties"]["trackers"]
    trackers["x-kubernetes-list-type"] = "map"  # one entry per user, enforced by the API server
    trackers["x-kubernetes-list-map-keys"] = ["user"]
    return spec


def status_schema() -> JsonSchema:
    status = _schema(m.ScrapeTargetStatus)
    status.pop("required", None)
    return status


def build_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{m.PLURAL}.{m.GROUP}"},
        "spec": {
            "group": m.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": m.KIND,
                "plural": m.PLURAL,
                "singular": m.SINGULAR,
                "shortNames": m.SHORT_NAMES,
                "listKind": f"{m.KIND}List",
                "categories": ["scoutly"],
            },
            "versions": [
                {
                    "name": m.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A company whose job postings Scoutly scrapes on a rank-based cooldown.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema(),
                                "status": status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


HEADER = "# Generated from operator/scoutly/api/models.py by `make manifests`: do not edit.\n"


def render_yaml() -> str:
    import yaml

    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=120)


def render_chart_template() -> str:
    """The CRD as a chart template: toggled by crds.enabled, kept on uninstall with crds.keep."""
    import yaml

    crd = build_crd()
    body = yaml.safe_dump(crd, sort_keys=False, width=120)
    meta_line = "metadata:\n  name: scrapetargets.scoutly.io\n"
    assert meta_line in body
    templated = body.replace(
        meta_line,
        meta_line
        + '  labels:\n    {{- include "scoutly-operator.labels" . | nindent 4 }}\n'
        + "  {{- if .Values.crds.keep }}\n  annotations:\n    helm.sh/resource-policy: keep\n  {{- end }}\n",
    )
    return HEADER + "{{- if .Values.crds.enabled }}\n" + templated + "{{- end }}\n"
