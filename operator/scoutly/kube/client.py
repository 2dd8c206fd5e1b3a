"""The one place that talks to the Kubernetes API (besides kopf's own watches).

A thin JSON layer over the official client's asyncio ApiClient (`kubernetes.aio`): that client owns
kubeconfig / in-cluster loading, TLS and token refresh; we send and receive plain dicts so hot paths
(Job creation, status patches) skip the generated models' validation and (de)serialisation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from kubernetes.aio import client as aio_client
from kubernetes.aio import config as aio_config

JsonDict = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


_MAX_429_RETRIES = 5


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        seconds = float(str(header or ""))
        return min(max(seconds, 0.0), 10.0)
    except ValueError:
        return min(0.2 * 2.0**attempt, 5.0)


class ApiError(Exception):
    """A non-2xx answer from the API server, with its Status reason and message."""

    def __init__(self, status: int, reason: str, message: str, body: JsonDict | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"


def transient(e: BaseException) -> bool:
    """Worth retrying: the request may not have reached the server or its answer was lost (timeouts,
    resets, refused connections), or the server asked to come back (5xx, 429)."""
    if isinstance(e, ApiError):
        return e.status >= 500 or e.status == 429
    return isinstance(e, aiohttp.ClientError | OSError | TimeoutError)


def error_kind(e: BaseException) -> str:
    """A short, bounded label for metrics: what kind of failure this was."""
    if isinstance(e, ApiError):
        return f"http_{e.status // 100}xx"
    if isinstance(e, TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(e, aiohttp.ClientError | OSError):
        return "connection"
    return "other"


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_path: str | None
    insecure: bool
    token: str | None
    cert_path: str | None
    key_path: str | None


class KubeClient:
    """Async JSON client. Create with `await KubeClient.connect(...)`; close with `await close()`."""

    def __init__(self, api: aio_client.ApiClient, *, timeout: float = 30.0, max_in_flight: int = 100) -> None:
        self._api = api
        self._timeout = timeout
        # Callers queue here, not in aiohttp's connection pool, whose wait counts against the request
        # timeout: 10,000 status writes at start-up would otherwise time out while merely queued.
        self._slots = asyncio.Semaphore(max_in_flight)

    @classmethod
    async def connect(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        in_cluster: bool | None = None,
        pool_size: int = 100,
        user_agent: str = "scoutly-operator",
    ) -> KubeClient:
        """Load credentials: in-cluster when running in a pod (or asked), else the kubeconfig."""
        cfg = aio_client.Configuration()
        if in_cluster is None:
            import os

            in_cluster = kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
        if in_cluster:
            aio_config.load_incluster_config(client_configuration=cfg)
        else:
            await aio_config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=cfg
            )
        cfg.connection_pool_maxsize = pool_size
        api = aio_client.ApiClient(configuration=cfg)
        api.user_agent = user_agent
        return cls(api, max_in_flight=pool_size)

    async def close(self) -> None:
        await self._api.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def host(self) -> str:
        return str(self._api.configuration.host)

    async def credentials(self) -> Credentials:
        """The credentials this client loaded (kubeconfig or in-cluster), for kopf's own watches: one
        credential path for both. Read per call, so a rotated in-cluster token is picked up."""
        cfg = self._api.configuration
        token = await cfg.get_api_key_with_prefix("BearerToken")  # runs the in-cluster refresh hook
        if token and token.lower().startswith("bearer "):
            token = token[len("bearer ") :]
        return Credentials(
            server=str(cfg.host),
            ca_path=cfg.ssl_ca_cert or None,
            insecure=not cfg.verify_ssl,
            token=token or None,
            cert_path=cfg.cert_file or None,
            key_path=cfg.key_file or None,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> JsonDict:
        hdrs = {"Content-Type": content_type, "Accept": "application/json", **(headers or {})}
        if query:
            path = f"{path}?{urlencode({k: v for k, v in query.items() if v is not None})}"
        m, url, hdrs, _, _ = await self._api.param_serialize(
            method=method,
            resource_path=path,
            header_params=hdrs,
            auth_settings=["BearerToken"],
        )
        # the REST layer JSON-encodes the body for JSON and apply-patch+yaml types (JSON is YAML: server-side
        # apply accepts it); encoding it here too would send a JSON string instead of an object
        for attempt in range(_MAX_429_RETRIES + 1):
            async with self._slots:
                resp = await self._api.call_api(
                    m, url, header_params=hdrs, body=body, _request_timeout=self._timeout
                )
                raw = await resp.read()
            if resp.status != 429 or attempt == _MAX_429_RETRIES:
                break
            # like client-go: the server asks us to come back (APF, storage initialising): honour it
            await asyncio.sleep(_retry_after(resp.headers.get("Retry-After"), attempt))
        try:
            payload: Any = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"message": raw[:500].decode(errors="replace")}
        if not 200 <= resp.status < 300:
            if not isinstance(payload, dict):
                payload = {}
            raise ApiError(
                resp.status,
                str(payload.get("reason") or resp.reason),
                str(payload.get("message") or resp.reason),
                payload,
            )
        return payload if isinstance(payload, dict) else {"items": payload}

    # -- conveniences -----------------------------------------------------------------------------
    async def get(self, path: str, **query: Any) -> JsonDict:
        return await self.request("GET", path, query=query or None)

    async def list_all(self, path: str, *, page_size: int = 500, **query: Any) -> list[JsonDict]:
        """Every item of a collection, read in pages (a single unpaged LIST of thousands of objects is
        one huge response for the API server to build and for us to hold twice)."""
        items: list[JsonDict] = []
        cont: str | None = None
        while True:
            page = await self.get(path, limit=page_size, **({"continue": cont} if cont else {}), **query)
            items += page.get("items") or []
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return items

    async def create(self, path: str, body: JsonDict, **query: Any) -> JsonDict:
        return await self.request("POST", path, body=body, query=query or None)

    async def merge_patch(self, path: str, body: JsonDict, **query: Any) -> JsonDict:
        return await self.request("PATCH", path, body=body, query=query or None, content_type=MERGE_PATCH)

    async def json_patch(self, path: str, ops: list[JsonDict]) -> JsonDict:
        return await self.request("PATCH", path, body=ops, content_type=JSON_PATCH)

    async def apply(
        self, path: str, body: JsonDict, *, field_manager: str, force: bool = True, dry_run: bool = False
    ) -> JsonDict:
        query: dict[str, Any] = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        return await self.request("PATCH", path, body=body, query=query, content_type=APPLY_PATCH)

    async def delete(
        self, path: str, *, propagation: str | None = "Background", preconditions: JsonDict | None = None
    ) -> JsonDict:
        body: JsonDict = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            body["propagationPolicy"] = propagation
        if preconditions:
            body["preconditions"] = preconditions
        return await self.request("DELETE", path, body=body)


def ns_path(
    group_version: str,
    namespace: str | None,
    plural: str,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """REST path for a resource: core ('v1') or grouped ('batch/v1'), namespaced or cluster-wide."""
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    parts = [base]
    if namespace:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(plural)
    if name:
        parts.append(quote(name, safe=""))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)
