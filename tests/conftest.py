"""Session fixtures: one real control plane + FerretDB per test session; a fresh namespace and database
per test. Unit tests use none of these, so `pytest tests/unit` needs no binaries."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.kube.client import ApiError, KubeClient
from scoutly.testing.env import LocalEnv


@pytest.fixture(scope="session")
def local_env() -> Iterator[LocalEnv]:
    keep = os.environ.get("SCOUTLY_KEEP_TESTENV")  # keep logs of a failed run for inspection
    tmp = Path(tempfile.mkdtemp(prefix="scoutly-testenv-"))
    env = LocalEnv(workdir=tmp).start()
    try:
        yield env
    finally:
        env.stop()
        if not keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


@pytest_asyncio.fixture(scope="session")
async def kube(local_env: LocalEnv) -> AsyncIterator[KubeClient]:
    client = await KubeClient.connect(kubeconfig=str(local_env.kubeconfig))
    yield client
    await client.close()


def _slug(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].rstrip("-")


@pytest_asyncio.fixture
async def namespace(kube: KubeClient, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    name = f"t-{_slug(request)}-{secrets.token_hex(3)}"
    await kube.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    yield name
    try:
        await kube.delete(f"/api/v1/namespaces/{name}")
    except ApiError as e:
        if not e.not_found:
            raise


@pytest_asyncio.fixture(scope="session")
async def mongo_client(local_env: LocalEnv) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        os.environ.get("SCOUTLY_TEST_MONGODB_URI") or local_env.mongo_uri,
        serverSelectionTimeoutMS=10_000,
        tz_aware=True,
    )
    yield client
    await client.close()


@pytest_asyncio.fixture
async def mongo_db(
    mongo_client: AsyncMongoClient[dict[str, object]], request: pytest.FixtureRequest
) -> AsyncIterator[AsyncDatabase[dict[str, object]]]:
    name = f"t_{_slug(request).replace('-', '_')[:30]}_{secrets.token_hex(3)}"
    db = mongo_client[name]
    yield db
    await mongo_client.drop_database(name)


@pytest_asyncio.fixture
async def private_mongo(
    local_env: LocalEnv, tmp_path: Path
) -> AsyncIterator[tuple[LocalEnv, AsyncDatabase[dict[str, object]]]]:
    """A FerretDB of this test's own, for tests that stop and restart MongoDB: the session's instance
    serves every other test and is never interrupted."""
    env = LocalEnv(workdir=tmp_path / "private-mongo", bin_dir=local_env.bin_dir)
    env.workdir.mkdir(parents=True)
    env._start_ferretdb()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        env.mongo_uri, serverSelectionTimeoutMS=10_000, tz_aware=True
    )
    try:
        yield env, client["scoutly_private"]
    finally:
        await client.close()
        env.stop()
