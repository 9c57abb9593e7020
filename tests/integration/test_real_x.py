"""Real X's harder edges through the whole pipeline (sandbox, a listener process, Redis, a
real worker process, the CPU engine, Postgres): a long post answered from its full text, an
edited post answered once, a conversation closed to the bot skipped before generation, a
repost ignored and a quote answered, and a mention deleted while posting was paused ending
target_gone with the user's unit back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.engine import transaction
from bot.mentions.schema import Mention
from bot.moderation import posting
from bot.replies.schema import Reply
from bot.vocab import Decision, MentionStatus, Reason, ReplyStatus
from tests.fixtures.factories.platform import bot_replies
from tests.fixtures.services import spawn, stop, wait_for
from workers.celery_app import create_app
from workers.sender import CelerySender

pytestmark = [pytest.mark.integration, pytest.mark.engine]

LONG = "@mentionbot is this true? " + "The council says the old bridge will close for repairs. " * 8


def _seed(url: str, route: str, author: str, text: str, **extra: Any) -> str:
    body = {
        "author_id": author,
        "username": f"x{author}",
        "subscription_type": "PremiumPlus",
        "text": text,
        **extra,
    }
    r = httpx.post(f"{url}/sandbox/{route}", json=body, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _mention(db: sessionmaker[Session], post_id: str) -> Mention:
    with db() as s:
        return s.scalars(select(Mention).where(Mention.platform_post_id == post_id)).one()


def _reply(db: sessionmaker[Session], post_id: str) -> Reply | None:
    with db() as s:
        return s.scalars(
            select(Reply)
            .join(Mention, Mention.id == Reply.mention_id)
            .where(Mention.platform_post_id == post_id)
        ).one_or_none()


def _final(db: Any, ids: list[str]) -> bool:
    with db() as s:
        rows = s.execute(select(Mention.status).where(Mention.platform_post_id.in_(ids))).all()
    done = {MentionStatus.ANSWERED, MentionStatus.IGNORED, MentionStatus.FAILED}
    return len(rows) == len(ids) and all(r.status in done for r in rows)


def test_real_x_cases_end_where_they_should(pipeline: dict[str, Any]) -> None:
    url, db = pipeline["url"], pipeline["db"]
    with transaction(db) as s:
        posting.pause(s, "test", "hold the replies until the mention is deleted")
    long = _seed(url, "mentions", "6001", LONG)
    original = _seed(url, "mentions", "6002", "@mentionbot is the bridge closing?")
    closed = _seed(url, "posts", "6003", "Only those I mention.", reply_settings="mentionedUsers")
    shut_out = _seed(url, "mentions", "6004", "is this true?", in_reply_to=closed)
    quoted = _seed(url, "posts", "6005", "The bridge closes in May, says the council.")
    quote = _seed(url, "mentions", "6006", "is this true?", quote_of=quoted)
    repost = _seed(url, "posts", "6007", "-", repost_of=quote)
    doomed = _seed(url, "mentions", "6008", "@mentionbot will it rain tomorrow?")
    listener = spawn(["listen"], pipeline["env"], "listener-real-x.log")
    try:
        wait_for(
            lambda: _final(db, [long, original, shut_out, quote, repost, doomed]),
            120,
            what="the first mentions decided and answered",
        )
        edit = httpx.post(
            f"{url}/sandbox/posts/{original}/edit",
            json={"text": "@mentionbot is the bridge closing in May?"},
            timeout=10,
        ).json()["id"]
        wait_for(lambda: _final(db, [edit]), 60, what="the edit decided")
        # Deleted while its reply waits for posting; posting resumes: X says it is gone.
        httpx.delete(f"{url}/sandbox/posts/{doomed}", timeout=10).raise_for_status()
        with transaction(db) as s:
            ready, priorities = posting.resume(s, "test")
        CelerySender(create_app(pipeline["settings"])).send_post(ready, priorities)
        ended = (ReplyStatus.POSTED, ReplyStatus.POST_FAILED)

        def replies_ended() -> bool:
            replies = [_reply(db, p) for p in (long, original, quote, doomed)]
            return all(r is not None and r.status in ended for r in replies)

        wait_for(replies_ended, 120, what="every reply posted or failed")
    finally:
        stop(listener)
    assert _mention(db, long).text == LONG  # the whole text, not X's shortened one
    assert _mention(db, edit).decision == Decision.EDITED_AFTER_REPLY
    assert _mention(db, shut_out).decision == Decision.REPLIES_RESTRICTED
    assert _reply(db, shut_out) is None  # skipped before any generation
    assert _mention(db, repost).decision == Decision.REPOST
    assert _mention(db, quote).quoted_post_id == quoted
    for answered in (long, original, quote):
        reply = _reply(db, answered)
        assert reply is not None and reply.status == ReplyStatus.POSTED, answered
    gone = _reply(db, doomed)
    assert gone is not None and (gone.status, gone.reason) == (
        ReplyStatus.POST_FAILED,
        Reason.TARGET_GONE,
    )
    assert _mention(db, doomed).quota_at is None  # the unit went back
    targets = [r["in_reply_to"] for r in bot_replies(url, pipeline["bot_id"])]
    assert sorted(targets) == sorted([long, original, quote])  # one reply each, none to the edit
