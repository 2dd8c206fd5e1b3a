"""kopf's watch settings: what the API server filters and how kopf lists (docs/performance.md)."""

import kopf

from scoutly.controller.operator import JOB_SELECTOR, configure_kopf


def test_job_and_pod_watches_are_label_selected_by_the_api_server() -> None:
    settings = kopf.OperatorSettings()
    configure_kopf(settings)
    jobs = kopf.Resource("batch", "v1", "jobs")
    pods = kopf.Resource("", "v1", "pods")
    assert settings.watching.label_selectors.collect(jobs) == [JOB_SELECTOR]
    assert settings.watching.label_selectors.collect(pods) == [JOB_SELECTOR]


def test_the_initial_list_is_paged() -> None:
    settings = kopf.OperatorSettings()
    configure_kopf(settings)
    assert settings.watching.chunk_size == 500
