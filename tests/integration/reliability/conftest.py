from tests.integration.controller.conftest import crd, start_operator  # noqa: F401 - shared fixtures
