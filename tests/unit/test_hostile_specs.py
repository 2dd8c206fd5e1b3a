"""Property: whatever body the API server might deliver, the controller's pure layers never raise."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoutly.controller.state import Policy, target_view
from scoutly.controller.status import desired_status
from scoutly.scheduling.policy import DEFAULT_TIERS, parse_duration

NOW = datetime(2026, 11, 22, tzinfo=UTC)
POLICY = Policy(tiers=DEFAULT_TIERS, backoff_base=parse_duration("5m"), jitter=parse_duration("10m"))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True),
    st.text(max_size=300),
    st.text(min_size=5000, max_size=6000),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=20), inner, max_size=4)
    ),
    max_leaves=20,
)
specs = st.fixed_dictionaries(
    {},
    optional={
        "company": json_values,
        "companyId": json_values,
        "rank": json_values,
        "cooldown": json_values,
        "suspend": json_values,
        "trackers": json_values,
        "jobTemplate": json_values,
        "source": st.one_of(
            json_values,
            st.fixed_dictionaries({"url": json_values}, optional={"type": json_values, "board": json_values}),
        ),
        "unknownField": json_values,
    },
)
statuses = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "lastSuccessfulScrape": json_values,
            "lastFailureTime": json_values,
            "consecutiveFailures": st.integers(0, 10**6),
            "lastJob": st.one_of(
                st.none(),
                st.fixed_dictionaries({"name": st.text(max_size=30)}, optional={"finish": json_values}),
            ),
            "conditions": st.lists(
                st.fixed_dictionaries({"type": st.text(max_size=10), "status": st.text(max_size=5)}),
                max_size=3,
            ),
        },
    ),
)


def body(spec: Any, status: Any, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "t",
            "namespace": "ns",
            "uid": "u1",
            "generation": 3,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": annotations,
        },
        "spec": spec,
        "status": status,
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs, status=statuses, token=st.text(max_size=300))
def test_any_body_gives_a_view_and_a_status(spec: dict[str, Any], status: Any, token: str) -> None:
    view = target_view(body(spec, status, {"scoutly.io/scrape-now": token}), None)
    assert (view.spec is None) != (view.spec_error is None)
    try:
        out = desired_status(view, POLICY, NOW)
    except (TypeError, ValueError, OverflowError) as e:  # pragma: no cover - the property under test
        raise AssertionError(f"desired_status raised {e!r}") from e
    assert out["observedGeneration"] == 3
    if view.spec is None:
        assert out["phase"] == "Failed"
        assert view.spec_error and view.spec_error.startswith("spec.")
