"""Post and sweep services on real Postgres and the sandbox over HTTP (no model needed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.replies import ReplyDeps, TryLater, fail_mention, post_reply, sweep
from bot.schema import Mention, MentionStatus, PlatformUser, Reply, ReplyStatus, utcnow
from bot.settings import Settings
from bot.x_client import XPlatform
from models.llm_client import VLLMClient


def _deps(url: str, db: sessionmaker[Session], bot_id: str) -> ReplyDeps:
    settings = Settings(x_api_url=url, stuck_after_s=60)
    return ReplyDeps(
        sessions=db,
        platform=XPlatform.from_settings(settings),
        # Posting never calls the model; an address nothing listens on proves it.
        llm=VLLMClient("http://127.0.0.1:9", "unused", timeout_s=0.1, max_retries=0),
        settings=settings,
        bot_user_id=bot_id,
        bot_username="mentionbot",
        persona="",
    )


def _seed(
    url: str,
    db: sessionmaker[Session],
    text: str = "an answer",
    *,
    author_id: str = "777",
    priority: int | None = None,
) -> tuple[int, str]:
    """A mention on the sandbox and its approved reply in the database: (reply id, post id)."""
    r = httpx.post(
        f"{url}/sandbox/mentions",
        json={"author_id": author_id, "username": f"u{author_id}", "text": "@mentionbot q?"},
        timeout=10,
    )
    r.raise_for_status()
    post_id = r.json()["id"]
    with db.begin() as s:
        user = PlatformUser(platform_id=author_id, username=f"u{author_id}")
        s.add(user)
        s.flush()
        mention = Mention(
            platform_post_id=post_id,
            author_id=user.id,
            text="q",
            status=MentionStatus.ANSWERED,
            priority=priority,
        )
        s.add(mention)
        s.flush()
        reply = Reply(
            mention_id=mention.id,
            text=text,
            status=ReplyStatus.APPROVED,
            model="m",
            approved_at=utcnow(),
        )
        s.add(reply)
        s.flush()
        return reply.id, post_id


def _bot_replies(url: str, bot_id: str, target: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/sandbox/posts", params={"author_id": bot_id}, timeout=10)
    return [p for p in r.json() if p.get("in_reply_to") == target and not p.get("deleted")]


def _reply(db: sessionmaker[Session], reply_id: int) -> Reply:
    with db() as s:
        reply = s.get(Reply, reply_id)
        assert reply is not None
        return reply


def test_posts_once_and_a_second_delivery_does_nothing(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = _deps(sandbox.url, db, bot_user["id"])
    reply_id, target = _seed(sandbox.url, db)
    post_id = post_reply(deps, reply_id)
    assert post_id is not None
    assert post_reply(deps, reply_id) is None
    reply = _reply(db, reply_id)
    assert reply.status == ReplyStatus.POSTED and reply.platform_post_id == post_id
    assert [p["id"] for p in _bot_replies(sandbox.url, bot_user["id"], target)] == [post_id]


def test_rate_limit_hands_the_reply_back_with_a_countdown(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = _deps(sandbox.url, db, bot_user["id"])
    reply_id, target = _seed(sandbox.url, db)
    httpx.post(
        f"{sandbox.url}/sandbox/faults",
        json={"endpoint": "create_tweet", "rate_limit": {"limit": 0, "window_s": 30}},
        timeout=10,
    ).raise_for_status()
    with pytest.raises(TryLater) as info:
        post_reply(deps, reply_id)
    assert info.value.countdown is not None and 1 <= info.value.countdown <= 31
    assert _reply(db, reply_id).status == ReplyStatus.APPROVED
    httpx.delete(f"{sandbox.url}/sandbox/faults", timeout=10).raise_for_status()
    assert post_reply(deps, reply_id) is not None
    assert len(_bot_replies(sandbox.url, bot_user["id"], target)) == 1


def test_server_error_retries_and_posts_once(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = _deps(sandbox.url, db, bot_user["id"])
    reply_id, target = _seed(sandbox.url, db)
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
    assert len(_bot_replies(sandbox.url, bot_user["id"], target)) == 1


def test_duplicate_403_reconciles_with_the_existing_reply(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = _deps(sandbox.url, db, bot_user["id"])
    reply_id, target = _seed(sandbox.url, db, text="same words")
    # Our reply already reached X (a worker died before recording it).
    existing = deps.platform.create_reply("same words", target)
    assert post_reply(deps, reply_id) == existing
    reply = _reply(db, reply_id)
    assert reply.status == ReplyStatus.POSTED and reply.reason == "reconciled"
    assert len(_bot_replies(sandbox.url, bot_user["id"], target)) == 1


def test_duplicate_text_elsewhere_fails_with_a_reason(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = _deps(sandbox.url, db, bot_user["id"])
    reply_id, _ = _seed(sandbox.url, db, text="said before")
    other_target = _seed_second(sandbox.url)
    deps.platform.create_reply("said before", other_target)
    assert post_reply(deps, reply_id) is None
    reply = _reply(db, reply_id)
    assert reply.status == ReplyStatus.POST_FAILED and reply.reason == "duplicate_content"


def _seed_second(url: str) -> str:
    r = httpx.post(
        f"{url}/sandbox/mentions",
        json={"author_id": "778", "username": "other", "text": "@mentionbot another"},
        timeout=10,
    )
    return str(r.json()["id"])


def test_sweeper_resends_stuck_work_and_gives_up_after_max_attempts(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    reply_id, _ = _seed(sandbox.url, db)
    old = utcnow() - timedelta(hours=1)
    with db.begin() as s:
        user_id = s.scalar(select(PlatformUser.id))
        fresh = Mention(
            platform_post_id="1",
            author_id=user_id,
            text="a",
            status=MentionStatus.QUEUED,
            queued_at=utcnow(),
        )
        stuck = Mention(
            platform_post_id="2",
            author_id=user_id,
            text="b",
            status=MentionStatus.GENERATING,
            generating_at=old,
            attempts=1,
        )
        hopeless = Mention(
            platform_post_id="3",
            author_id=user_id,
            text="c",
            status=MentionStatus.QUEUED,
            queued_at=old,
            attempts=5,
        )
        s.add_all([fresh, stuck, hopeless])
        s.execute(update(Reply).values(status=ReplyStatus.POSTING, posting_at=old, attempts=1))
        s.flush()
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
    _seed(sandbox.url, db)
    with db() as s:
        mention_id = s.scalar(select(Mention.id))
    assert mention_id is not None
    fail_mention(db, mention_id, "llm_unavailable")
    with db() as s:
        assert s.get(Mention, mention_id).status == MentionStatus.ANSWERED


def test_posting_budget_holds_replies_and_releases_them_by_priority(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    deps = _deps(sandbox.url, db, bot_user["id"])
    deps.settings = deps.settings.model_copy(update={"post_budget_15m": 1})
    first, _ = _seed(sandbox.url, db, text="first")
    assert post_reply(deps, first) is not None
    # The budget is spent: three more wait, approved, instead of failing.
    waiting = []
    for priority, text in ((9, "free"), (0, "premium plus"), (3, "premium")):
        reply_id, _ = _seed(sandbox.url, db, text, author_id=str(900 + priority), priority=priority)
        assert post_reply(deps, reply_id) is None
        waiting.append(reply_id)
    with db() as s:
        rows = s.scalars(select(Reply).where(Reply.id.in_(waiting))).all()
        assert {r.status for r in rows} == {ReplyStatus.APPROVED}
        assert {r.reason for r in rows} == {"waiting_budget"}
    assert sweep(db, deps.settings, bot_user["id"]).post == []  # nothing left to hand out
    # Two more posts allowed: the sweeper hands out the most urgent first.
    roomier = deps.settings.model_copy(update={"post_budget_15m": 3})
    assert sweep(db, roomier, bot_user["id"]).post == [waiting[1], waiting[2]]
