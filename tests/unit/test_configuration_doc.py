"""Every setting is documented: docs/configuration.md is generated from the models and must be current."""

from __future__ import annotations

from pathlib import Path

from scoutly.config import OperatorSettings
from scoutly.settings_doc import render

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_doc_is_current() -> None:
    assert (ROOT / "docs/configuration.md").read_text() == render(), "run `make docs`"


def test_every_setting_has_a_description() -> None:
    missing = [n for n, f in OperatorSettings.model_fields.items() if not f.description]
    assert missing == []
