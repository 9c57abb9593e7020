"""The claims that end a mention or a reply give the quota unit back, exactly once, to the
window it came from (real Postgres, rolled back)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.db.engine import transaction
from bot.mentions.schema import Mention
from bot.replies import claims
from bot.replies.claims import refund_quota
from bot.replies.schema import Reply
from bot.vocab import MentionStatus, Reason, ReplyStatus
from tests.fixtures.factories.mentions import NOW, Gate, new_author, user_of
from tests.fixtures.factories.subscribers import force_policy, units_used


@pytest.fixture()
def s(db: sessionmaker[Session]) -> Iterator[Session]:
    """One session inside the test's rolled-back transaction."""
    with db() as session:
        yield session


def fail_mention(
    db: sessionmaker[Session], mention_id: int, reason: Reason, detail: str = ""
) -> None:
    with transaction(db) as t:
        claims.fail_mention(t, mention_id, reason, detail, utcnow())


def fail_reply(db: sessionmaker[Session], reply_id: int, reason: Reason, detail: str = "") -> None:
    with transaction(db) as t:
        claims.fail_reply(t, reply_id, reason, detail, utcnow())


def test_refund_gives_the_unit_back_once(s: Session) -> None:
    gate, prem = Gate(s), new_author("Premium")
    gate(prem)
    first = gate.last_id
    gate(prem)
    uid = user_of(s, prem).id
    assert (units_used(s, uid, "hour", NOW), units_used(s, uid, "day", NOW)) == (2, 2)
    assert refund_quota(s, first)
    assert (units_used(s, uid, "hour", NOW), units_used(s, uid, "day", NOW)) == (1, 1)
    assert not refund_quota(s, first)  # a second refund is a no-op
    assert (units_used(s, uid, "hour", NOW), units_used(s, uid, "day", NOW)) == (1, 1)
    assert s.scalar(select(Mention.quota_at).where(Mention.id == first)) is None
    # Nothing to give back for a mention that took no unit, or one that does not exist.
    gate(new_author(None))
    assert not refund_quota(s, gate.last_id)
    assert not refund_quota(s, 10**9)


def test_a_late_refund_goes_back_to_the_window_it_came_from(s: Session) -> None:
    force_policy(s, "premium", replies_per_hour=1, replies_per_day=100)
    gate, prem = Gate(s), new_author("Premium")
    before = datetime(2031, 3, 10, 10, 59, 59, tzinfo=UTC)
    after = datetime(2031, 3, 10, 11, 0, 1, tzinfo=UTC)
    gate(prem, now=before)
    early = gate.last_id
    assert gate.decisions(prem, [after, after]) == ["accepted", "quota_hour"]
    assert refund_quota(s, early)
    uid = user_of(s, prem).id
    assert (units_used(s, uid, "hour", before), units_used(s, uid, "hour", after)) == (0, 1)
    assert gate(prem, now=after).decision == "quota_hour"  # the new window is still full
    assert units_used(s, uid, "day", after) == 1


def test_fail_mention_and_fail_reply_refund_once(db: sessionmaker[Session], s: Session) -> None:
    gate, prem = Gate(s), new_author("Premium")
    ids = []
    for _ in range(3):
        assert gate(prem).accepted
        ids.append(gate.last_id)
    uid = user_of(s, prem).id
    reply = Reply(
        mention_id=ids[2],
        text="an answer",
        status=ReplyStatus.APPROVED,
        model="tiny",
        moderation="post",
        created_at=NOW,
        approved_at=NOW,
    )
    s.add(reply)
    s.commit()  # a savepoint: the services below run their own sessions on this connection

    fail_mention(db, ids[0], Reason.LLM_REJECTED, "model refused")
    assert (units_used(s, uid, "hour", NOW), units_used(s, uid, "day", NOW)) == (2, 2)
    fail_mention(db, ids[0], Reason.LLM_REJECTED)
    assert (units_used(s, uid, "hour", NOW), units_used(s, uid, "day", NOW)) == (2, 2)
    status = s.scalar(select(Mention.status).where(Mention.id == ids[0]))
    assert status == MentionStatus.FAILED

    fail_reply(db, reply.id, Reason.PLATFORM_REFUSED, "403")
    assert (units_used(s, uid, "hour", NOW), units_used(s, uid, "day", NOW)) == (1, 1)
    fail_reply(db, reply.id, Reason.PLATFORM_REFUSED)
    assert (units_used(s, uid, "hour", NOW), units_used(s, uid, "day", NOW)) == (1, 1)
    assert s.scalar(select(Reply.status).where(Reply.id == reply.id)) == ReplyStatus.POST_FAILED
    # The mention nobody failed keeps its unit.
    assert s.scalar(select(Mention.quota_at).where(Mention.id == ids[1])) is not None
