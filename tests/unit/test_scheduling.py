"""The scheduling core, including the seed's own cases by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scoutly.scheduling.due import History, dispatch_key, due_time, job_name, should_dispatch
from scoutly.scheduling.policy import (
    DEFAULT_TIERS,
    CooldownTiers,
    cooldown_for,
    effective_rank,
    failure_backoff,
    format_duration,
    jitter_offset,
    parse_duration,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=30)
H = timedelta(hours=1)


def is_queued(*, rank: int, scraped_ago: timedelta | None, job_pending: bool = False) -> bool:
    cooldown = cooldown_for(rank=rank)
    history = History(created=CREATED, last_success=None if scraped_ago is None else NOW - scraped_ago)
    due = due_time(
        history=history,
        cooldown=cooldown,
        backoff_base=timedelta(minutes=5),
        jitter_window=timedelta(0),
        key="t",
    )
    return should_dispatch(now=NOW, due=due, active=job_pending, suspended=False)


def test_queue_a_rank_95_company_scraped_13h_ago() -> None:
    assert is_queued(rank=95, scraped_ago=13 * H)


def test_do_not_queue_a_rank_95_company_scraped_2h_ago() -> None:
    assert not is_queued(rank=95, scraped_ago=2 * H)


def test_queue_a_rank_55_company_scraped_8_days_ago() -> None:
    assert is_queued(rank=55, scraped_ago=timedelta(days=8))


def test_do_not_queue_when_a_job_is_already_pending_for_that_company() -> None:
    assert not is_queued(rank=95, scraped_ago=13 * H, job_pending=True)
    assert not is_queued(rank=10, scraped_ago=None, job_pending=True)


def test_never_scraped_target_is_due_now() -> None:
    assert is_queued(rank=0, scraped_ago=None)
    assert (
        due_time(history=History(created=CREATED), cooldown=H, backoff_base=H, jitter_window=H, key="k")
        == CREATED
    )


@pytest.mark.parametrize(
    ("rank", "expected"),
    [
        (100, 12 * H),
        (95, 12 * H),
        (94, 24 * H),
        (85, 24 * H),
        (84, 48 * H),
        (70, 48 * H),
        (69, 7 * 24 * H),
        (50, 7 * 24 * H),
        (49, 14 * 24 * H),
        (0, 14 * 24 * H),
    ],
)
def test_tier_boundaries(rank: int, expected: timedelta) -> None:
    assert cooldown_for(rank=rank) == expected


@pytest.mark.parametrize(
    ("rank", "cooldown"), [(95, 12 * H), (85, 24 * H), (70, 48 * H), (50, 168 * H), (0, 336 * H)]
)
def test_due_strictly_after_the_end_of_each_tier(rank: int, cooldown: timedelta) -> None:
    """The seed's boundary: `hoursSinceLastScrape > cooldownHours`, so exactly one cooldown is not due."""
    second = timedelta(seconds=1)
    assert not is_queued(rank=rank, scraped_ago=cooldown - second)
    assert not is_queued(rank=rank, scraped_ago=cooldown)
    assert is_queued(rank=rank, scraped_ago=cooldown + timedelta(microseconds=1))
    assert is_queued(rank=rank, scraped_ago=cooldown + second)


def test_override_beats_the_tiers() -> None:
    assert cooldown_for(rank=99, override=6 * H) == 6 * H


def test_tiers_are_configurable() -> None:
    tiers = CooldownTiers.parse("90=1h, 10=2h, 0=3h")
    assert [cooldown_for(rank=r, tiers=tiers) for r in (95, 90, 50, 10, 9)] == [H, H, 2 * H, 2 * H, 3 * H]
    assert CooldownTiers.parse("95=12h,85=24h,70=48h,50=168h,0=336h") == DEFAULT_TIERS
    with pytest.raises(ValueError, match="floor"):
        CooldownTiers.parse("95=12h")
    with pytest.raises(ValueError, match="RANK=DURATION"):
        CooldownTiers.parse("high=12h,0=1h")


def test_effective_rank_is_the_max_of_trackers() -> None:
    assert effective_rank(rank=40, tracker_ranks=[10, 96, 50]) == 96
    assert effective_rank(rank=40) == 40


def test_failure_backoff_is_exponential_and_capped() -> None:
    base, cap = timedelta(minutes=5), 12 * H
    assert [failure_backoff(consecutive_failures=n, base=base, cap=cap) for n in range(5)] == [
        timedelta(0),
        base,
        2 * base,
        4 * base,
        8 * base,
    ]
    assert failure_backoff(consecutive_failures=60, base=base, cap=cap) == cap


