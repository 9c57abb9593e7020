"""The dashboard's figures read what was decided, not what became of it since."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.moderation import stats
from bot.vocab import Decision, MentionStatus, Reason
from tests.fixtures.factories.mentions import add_mention, new_author, user_of


@pytest.fixture
def s(db: sessionmaker[Session]) -> Iterator[Session]:
    with db() as session:
        yield session
        session.rollback()


def test_decisions_per_hour_count_each_mention_by_its_decision(s: Session) -> None:
    now = utcnow()
    author = user_of(s, new_author("Premium")).id
    # Accepted, whatever happened next: queued, answered, failed.
    add_mention(s, author, status=MentionStatus.QUEUED, received_at=now)
    add_mention(s, author, status=MentionStatus.ANSWERED, received_at=now)
    add_mention(s, author, status=MentionStatus.FAILED, reason=Reason.TOO_LONG, received_at=now)
    add_mention(s, author, status=MentionStatus.ANSWERED, decision=Decision.UPSELL, received_at=now)
    add_mention(
        s, author, status=MentionStatus.IGNORED, decision=Decision.TOO_LONG, received_at=now
    )
    add_mention(s, author, received_at=now - timedelta(days=2))  # outside the window
    per_hour = stats.decisions_per_hour(s, now)
    assert len(per_hour) == 24
    assert per_hour[now.strftime("%Y-%m-%d %H")] == {"accepted": 3, "upsell": 1, "too_long": 1}
    assert sum(sum(d.values()) for d in per_hour.values()) == 5
