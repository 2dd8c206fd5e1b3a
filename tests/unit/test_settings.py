"""Operator settings are typed and checked once, at start-up: a bad value stops `scoutly operator run`
with exit code 2 and the variable's name, instead of failing later (at the first dispatch)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from pydantic import ValidationError

from scoutly.config import OperatorSettings
from scoutly.units import CooldownTiers


def test_environment_values_arrive_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOUTLY_NAMESPACES", " team-a, team-b ,,")
    monkeypatch.setenv("SCOUTLY_BACKOFF_BASE", "1h30m")
    monkeypatch.setenv("SCOUTLY_LEASE_DURATION", "20s")
    monkeypatch.setenv("SCOUTLY_EXTRA_POD_ANNOTATIONS", '{"example.com/a": "1"}')
    monkeypatch.setenv("SCOUTLY_COOLDOWN_TIERS", "90=6h,0=48h")
    s = OperatorSettings()
    assert s.namespaces == ["team-a", "team-b"]
    assert s.backoff_base == timedelta(hours=1, minutes=30)
    assert s.lease_duration == timedelta(seconds=20)
    assert s.extra_pod_annotations == {"example.com/a": "1"}
    assert s.cooldown_tiers == CooldownTiers(tiers=((90, timedelta(hours=6)),), floor=timedelta(hours=48))
    assert str(s.cooldown_tiers) == "90=6h,0=48h"


def test_scrape_job_knobs_arrive_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOUTLY_SCRAPE_LABELS", '{"kueue.x-k8s.io/queue-name": "scrapes"}')
    monkeypatch.setenv("SCOUTLY_SCRAPE_NODE_SELECTOR", '{"pool": "scrape"}')
    monkeypatch.setenv("SCOUTLY_SCRAPE_TOLERATIONS", '[{"key": "scrape", "operator": "Exists"}]')
    monkeypatch.setenv(
        "SCOUTLY_SCRAPE_SETTINGS", '{"scrape_rate_per_host": 2, "scrape_respect_robots": false}'
    )
    s = OperatorSettings()
    assert s.scrape_labels == {"kueue.x-k8s.io/queue-name": "scrapes"}
    assert s.scrape_node_selector == {"pool": "scrape"}
    assert s.scrape_tolerations == [{"key": "scrape", "operator": "Exists"}]
    # the Job's env values, converted once: a bool the way the scrape parses it back
    assert s.scrape_settings == {"scrape_rate_per_host": "2", "scrape_respect_robots": "false"}
    assert s.scrape_env == [("SCOUTLY_SCRAPE_RATE_PER_HOST", "2"), ("SCOUTLY_SCRAPE_RESPECT_ROBOTS", "false")]


def test_defaults_are_typed_too() -> None:
    s = OperatorSettings()
    assert s.namespaces == [] and s.extra_pod_annotations == {}
    assert s.scrape_labels == {} and s.scrape_node_selector == {} and s.scrape_tolerations == []
    assert s.scrape_settings == {} and s.scrape_env == []
    assert s.backoff_base == timedelta(minutes=5) and s.sync_interval == timedelta(0)
    assert str(s.cooldown_tiers) == "95=12h,85=24h,70=48h,50=168h,0=336h"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("SCOUTLY_EXTRA_POD_ANNOTATIONS", "{not json", "not a JSON object"),
        ("SCOUTLY_EXTRA_POD_ANNOTATIONS", "[1, 2]", "not a JSON object"),
        ("SCOUTLY_EXTRA_POD_ANNOTATIONS", '{"a": 1}', "string"),
        ("SCOUTLY_SCRAPE_LABELS", "{oops", "not a JSON object"),
        ("SCOUTLY_SCRAPE_LABELS", '{"team": 1}', "string"),
        ("SCOUTLY_SCRAPE_NODE_SELECTOR", '["pool"]', "not a JSON object"),
        ("SCOUTLY_SCRAPE_TOLERATIONS", '{"key": "scrape"}', "not a JSON list"),
        ("SCOUTLY_SCRAPE_TOLERATIONS", '["scrape"]', "dictionary"),
        ("SCOUTLY_SCRAPE_SETTINGS", '{"scrape_rate_per_hots": 2}', "unknown scrape settings"),
        ("SCOUTLY_SCRAPE_SETTINGS", '{"scrape_rate_per_host": -1}', "greater than 0"),
        ("SCOUTLY_SCRAPE_SETTINGS", "[]", "not a JSON object"),
        ("SCOUTLY_BACKOFF_BASE", "5 minutes", "invalid duration"),
        ("SCOUTLY_COOLDOWN_TIERS", "95=12h", "floor"),
    ],
)
def test_a_bad_value_is_refused_at_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as e:
        OperatorSettings()
    text = str(e.value)
    assert variable.removeprefix("SCOUTLY_").lower() in text and says in text


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SCOUTLY_EXTRA_POD_ANNOTATIONS", "{oops"), ("SCOUTLY_SCRAPE_TOLERATIONS", "{oops")],
)
def test_operator_run_exits_2_before_connecting_anywhere(variable: str, value: str) -> None:
    env = {**os.environ, variable: value, "SCOUTLY_KUBECONFIG": "/nonexistent"}
    proc = subprocess.run(
        [sys.executable, "-m", "scoutly.cli", "operator", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert variable.removeprefix("SCOUTLY_").lower() in proc.stderr and "not a JSON" in proc.stderr
