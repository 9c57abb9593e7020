"""Token usage reports on real Postgres (rolled back): replies and tokens per UTC day, per
tier and per user, every status that spent generation, day edges and the date range."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.replies import usage
from bot.replies.usage import Spent
from bot.vocab import Decision, ReplyStatus
from tests.fixtures.factories.mentions import add_mention, new_author, user_of
from tests.fixtures.factories.replies import add_reply, spent_reply

DAY1 = datetime(2031, 3, 10, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


@pytest.fixture()
def s(db: sessionmaker[Session]) -> Iterator[Session]:
    """One session inside the test's rolled-back transaction, its clock set to Tokyo: the
    days are UTC days whatever zone the database session is in."""
    with db() as session:
        session.execute(text("SET LOCAL TIME ZONE 'Asia/Tokyo'"))
        yield session


def _seed(s: Session) -> tuple[int, int]:
    """Two users' replies over two UTC days; returns (alice, bob) row ids."""
    alice = user_of(s, new_author("Premium", "alice")).id
    bob = user_of(s, new_author("PremiumPlus", "bob")).id
    # Day 1, first and last second: every status that spent generation counts.
    spent_reply(s, alice, DAY1, 100, 20)
    spent_reply(
        s,
        alice,
        DAY1 + timedelta(hours=23, minutes=59, seconds=59),
        50,
        5,
        status=ReplyStatus.REJECTED,
    )
    spent_reply(
        s, bob, DAY1 + timedelta(hours=5), 300, 30, tier="premium_plus", status=ReplyStatus.HELD
    )
    spent_reply(
        s, bob, DAY1 + timedelta(hours=6), 7, 3, tier="premium_plus", status=ReplyStatus.SHADOWED
    )
    # Day 2 starts at midnight UTC; alice was granted premium_plus in between.
    spent_reply(s, alice, DAY2, 1000, 100, tier="premium_plus", status=ReplyStatus.APPROVED)
    # An upsell is written without the model: no tokens, not a reply that spent generation.
    upsell = add_mention(s, bob, tier="none", decision=Decision.UPSELL, received_at=DAY1)
    add_reply(s, upsell.id, "subscribe!", model="upsell", created_at=DAY1)
    return alice, bob


def test_totals_by_tier_per_utc_day(s: Session) -> None:
    _seed(s)
    rows = [(r.day, r.tier, r.spent) for r in usage.by_tier(s, DAY1.date())]
    assert rows == [
        (date(2031, 3, 10), "premium", Spent(2, 150, 25)),
        (date(2031, 3, 10), "premium_plus", Spent(2, 307, 33)),
        (date(2031, 3, 11), "premium_plus", Spent(1, 1000, 100)),
    ]
    assert rows[0][2].total_tokens == 175
    # `until` is inclusive; `since` starts at midnight; nothing before or after leaks in.
    assert [r.day for r in usage.by_tier(s, DAY1.date(), DAY1.date())] == [DAY1.date()] * 2
    assert [r.tier for r in usage.by_tier(s, DAY2.date(), DAY2.date())] == ["premium_plus"]
    assert usage.by_tier(s, DAY2.date() + timedelta(days=1)) == []
    assert usage.by_tier(s, date(2031, 3, 1), date(2031, 3, 9)) == []


def test_totals_by_user_per_utc_day_biggest_spender_first(s: Session) -> None:
    alice, bob = _seed(s)
    rows = [(r.day, r.user_id, r.username, r.spent) for r in usage.by_user(s, DAY1.date())]
    assert rows == [
        (date(2031, 3, 10), bob, "bob", Spent(2, 307, 33)),
        (date(2031, 3, 10), alice, "alice", Spent(2, 150, 25)),
        (date(2031, 3, 11), alice, "alice", Spent(1, 1000, 100)),
    ]
    document = usage.by_user(s, DAY2.date())[0].to_dict()
    assert document == {
        "day": "2031-03-11",
        "user_id": alice,
        "username": "alice",
        "platform_id": document["platform_id"],
        "replies": 1,
        "prompt_tokens": 1000,
        "completion_tokens": 100,
        "total_tokens": 1100,
    }


def test_a_users_tokens_today_and_over_the_last_seven_days(s: Session) -> None:
    alice, bob = _seed(s)
    # Six days after DAY1 the window still reaches back to DAY1's midnight; seven do not.
    week = usage.user_recent(s, alice, DAY1 + timedelta(days=6, hours=12))
    assert (week.today, week.recent) == (Spent(), Spent(3, 1150, 125))
    later = usage.user_recent(s, alice, DAY1 + timedelta(days=7))
    assert later.recent == Spent(1, 1000, 100)
    today = usage.user_recent(s, alice, DAY2 + timedelta(hours=23))
    assert today.today == Spent(1, 1000, 100) and today.recent == Spent(3, 1150, 125)
    assert today.to_dict()["last_7_days"]["total_tokens"] == 1275
    assert usage.user_recent(s, bob, DAY1).today == Spent(2, 307, 33)  # the upsell is not


def test_tier_days_has_every_day_of_the_window(s: Session) -> None:
    _seed(s)
    days = usage.tier_days(s, DAY2 + timedelta(hours=1), days=3)
    assert list(days) == ["2031-03-09", "2031-03-10", "2031-03-11"]
    assert days["2031-03-09"] == {}
    assert days["2031-03-10"] == {"premium": Spent(2, 150, 25), "premium_plus": Spent(2, 307, 33)}
    assert days["2031-03-11"] == {"premium_plus": Spent(1, 1000, 100)}
