"""The post service on real Postgres and the sandbox over HTTP (no model needed): exactly one
post per reply across redeliveries, rate limits, server errors and duplicate text, and the
bot's posting budget."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.mentions.schema import Mention
from bot.replies.deps import TryLater
from bot.replies.post import post_budget_left, post_reply
from bot.replies.schema import Reply
from bot.replies.sweep import sweep
from bot.sandbox.app import create_app
from bot.sandbox.limits import RateLimit
from bot.sandbox.server import SandboxServer
from bot.vocab import Reason, ReplyStatus
from tests.fixtures.factories.platform import bot_replies, sandbox_mention
from tests.fixtures.factories.replies import approved_reply, post_deps


def _reply(db: sessionmaker[Session], reply_id: int) -> Reply:
    with db() as s:
        reply = s.get(Reply, reply_id)
        assert reply is not None
        return reply


def test_posts_once_and_a_second_delivery_does_nothing(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = post_deps(sandbox.url, db, bot_user["id"])
    reply_id, target = approved_reply(sandbox.url, db)
    post_id = post_reply(deps, reply_id)
    assert post_id is not None
    assert post_reply(deps, reply_id) is None
    reply = _reply(db, reply_id)
    assert reply.status == ReplyStatus.POSTED and reply.platform_post_id == post_id
    assert [p["id"] for p in bot_replies(sandbox.url, bot_user["id"], target)] == [post_id]


def _age_waits(db: sessionmaker[Session], seconds: float) -> None:
    """As if the waiting replies were released `seconds` ago (the sweeper spaces releases)."""
    with db.begin() as s:
        s.execute(
            update(Reply)
            .where(Reply.status == ReplyStatus.APPROVED)
            .values(approved_at=utcnow() - timedelta(seconds=seconds))
        )


def test_rate_limit_waits_for_the_reset_without_spending_an_attempt(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = post_deps(sandbox.url, db, bot_user["id"])
    reply_id, target = approved_reply(sandbox.url, db)
    httpx.post(
        f"{sandbox.url}/sandbox/faults",
        json={"endpoint": "create_tweet", "rate_limit": {"limit": 0, "window_s": 30}},
        timeout=10,
    ).raise_for_status()
    for _ in range(3):
        # The first try earns the 429; the others know the window is spent and wait.
        assert post_reply(deps, reply_id) is None
    reply = _reply(db, reply_id)
    # Regression: each 429 used to count as an attempt, and the sweeper gave up (stuck).
    assert (reply.status, reply.reason, reply.attempts) == (ReplyStatus.APPROVED, "rate_limited", 0)
    assert reply.wait_until is not None
    assert 1 <= (reply.wait_until - utcnow()).total_seconds() <= 31
    stats = httpx.get(f"{sandbox.url}/sandbox/stats", timeout=10).json()
    assert stats["statuses"]["create_tweet"] == {"429": 1}
    with db() as s:  # the posting budget unit came back with the 429
        left = post_budget_left(s, deps.settings, bot_user["id"], utcnow())
    assert left == min(deps.settings.post_budget_15m, deps.settings.post_budget_24h)
    _age_waits(db, 3600)
    swept = sweep(db, deps.settings.model_copy(update={"max_attempts": 1}), bot_user["id"])
    # Not stuck, not given up on, and not released before the reset.
    assert swept.failed_replies == [] and swept.post == []
    httpx.delete(f"{sandbox.url}/sandbox/faults", timeout=10).raise_for_status()
    # After the reset (a worker that has not seen the 429), it posts, once.
    assert post_reply(post_deps(sandbox.url, db, bot_user["id"]), reply_id) is not None
    assert len(bot_replies(sandbox.url, bot_user["id"], target)) == 1


def test_server_error_retries_and_posts_once(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = post_deps(sandbox.url, db, bot_user["id"])
    reply_id, target = approved_reply(sandbox.url, db)
    httpx.post(
        f"{sandbox.url}/sandbox/faults",
        json={"endpoint": "create_tweet", "error_ratio": 1.0, "status": 503},
        timeout=10,
    ).raise_for_status()
    with pytest.raises(TryLater):
        post_reply(deps, reply_id)
    httpx.delete(f"{sandbox.url}/sandbox/faults", timeout=10).raise_for_status()
    assert post_reply(deps, reply_id) is not None
    assert _reply(db, reply_id).attempts == 2
    assert len(bot_replies(sandbox.url, bot_user["id"], target)) == 1


def test_duplicate_403_reconciles_with_the_existing_reply(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = post_deps(sandbox.url, db, bot_user["id"])
    reply_id, target = approved_reply(sandbox.url, db, text="same words")
    # Our reply already reached X (a worker died before recording it).
    existing = deps.platform.create_reply("same words", target)
    assert post_reply(deps, reply_id) == existing
    reply = _reply(db, reply_id)
    assert reply.status == ReplyStatus.POSTED and reply.reason == "reconciled"
    assert len(bot_replies(sandbox.url, bot_user["id"], target)) == 1


def test_duplicate_text_elsewhere_fails_with_a_reason(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = post_deps(sandbox.url, db, bot_user["id"])
    reply_id, _ = approved_reply(sandbox.url, db, text="said before")
    other_target = sandbox_mention(sandbox.url, "778", "other", "@mentionbot another")
    deps.platform.create_reply("said before", other_target)
    assert post_reply(deps, reply_id) is None
    reply = _reply(db, reply_id)
    assert reply.status == ReplyStatus.POST_FAILED and reply.reason == "duplicate_content"


def test_posting_budget_holds_replies_and_releases_them_by_priority(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = post_deps(sandbox.url, db, bot_user["id"])
    deps.settings = deps.settings.model_copy(update={"post_budget_15m": 1})
    first, _ = approved_reply(sandbox.url, db, text="first")
    assert post_reply(deps, first) is not None
    # The budget is spent: three more wait, approved, instead of failing.
    waiting = []
    for priority, text in ((9, "free"), (0, "premium plus"), (3, "premium")):
        reply_id, _ = approved_reply(
            sandbox.url, db, text, author_id=str(900 + priority), priority=priority
        )
        assert post_reply(deps, reply_id) is None
        waiting.append(reply_id)
    with db() as s:
        rows = s.scalars(select(Reply).where(Reply.id.in_(waiting))).all()
        assert {r.status for r in rows} == {ReplyStatus.APPROVED}
        assert {r.reason for r in rows} == {"waiting_budget"}
    _age_waits(db, 3600)
    assert sweep(db, deps.settings, bot_user["id"]).post == []  # nothing left to hand out
    # Two more posts allowed: the sweeper hands out the most urgent first, with priorities.
    roomier = deps.settings.model_copy(update={"post_budget_15m": 3})
    released = sweep(db, roomier, bot_user["id"])
    assert released.post == [waiting[1], waiting[2]]
    assert released.priorities["post"] == {waiting[1]: 0, waiting[2]: 3}
    # Waiting for budget is not an attempt: however many sweeps pass, nothing is stuck.
    assert {_reply(db, r).attempts for r in waiting} == {0}
    stingy = deps.settings.model_copy(update={"max_attempts": 1})
    for _ in range(3):
        _age_waits(db, 3600)
        assert sweep(db, stingy, bot_user["id"]).failed_replies == []


def _quota_taken(db: sessionmaker[Session], reply_id: int) -> int:
    """Mark the reply's mention as holding a quota unit (as decide() leaves it)."""
    with db.begin() as s:
        mention_id = s.scalar(select(Reply.mention_id).where(Reply.id == reply_id))
        s.execute(update(Mention).where(Mention.id == mention_id).values(quota_at=utcnow()))
        assert mention_id is not None
        return mention_id


