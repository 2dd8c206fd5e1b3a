"""Tests on a database shaped like the app's reuse the controller tests' fixtures: the ScrapeTarget CRD
and an in-loop operator."""

from __future__ import annotations

from tests.integration.controller.conftest import crd, start_operator

__all__ = ["crd", "start_operator"]
