"""The outbox's retry schedule, on a fake clock: listed waits, then doubling to a cap, jitter, the horizon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callgate.webhooks.retry import RetrySchedule

T0 = datetime(2026, 12, 8, 1, 0, 0, tzinfo=UTC)


def test_the_listed_waits_come_first_then_each_doubles_up_to_the_cap():
    schedule = RetrySchedule(waits_s=(1.0, 5.0, 30.0), max_wait_s=300.0)
    assert [schedule.wait_s(n) for n in range(1, 10)] == [1, 5, 30, 60, 120, 240, 300, 300, 300]
    assert schedule.wait_s(10_000) == 300, "no overflow however many deliveries failed"


@pytest.mark.parametrize(("draw", "wait"), [(0.0, 15.0), (0.5, 22.5), (0.999999, 30.0)])
def test_each_wait_is_drawn_between_its_half_and_its_whole(draw, wait):
    schedule = RetrySchedule(waits_s=(1.0, 5.0, 30.0))
    due = schedule.next_due(deliveries=3, first_at=T0, now=T0 + timedelta(seconds=10), draw=draw)
    assert due is not None
    assert (due - (T0 + timedelta(seconds=10))).total_seconds() == pytest.approx(wait, abs=1e-3)


def test_deliveries_go_on_until_the_horizon_the_last_one_at_the_horizon():
    schedule = RetrySchedule(waits_s=(1.0,), max_wait_s=600.0, horizon_s=3600.0)
    horizon = T0 + timedelta(seconds=3600)
    now, deliveries = T0, 1
    # A receiver that never comes back: follow the schedule from the first delivery to its end.
    while (due := schedule.next_due(deliveries=deliveries, first_at=T0, now=now, draw=0.999)) is not None:
        assert now < due <= horizon
        now, deliveries = due, deliveries + 1
    assert now == horizon, "the last delivery is made at the horizon itself"
    assert deliveries > 10, "an hour of backoff capped at 10 minutes is many deliveries, not 3"


def test_an_outage_of_25_minutes_is_outlived_by_the_default_schedule():
    schedule = RetrySchedule()
    now, deliveries = T0, 1
    back = T0 + timedelta(minutes=25)
    while now < back:
        due = schedule.next_due(deliveries=deliveries, first_at=T0, now=now, draw=0.0)
        assert due is not None, f"given up after {deliveries} deliveries, {now - T0} into the outage"
        now, deliveries = due, deliveries + 1
    assert now - back <= timedelta(seconds=schedule.max_wait_s), "delivered within one capped wait"


def test_max_deliveries_gives_up_sooner():
    schedule = RetrySchedule(max_deliveries=3)
    assert schedule.next_due(deliveries=2, first_at=T0, now=T0, draw=0.5) is not None
    assert schedule.next_due(deliveries=3, first_at=T0, now=T0, draw=0.5) is None


def test_a_delivery_failing_after_the_horizon_gives_the_callback_up():
    schedule = RetrySchedule(horizon_s=60.0)
    assert schedule.next_due(deliveries=1, first_at=T0, now=T0 + timedelta(seconds=60), draw=0.5) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"waits_s": ()}, "must be positive"),
        ({"waits_s": (1.0, 0.0)}, "must be positive"),
        ({"max_wait_s": 0.0}, "must be positive"),
        ({"horizon_s": -1.0}, "cannot be negative"),
        ({"max_deliveries": 0}, "at least once"),
    ],
)
def test_a_schedule_that_cannot_work_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetrySchedule(**kwargs)
