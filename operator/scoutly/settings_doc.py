"""Render docs/configuration.md from the settings models, so every knob is documented (`make docs`)."""

from __future__ import annotations

import json
from datetime import timedelta

from pydantic_settings import BaseSettings

from scoutly.config import OperatorSettings
from scoutly.units import format_duration


def _table(model: type[BaseSettings], prefix: str) -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, timedelta):
            default = format_duration(default)
        elif isinstance(default, list | dict) or default is None:
            default = (
                ",".join(default) if isinstance(default, list) else json.dumps(default) if default else ""
            )
        shown = "(unset)" if default == "" else f"`{default}`"
        rows.append(f"| `{prefix}{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


def render() -> str:
    return f"""# Configuration

Generated from `operator/scoutly/config.py` by `make docs`: do not edit by hand.

## Operator (`scoutly operator run`)

Environment variables (the Helm chart sets them from values). Secrets (the MongoDB URI) come from
Secret references, never from literal values.

{_table(OperatorSettings, "SCOUTLY_")}

Durations use Go syntax (`90s`, `5m`, `12h`, `168h`). `SCOUTLY_COOLDOWN_TIERS` lists `RANK=DURATION`
pairs; a target uses the first tier whose rank it reaches, `0=` is the floor. A target's own
`spec.cooldown` overrides its tier.

The scrape workload's settings (`scoutly scrape`) are documented in [scrape.md](scrape.md).
"""
