"""The controller tests' fixtures (CRD, in-process operator), reused."""

from tests.integration.controller.conftest import crd, start_operator

__all__ = ["crd", "start_operator"]
