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
from bot.vocab import MentionStatus, ReplyStatus
from tests.fixtures.factories.mentions import add_mention
from tests.fixtures.factories.replies import approved_reply


def fail_mention(db: sessionmaker[Session], mention_id: int, reason: str) -> None:
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
    fail_mention(db, mention_id, "llm_unavailable")
    with db() as s:
        assert s.get(Mention, mention_id).status == MentionStatus.ANSWERED
