"""The alert rules under `promtool test rules` (tests/rules/alerts_test.yaml): each alert fires on a
history with its labels and rendered annotations, and stays silent on others. Needs promtool
(`make testenv`)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scoutly.testing import prometheus

HERE = Path(__file__).resolve().parent
RULES = HERE.parents[1] / "charts/scoutly-operator/rules/alerts.yaml"
TESTS = HERE / "alerts_test.yaml"


@pytest.fixture(scope="module")
def promtool() -> str:
    return str(prometheus.locate() / "promtool")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=HERE)


def test_rule_file_is_valid(promtool: str) -> None:
    r = run(promtool, "check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_rule_tests_pass(promtool: str) -> None:
    r = run(promtool, "test", "rules", str(TESTS))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    fires: set[str] = set()
    silent: set[str] = set()
    cases: list[dict[str, Any]] = yaml.safe_load(TESTS.read_text())["tests"]
    for case in cases:
        for check in case.get("alert_rule_test", []):
            expected = check.get("exp_alerts") or []
            (fires if expected else silent).add(check["alertname"])
            for alert in expected:  # rendered, not just present: every annotation is pinned
                assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}
                assert {"namespace", "job", "severity"} <= set(alert["exp_labels"])
    assert alerts - fires == set(), "alerts without a firing test"
    assert alerts - silent == set(), "alerts without a silent test"
