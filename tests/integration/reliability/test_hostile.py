"""Hostile ScrapeTarget bodies against the real API server and a running controller: what is invalid is
rejected with a message; what is admitted never crashes the controller or blocks the other targets."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning

from scoutly import metrics
from scoutly.kube.client import ApiError, KubeClient, ns_path
from scoutly.testing.wait import eventually
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import ST, get_target, target_body
from tests.unit.test_hostile_specs import specs

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]

valid_ish = st.fixed_dictionaries(
    {
        "company": st.text(min_size=1, max_size=250),
        "source": st.fixed_dictionaries(
            {
                "url": st.one_of(
                    st.just("https://example.com/jobs"), st.text(max_size=80).map(lambda s: "https://" + s)
                )
            },
            optional={
                "type": st.sampled_from(["greenhouse", "lever", "html", "x"]),
                "board": st.text(max_size=40),
            },
        ),
    },
    optional={
        "rank": st.integers(-10, 200),
        "cooldown": st.sampled_from(["1s", "6h", "0s", "1h30m", "9999h", "x"]),
        "suspend": st.booleans(),
        "trackers": st.lists(
            st.fixed_dictionaries({"user": st.text(max_size=10), "rank": st.integers(-1, 101)}), max_size=3
        ),
        "jobTemplate": st.fixed_dictionaries(
            {},
            optional={
                "labels": st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=2),
                "activeDeadlineSeconds": st.integers(0, 100_000),
            },
        ),
    },
)


def examples(n: int) -> list[dict[str, Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        return [st.one_of(valid_ish, specs).example() for _ in range(n)]


async def test_hostile_bodies_are_rejected_or_handled(
    kube: KubeClient, namespace: str, start_operator: OperatorFactory
) -> None:
    errors_before = sum(
        s.value for s in metrics.reconcile_errors.collect()[0].samples if s.name.endswith("_total")
    )
    await start_operator(extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "100ms"}))
    path = ns_path(ST, namespace, "scrapetargets")
    admitted, rejected = [], 0
    for i, spec in enumerate(examples(80)):
        body = {"apiVersion": ST, "kind": "ScrapeTarget", "metadata": {"name": f"h-{i}"}, "spec": spec}
        try:
            await kube.create(path, body)
            admitted.append(f"h-{i}")
        except ApiError as e:
            assert e.status in (400, 422), (spec, e)  # never a server error
            assert e.message, spec
            rejected += 1
    # a well-formed target created after the storm is still served promptly
    await kube.create(path, target_body("control"))

    async def control_done() -> bool:
        return (await get_target(kube, namespace, "control")).get("status", {}).get("phase") == "Succeeded"

    await eventually(control_done, timeout=60, what="the control target scraped")

    async def all_handled() -> bool:
        for name in admitted:
            t = await get_target(kube, namespace, name)
            assert (t.get("status") or {}).get("observedGeneration") == t["metadata"]["generation"], name
        return True

    await eventually(all_handled, timeout=60, what="every admitted target observed")
    errors_after = sum(
        s.value for s in metrics.reconcile_errors.collect()[0].samples if s.name.endswith("_total")
    )
    assert errors_after == errors_before  # nothing blew up in a handler
    print(f"\nhostile bodies: {len(admitted)} admitted, {rejected} rejected")
    assert rejected > 0
