"""Posted replies: a take-down deletes on the platform first and records it; a platform
error changes nothing. Marking reviewed happens once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.engine import transaction
from bot.moderation import published
from bot.moderation.review import ReviewRefused
from bot.moderation.schema import AuditEntry
from bot.platform.x import XPlatform
from bot.replies.deps import ReplyDeps
from bot.replies.post import post_reply
from bot.replies.schema import Reply
from bot.settings import Settings
from bot.vocab import ReplyStatus
from models.llm_client import VLLMClient
from tests.fixtures.factories.platform import bot_replies
from tests.fixtures.factories.replies import approved_reply


def _posted(url: str, db: sessionmaker[Session], bot_id: str) -> tuple[int, XPlatform]:
    settings = Settings(x_api_url=url)
    platform = XPlatform.from_settings(settings)
    deps = ReplyDeps(
        sessions=db,
        platform=platform,
        llm=VLLMClient("http://127.0.0.1:9", "unused", timeout_s=0.1, max_retries=0),
        settings=settings,
        bot_user_id=bot_id,
        bot_username="mentionbot",
        persona="",
    )
    reply_id, _ = approved_reply(url, db, "a regrettable answer")
    assert post_reply(deps, reply_id) is not None
    return reply_id, platform


def test_take_down_deletes_on_the_platform_and_records_why(
    sandbox: Any, db: sessionmaker[Session], bot_user: dict[str, str]
) -> None:
    reply_id, platform = _posted(sandbox.url, db, bot_user["id"])
    assert len(bot_replies(sandbox.url, bot_user["id"])) == 1
    with pytest.raises(ReviewRefused, match="must say why"), transaction(db) as s:
        published.take_down(s, platform, reply_id, "alice", " ")
    with transaction(db) as s:
        assert published.take_down(s, platform, reply_id, "alice", "factually wrong")
    assert bot_replies(sandbox.url, bot_user["id"]) == []
    with db() as s:
        reply = s.get(Reply, reply_id)
        assert reply is not None
        assert (reply.status, reply.reason, reply.detail, reply.decided_by) == (
            ReplyStatus.TAKEN_DOWN,
            None,  # the status says it
            "factually wrong",
            "alice",
        )
        entry = s.scalars(select(AuditEntry).where(AuditEntry.reply_id == reply_id)).one()
        assert (entry.action, entry.before_text) == ("take_down", "a regrettable answer")
    with pytest.raises(ReviewRefused, match="not posted"), transaction(db) as s:
        published.take_down(s, platform, reply_id, "bob", "again")


def test_a_platform_error_leaves_everything_as_it_was(
    sandbox: Any, db: sessionmaker[Session], bot_user: dict[str, str]
) -> None:
    reply_id, platform = _posted(sandbox.url, db, bot_user["id"])
    httpx.post(
        f"{sandbox.url}/sandbox/faults",
        json={"endpoint": "delete_tweet", "error_ratio": 1.0, "status": 503},
        timeout=10,
    ).raise_for_status()
    with pytest.raises(ReviewRefused, match="X refused to delete the post"), transaction(db) as s:
        published.take_down(s, platform, reply_id, "alice", "wrong")
    with db() as s:
        reply = s.get(Reply, reply_id)
        assert reply is not None and reply.status == ReplyStatus.POSTED
        assert s.scalars(select(AuditEntry).where(AuditEntry.reply_id == reply_id)).all() == []
    assert len(bot_replies(sandbox.url, bot_user["id"])) == 1
    httpx.delete(f"{sandbox.url}/sandbox/faults", timeout=10).raise_for_status()
    with transaction(db) as s:
        assert published.take_down(s, platform, reply_id, "alice", "wrong")


def test_mark_reviewed_once(
    sandbox: Any, db: sessionmaker[Session], bot_user: dict[str, str]
) -> None:
    reply_id, _ = _posted(sandbox.url, db, bot_user["id"])
    with transaction(db) as s:
        published.mark_reviewed(s, reply_id, "alice")
    with pytest.raises(ReviewRefused, match="reviewed already"), transaction(db) as s:
        published.mark_reviewed(s, reply_id, "bob")
