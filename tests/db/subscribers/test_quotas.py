"""The fixed-window quota counters on real Postgres (rolled back): UTC-aligned windows that
roll over to a fresh count, the day window giving the hour unit back, and a zero budget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.subscribers import quotas
from tests.fixtures.factories.mentions import NOW, Gate, new_author, user_of
from tests.fixtures.factories.subscribers import force_policy, units_used


@pytest.fixture()
def s(db: sessionmaker[Session]) -> Iterator[Session]:
    """One session inside the test's rolled-back transaction."""
    with db() as session:
        yield session


def test_windows_are_aligned_to_utc() -> None:
    assert quotas.window_start(datetime(2031, 3, 10, 10, 59, 59, 999999, UTC), quotas.HOUR) == (
        datetime(2031, 3, 10, 10, tzinfo=UTC)
    )
    assert quotas.window_start(datetime(2031, 3, 10, 11, tzinfo=UTC), quotas.HOUR) == (
        datetime(2031, 3, 10, 11, tzinfo=UTC)
    )
    # A day is midnight to midnight UTC, whatever zone the clock value carries.
    tokyo = timezone(timedelta(hours=9))
    assert quotas.window_start(datetime(2031, 3, 11, 8, 59, tzinfo=tokyo), quotas.DAY) == (
        datetime(2031, 3, 10, tzinfo=UTC)
    )
    assert quotas.window_start(datetime(2031, 3, 11, 9, 0, tzinfo=tokyo), quotas.DAY) == (
        datetime(2031, 3, 11, tzinfo=UTC)
    )


def test_hour_window_rolls_over_to_a_fresh_count(s: Session) -> None:
    force_policy(s, "premium", replies_per_hour=2, replies_per_day=100)
    gate, prem = Gate(s), new_author("Premium")
    end = datetime(2031, 3, 10, 10, 59, 59, 500000, UTC)
    assert gate.decisions(prem, [end, end, end]) == ["accepted", "accepted", "quota_hour"]
    uid = user_of(s, prem).id
    assert (units_used(s, uid, "hour", end), units_used(s, uid, "day", end)) == (2, 2)
    start = datetime(2031, 3, 10, 11, tzinfo=UTC)
    assert units_used(s, uid, "hour", start) == 0
    assert gate.decisions(prem, [start, start, start]) == ["accepted", "accepted", "quota_hour"]
    assert (units_used(s, uid, "hour", start), units_used(s, uid, "hour", end)) == (2, 2)
    assert units_used(s, uid, "day", start) == 4


def test_day_window_rolls_over_and_quota_day_gives_the_hour_unit_back(s: Session) -> None:
    force_policy(s, "premium", replies_per_hour=100, replies_per_day=2)
    gate, prem = Gate(s), new_author("Premium")
    end = datetime(2031, 3, 10, 23, 59, 59, tzinfo=UTC)
    assert gate.decisions(prem, [end - timedelta(hours=3), end, end]) == [
        "accepted",
        "accepted",
        "quota_day",
    ]
    uid = user_of(s, prem).id
    assert units_used(s, uid, "day", end) == 2
    assert units_used(s, uid, "hour", end) == 1  # the refused mention's hour unit went back
    midnight = datetime(2031, 3, 11, tzinfo=UTC)
    assert units_used(s, uid, "day", midnight) == 0
    assert gate.decisions(prem, [midnight] * 3) == ["accepted", "accepted", "quota_day"]
    assert (units_used(s, uid, "day", midnight), units_used(s, uid, "hour", midnight)) == (2, 2)


def test_take_with_no_budget_hands_out_nothing(s: Session) -> None:
    assert not quotas.take(s, "test:zero", quotas.HOUR, 0, NOW)
    assert quotas.take(s, "test:one", quotas.HOUR, 1, NOW)
    assert not quotas.take(s, "test:one", quotas.HOUR, 1, NOW)
    quotas.give_back(s, "test:one", quotas.HOUR, NOW)
    quotas.give_back(s, "test:one", quotas.HOUR, NOW)  # never below zero
    assert quotas.used(s, "test:one", quotas.HOUR, NOW) == 0