def test_a_reply_to_a_deleted_mention_ends_target_gone_with_the_unit_back(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = post_deps(sandbox.url, db, bot_user["id"])
    reply_id, target = approved_reply(sandbox.url, db)
    mention_id = _quota_taken(db, reply_id)
    httpx.delete(f"{sandbox.url}/sandbox/posts/{target}", timeout=10).raise_for_status()
    assert post_reply(deps, reply_id) is None
    reply = _reply(db, reply_id)
    assert (reply.status, reply.reason) == (ReplyStatus.POST_FAILED, Reason.TARGET_GONE)
    with db() as s:
        mention = s.get(Mention, mention_id)
        assert mention is not None and mention.quota_at is None  # the unit went back
    assert post_reply(deps, reply_id) is None  # final: never retried
    assert bot_replies(sandbox.url, bot_user["id"]) == []


def test_a_reply_the_conversation_does_not_allow_ends_replies_restricted(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = post_deps(sandbox.url, db, bot_user["id"])
    closed = httpx.post(
        f"{sandbox.url}/sandbox/posts",
        json={
            "author_id": "881",
            "username": "closed",
            "text": "No replies.",
            "reply_settings": "following",
        },
        timeout=10,
    ).json()["id"]
    reply_id, target = approved_reply(sandbox.url, db, author_id="882", in_reply_to=closed)
    _quota_taken(db, reply_id)
    assert post_reply(deps, reply_id) is None
    reply = _reply(db, reply_id)
    assert (reply.status, reply.reason) == (ReplyStatus.POST_FAILED, Reason.REPLIES_RESTRICTED)
    assert bot_replies(sandbox.url, bot_user["id"], target) == []


def test_the_days_posts_spent_the_reply_waits_for_the_daily_reset(
    db: sessionmaker[Session],
) -> None:
    # X's x-user-limit-24hour-* headers say the day is spent before the 15-minute window is.
    limits = {"create_tweet_user_24h": RateLimit(2, 86_400)}
    with SandboxServer(create_app(limits=limits)) as x:
        deps = post_deps(x.url, db, "1000000000000000001")
        first, _ = approved_reply(x.url, db, "answer 901", author_id="901")
        second, _ = approved_reply(x.url, db, "answer 902", author_id="902")
        third, _ = approved_reply(x.url, db, "answer 903", author_id="903")
        assert post_reply(deps, first) is not None
        assert post_reply(deps, second) is not None
        daily = deps.platform.rate_limit("create_24h")
        assert daily is not None and (daily.limit, daily.remaining) == (2, 0)
        assert post_reply(deps, third) is None  # no call made: the headers said so
        waiting = _reply(db, third)
    assert (waiting.status, waiting.reason) == (ReplyStatus.APPROVED, Reason.RATE_LIMITED)
    assert waiting.wait_until is not None
    assert waiting.wait_until > utcnow() + timedelta(hours=23)
