"""The sweeper on real Postgres: what it sends again, what it gives up on, and that it never
ends a mention that is already final."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.db.engine import transaction
from bot.mentions.schema import Mention, PlatformUser
from bot.replies import claims
from bot.replies.schema import Reply
from bot.replies.sweep import sweep
from bot.settings import Settings
from bot.subscribers import quotas
from bot.vocab import MentionStatus, Reason, ReplyStatus
from tests.fixtures.factories.mentions import add_mention
from tests.fixtures.factories.replies import add_reply, approved_reply


def fail_mention(db: sessionmaker[Session], mention_id: int, reason: Reason) -> None:
    with transaction(db) as s:
        claims.fail_mention(s, mention_id, reason, "", utcnow())


def test_sweeper_resends_stuck_work_and_gives_up_after_max_attempts(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    reply_id, _ = approved_reply(sandbox.url, db)
    old = utcnow() - timedelta(hours=1)
    with db.begin() as s:
        user_id = s.scalar(select(PlatformUser.id))
        assert user_id is not None
        fresh = add_mention(s, user_id, "1", status=MentionStatus.QUEUED, queued_at=utcnow())
        stuck = add_mention(
            s, user_id, "2", status=MentionStatus.GENERATING, generating_at=old, attempts=1
        )
        hopeless = add_mention(
            s, user_id, "3", status=MentionStatus.QUEUED, queued_at=old, attempts=5
        )
        s.execute(update(Reply).values(status=ReplyStatus.POSTING, posting_at=old, attempts=1))
        ids = (fresh.id, stuck.id, hopeless.id)
    settings = Settings(stuck_after_s=60, max_attempts=5)
    result = sweep(db, settings)
    assert result.generate == [ids[1]]
    assert result.failed_mentions == [ids[2]]
    assert result.post == [reply_id]
    with db() as s:
        assert s.get(Mention, ids[1]).status == MentionStatus.QUEUED
        failed = s.get(Mention, ids[2])
        assert failed is not None and failed.reason == "stuck"
        assert s.get(Reply, reply_id).status == ReplyStatus.APPROVED
    # Sent again just now: the next sweep leaves them alone for a full period.
    again = sweep(db, settings)
    assert again.generate == [] and again.post == []


def test_fail_mention_never_overrides_a_final_state(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    approved_reply(sandbox.url, db)
    with db() as s:
        mention_id = s.scalar(select(Mention.id))
    assert mention_id is not None
    fail_mention(db, mention_id, Reason.LLM_REJECTED)
    with db() as s:
        assert s.get(Mention, mention_id).status == MentionStatus.ANSWERED


def _taken(s: Session, user_id: int) -> int:
    return quotas.used(s, quotas.user_key(user_id, "day"), quotas.DAY, utcnow())


def test_giving_up_gives_the_quota_unit_back(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    # Regression: a mention or reply the sweeper gave up on kept the user's unit.
    old = utcnow() - timedelta(hours=1)
    now = utcnow()
    with db.begin() as s:
        user = PlatformUser(platform_id="4242", username="payer")
        s.add(user)
        s.flush()
        for _ in range(2):
            assert quotas.take_reply_quota(s, user.id, 10, 10, now) is None
        hopeless = add_mention(
            s, user.id, status=MentionStatus.QUEUED, queued_at=old, attempts=5, quota_at=now
        )
        answered = add_mention(s, user.id, quota_at=now)
        reply = add_reply(s, answered.id, status=ReplyStatus.POSTING, posting_at=old, attempts=5)
        user_id, ids = user.id, (hopeless.id, reply.id)
        assert _taken(s, user_id) == 2
    result = sweep(db, Settings(stuck_after_s=60, max_attempts=5))
    assert (result.failed_mentions, result.failed_replies) == ([ids[0]], [ids[1]])
    with db() as s:
        assert _taken(s, user_id) == 0
        assert s.get(Reply, ids[1]).reason == "stuck"


def test_a_reply_released_after_a_rate_limit_reset_carries_its_priority(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    reply_id, _ = approved_reply(sandbox.url, db, priority=2)
    earlier = utcnow() - timedelta(minutes=5)
    with db.begin() as s:
        s.execute(
            update(Reply).values(reason="rate_limited", wait_until=utcnow() + timedelta(minutes=1))
        )
        s.execute(update(Reply).values(approved_at=earlier))
    settings = Settings(stuck_after_s=60, max_attempts=1)
    assert sweep(db, settings, bot_user["id"]).post == []  # before the reset
    with db.begin() as s:
        s.execute(update(Reply).values(wait_until=earlier))
    released = sweep(db, settings, bot_user["id"])
    assert released.post == [reply_id] and released.priorities["post"] == {reply_id: 2}
    # Released just now: the next sweep leaves it to the task it sent.
    assert sweep(db, settings, bot_user["id"]).post == []


def test_a_reply_that_waited_too_long_ends_too_old_with_the_unit_back(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    now = utcnow()
    with db.begin() as s:
        user = PlatformUser(platform_id="4343", username="patient")
        s.add(user)
        s.flush()
        assert quotas.take_reply_quota(s, user.id, 10, 10, now) is None
        stale = add_mention(s, user.id, quota_at=now, posted_at=now - timedelta(hours=7))
        fresh = add_mention(s, user.id, posted_at=now - timedelta(hours=1))
        old_reply = add_reply(s, stale.id, reason="waiting_budget")
        new_reply = add_reply(s, fresh.id, reason="waiting_budget")
        user_id, ids = user.id, (old_reply.id, new_reply.id)
    result = sweep(db, Settings(reply_max_age_s=6 * 3600))
    assert result.too_old == [ids[0]]
    with db() as s:
        ended = s.get(Reply, ids[0])
        assert ended is not None and (ended.status, ended.reason) == ("post_failed", "too_old")
        assert s.get(Reply, ids[1]).status == ReplyStatus.APPROVED
        assert _taken(s, user_id) == 0