def test_after_a_failure_retry_with_backoff_not_on_the_next_tick() -> None:
    failed_at = NOW - timedelta(minutes=3)
    history = History(
        created=CREATED, last_success=NOW - 20 * H, last_failure=failed_at, consecutive_failures=1
    )
    due = due_time(
        history=history, cooldown=12 * H, backoff_base=timedelta(minutes=5), jitter_window=H, key="k"
    )
    assert due == failed_at + timedelta(minutes=5)
    assert not should_dispatch(now=NOW, due=due, active=False, suspended=False)
    assert not should_dispatch(now=failed_at + timedelta(minutes=5), due=due, active=False, suspended=False)
    assert should_dispatch(
        now=failed_at + timedelta(minutes=5, seconds=1), due=due, active=False, suspended=False
    )


def test_long_downtime_gives_one_catch_up_run() -> None:
    history = History(created=CREATED, last_success=NOW - timedelta(days=300))
    due = due_time(history=history, cooldown=12 * H, backoff_base=H, jitter_window=timedelta(0), key="k")
    # one due time in the past, not 600 missed slots: the run that happens moves last_success to now
    assert due == NOW - timedelta(days=300) + 12 * H
    after = History(created=CREATED, last_success=NOW)
    assert due_time(history=after, cooldown=12 * H, backoff_base=H, jitter_window=timedelta(0), key="k") > NOW


def test_suspended_is_never_dispatched_and_manual_trigger_is() -> None:
    assert not should_dispatch(now=NOW, due=NOW - H, active=False, suspended=True)
    assert should_dispatch(now=NOW, due=NOW + 100 * H, active=False, suspended=False, manual_pending=True)
    assert not should_dispatch(now=NOW, due=NOW + H, active=True, suspended=False, manual_pending=True)


def test_jitter_is_stable_and_inside_the_window() -> None:
    window = timedelta(minutes=30)
    offsets = [jitter_offset(key=f"ns/t{i}", window=window) for i in range(200)]
    assert all(timedelta(0) <= o < window for o in offsets)
    assert len(set(offsets)) > 150  # spread out
    assert offsets == [jitter_offset(key=f"ns/t{i}", window=window) for i in range(200)]
    assert jitter_offset(key="x", window=timedelta(0)) == timedelta(0)


def test_ordering_when_capped_rank_then_overdue() -> None:
    targets = {"low-old": (10, NOW - 100 * H), "high-new": (99, NOW - H), "high-old": (99, NOW - 5 * H)}
    order = sorted(targets, key=lambda k: dispatch_key(rank=targets[k][0], due=targets[k][1]))
    assert order == ["high-old", "high-new", "low-old"]


def test_durations_round_trip_and_reject_garbage() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("500ms") == timedelta(milliseconds=500)
    assert parse_duration("168h") == timedelta(days=7)
    assert format_duration(timedelta(days=7)) == "168h"
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    for bad in ("", "7d", "h", "1h 30m", "-1h", "12"):
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)


def test_job_names_are_idempotent_valid_and_bounded() -> None:
    slot = datetime(2026, 11, 22, 12, 0, 30, tzinfo=UTC)
    a = job_name(target="acme", slot=slot)
    assert a == f"acme-{int(slot.timestamp())}"
    assert job_name(target="acme", slot=slot + timedelta(microseconds=20)) == a  # same second, same slot
    assert job_name(target="acme", slot=slot + timedelta(seconds=1)) != a
    long = job_name(target="x" * 250, slot=slot)
    assert len(long) <= 63
    assert long != job_name(target="x" * 249 + "y", slot=slot)
    m1, m2 = job_name(target="acme", manual_token="t1"), job_name(target="acme", manual_token="t2")
    assert m1 != m2
    assert m1.startswith("acme-m")


def test_overdue_counts_a_target_that_always_fails() -> None:
    """Backoff keeps moving a failing target's due time forward; overdue is measured from its last
    success, so a target failing for two cooldowns is overdue although it is never 'past due'."""
    from scoutly.scheduling.due import overdue

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    cooldown = timedelta(hours=12)
    failing = History(
        created=t0 - timedelta(days=30),
        last_success=t0,
        last_failure=t0 + timedelta(hours=24, minutes=50),
        consecutive_failures=9,
    )
    now = t0 + timedelta(hours=25)
    due = due_time(
        history=failing,
        cooldown=cooldown,
        backoff_base=timedelta(minutes=5),
        jitter_window=timedelta(0),
        key="k",
    )
    assert due > now  # the old measure (now - due > cooldown) could never see it
    assert overdue(history=failing, cooldown=cooldown, now=now)
    assert not overdue(history=failing, cooldown=cooldown, now=t0 + timedelta(hours=23))
    # never scraped: from creation
    new = History(created=t0)
    assert not overdue(history=new, cooldown=cooldown, now=t0 + timedelta(hours=24))
    assert overdue(history=new, cooldown=cooldown, now=t0 + timedelta(hours=24, seconds=1))
