"""Generated files match their source, and the samples are valid ScrapeTargets."""

from __future__ import annotations

from pathlib import Path

import yaml

from scoutly.api.crd import render_chart_template, render_yaml
from scoutly.api.models import parse_spec

ROOT = Path(__file__).resolve().parents[2]


def test_crd_manifest_is_generated_from_the_models() -> None:
    assert (ROOT / "manifests/crd/scoutly.io_scrapetargets.yaml").read_text() == render_yaml(), (
        "manifests/ drifted from the models: run `make manifests`"
    )
    assert (ROOT / "charts/scoutly-operator/templates/crd.yaml").read_text() == render_chart_template(), (
        "the chart's CRD drifted from the models: run `make manifests`"
    )


def test_samples_are_valid() -> None:
    docs = [d for d in yaml.safe_load_all((ROOT / "manifests/samples/scrapetargets.yaml").read_text()) if d]
    assert len(docs) >= 3
    for doc in docs:
        assert doc["apiVersion"] == "scoutly.io/v1alpha1"
        parse_spec(doc["spec"])  # raises on anything the API or controller would refuse
