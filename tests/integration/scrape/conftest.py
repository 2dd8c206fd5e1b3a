"""Fixtures of the scrape integration tests."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.testing.env import LocalEnv


@pytest.fixture
def mongo_uri(local_env: LocalEnv, mongo_db: AsyncDatabase[dict[str, Any]]) -> str:
    """The URI of this test's database on the session's MongoDB-protocol server."""
    base = os.environ.get("SCOUTLY_TEST_MONGODB_URI") or local_env.mongo_uri
    return f"{base.rstrip('/')}/{mongo_db.name}"
