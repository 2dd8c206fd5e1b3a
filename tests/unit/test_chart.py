"""The chart's metadata, values and schema stay in sync (no binaries needed)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "scoutly-operator"


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def _declared(node: dict[str, Any]) -> bool:
    """A schema object whose keys the chart declares (as opposed to a free map or a Kubernetes type)."""
    return node.get("type") == "object" and "properties" in node


def test_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert chart["appVersion"] == version
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])


def test_schema_and_values_have_the_same_keys() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(v: Any, s: dict[str, Any], path: str) -> None:
        if not _declared(s):
            return
        assert s.get("additionalProperties") is False, f"{path or '/'}: additionalProperties must be false"
        assert isinstance(v, dict), path
        assert set(v) == set(s["properties"]), (
            f"{path or '/'}: values.yaml has {sorted(set(v) - set(s['properties']))} not in the schema, "
            f"the schema has {sorted(set(s['properties']) - set(v))} not in values.yaml"
        )
        for k, sub in s["properties"].items():
            walk(v[k], sub, f"{path}/{k}")

    walk(values, _schema(), "")


def test_every_value_is_commented() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    root = yaml.compose("\n".join(lines))
    assert isinstance(root, yaml.MappingNode)
    missing: list[str] = []

    def walk(node: yaml.MappingNode, s: dict[str, Any], path: str) -> None:
        for key, value in node.value:
            sub = s["properties"][key.value]
            if _declared(sub):
                assert isinstance(value, yaml.MappingNode)
                walk(value, sub, f"{path}.{key.value}")
                continue
            before = lines[key.start_mark.line - 1].strip() if key.start_mark.line else ""
            if not before.startswith("#"):
                missing.append(f"{path}.{key.value}")

    walk(root, _schema(), "")
    assert not missing, f"values without a comment right above them: {missing}"


def test_no_secret_value_in_the_defaults() -> None:
    text = (CHART / "values.yaml").read_text()
    assert not re.search(r"mongodb(\+srv)?://", text)
    assert not re.search(r"\bsk-[A-Za-z0-9]{8,}", text)
    values = yaml.safe_load(text)
    assert set(values["mongodb"]) == {"existingSecret", "secretKey", "database"}
    assert set(values["openai"]) == {"existingSecret", "secretKey", "baseUrl", "model", "dailyTokenBudget"}


def test_rbac_rules_in_the_helper_have_no_wildcard() -> None:
    tpl = (CHART / "templates/_helpers.tpl").read_text()
    block = tpl.split('{{- define "scoutly-operator.rules" -}}', 1)[1].split("{{- end }}", 1)[0]
    rules = yaml.safe_load(block)
    flat = {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    assert flat and not any("*" in part for t in flat for part in t)
    assert not any(r in {"secrets", "configmaps"} for _, r, _ in flat)


def test_shared_monitoring_files_are_valid() -> None:
    dashboard = json.loads((CHART / "dashboards/scoutly.json").read_text())
    assert dashboard["title"]
    groups = yaml.safe_load((CHART / "rules/alerts.yaml").read_text())["groups"]
    assert isinstance(groups, list)
    for g in groups:
        assert g["name"] and isinstance(g["rules"], list)
