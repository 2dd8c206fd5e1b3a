"""Chart tests reuse the controller tests' fixtures: the CRD installed once and the in-process operator."""

from tests.integration.controller.conftest import crd, start_operator

__all__ = ["crd", "start_operator"]
