"""Threads on real Postgres and the sandbox over HTTP: an answer longer than one post is
stored as parts and posted part by part, each in reply to the one before, each from the
posting budget, and a retry posts only what is missing (reconciling the part in doubt)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.replies.deps import ReplyDeps
from bot.replies.generate import generate_reply
from bot.replies.parts import THREAD_JOIN, parts_of, record_part, set_parts, unthread
from bot.replies.post import post_budget_left, post_reply
from bot.replies.schema import Reply
from bot.subscribers import quotas
from bot.vocab import MentionStatus, Reason, ReplyStatus
from models.llm_client import VLLMClient
from tests.fixtures.factories.mentions import add_mention, new_author, user_of
from tests.fixtures.factories.platform import sandbox_posts
from tests.fixtures.factories.replies import approved_reply, post_deps
from tests.fixtures.fake_vllm import FakeVLLM

PARTS = ["First, the short answer. 1/3", "Second, the detail. 2/3", "Third, the source. 3/3"]


def _deps(url: str, db: sessionmaker[Session], bot_id: str, **settings: Any) -> ReplyDeps:
    return post_deps(url, db, bot_id, thread_max_posts=3, **settings)


def _thread(url: str, db: sessionmaker[Session]) -> tuple[int, str]:
    reply_id, target = approved_reply(url, db, text=THREAD_JOIN.join(PARTS))
    with db.begin() as s:
        set_parts(s, reply_id, PARTS)
    return reply_id, target


def _chain(url: str, bot_id: str, target: str) -> list[dict[str, Any]]:
    """The bot's posts from the one answering target down the thread, in order."""
    by_parent = {p["in_reply_to"]: p for p in sandbox_posts(url, author_id=bot_id)}
    chain, parent = [], target
    while parent in by_parent:
        chain.append(by_parent[parent])
        parent = by_parent[parent]["id"]
    return chain


def test_a_thread_goes_out_part_by_part_from_the_budget(
    sandbox: Any, db: sessionmaker[Session], bot_user: dict[str, str]
) -> None:
    deps = _deps(sandbox.url, db, bot_user["id"])
    reply_id, target = _thread(sandbox.url, db)
    with db() as s:
        budget = post_budget_left(s, deps.settings, bot_user["id"], utcnow())
    first = post_reply(deps, reply_id)
    chain = _chain(sandbox.url, bot_user["id"], target)
    assert [p["text"] for p in chain] == PARTS
    assert first == chain[0]["id"]
    assert len(sandbox_posts(sandbox.url, author_id=bot_user["id"])) == 3
    with db() as s:
        reply = s.get(Reply, reply_id)
        assert reply is not None
        assert (reply.status, reply.platform_post_id) == (ReplyStatus.POSTED, first)
        assert [p.platform_post_id for p in parts_of(s, reply_id)] == [p["id"] for p in chain]
        assert post_budget_left(s, deps.settings, bot_user["id"], utcnow()) == budget - 3


def test_a_retry_posts_only_the_missing_parts_and_reconciles_the_one_in_doubt(
    sandbox: Any, db: sessionmaker[Session], bot_user: dict[str, str]
) -> None:
    deps = _deps(sandbox.url, db, bot_user["id"])
    reply_id, target = _thread(sandbox.url, db)
    # An earlier attempt posted part 1 and recorded it, then part 2 reached X and the worker
    # died before recording it.
    one = deps.platform.create_reply(PARTS[0], target)
    two = deps.platform.create_reply(PARTS[1], one)
    with db.begin() as s:
        record_part(s, reply_id, 0, one, utcnow())
        s.execute(update(Reply).where(Reply.id == reply_id).values(attempts=1))
    assert post_reply(deps, reply_id) == one
    chain = _chain(sandbox.url, bot_user["id"], target)
    assert [p["id"] for p in chain[:2]] == [one, two]
    assert [p["text"] for p in chain] == PARTS
    assert len(sandbox_posts(sandbox.url, author_id=bot_user["id"])) == 3


def test_the_rest_of_a_thread_waits_for_the_budget(
    sandbox: Any, db: sessionmaker[Session], bot_user: dict[str, str]
) -> None:
    reply_id, target = _thread(sandbox.url, db)
    with db() as s:
        used = quotas.used(s, f"post:{bot_user['id']}:15m", 900, utcnow())
    tight = _deps(sandbox.url, db, bot_user["id"], post_budget_15m=used + 2)
    assert post_reply(tight, reply_id) is None
    with db() as s:
        reply = s.get(Reply, reply_id)
        assert reply is not None
        assert (reply.status, reply.reason) == (ReplyStatus.APPROVED, Reason.WAITING_BUDGET)
        assert [p.platform_post_id is not None for p in parts_of(s, reply_id)] == [1, 1, 0]
    assert len(_chain(sandbox.url, bot_user["id"], target)) == 2
    assert post_reply(_deps(sandbox.url, db, bot_user["id"]), reply_id) is not None
    assert [p["text"] for p in _chain(sandbox.url, bot_user["id"], target)] == PARTS


def _generate(server: FakeVLLM, db: sessionmaker[Session], answer: str) -> int:
    """The reply the generate service stores when the model says `answer`."""
    server.reply = answer
    deps = _deps("http://127.0.0.1:9", db, "1")
    deps.llm = VLLMClient(server.base_url, "tiny-moe", timeout_s=5, max_retries=0)
    with db.begin() as s:
        user = user_of(s, new_author("PremiumPlus"))
        mention = add_mention(
            s,
            user.id,
            text="@mentionbot explain",
            status=MentionStatus.QUEUED,
            tier="premium_plus",
            priority=0,
        )
    reply_id = generate_reply(deps, mention.id)
    assert reply_id is not None
    return reply_id


def test_a_long_answer_is_stored_as_numbered_parts(
    server: FakeVLLM, db: sessionmaker[Session]
) -> None:
    words = ("one", "two", "three", "four", "five", "six", "seven", "eight")
    sentences = [f"Reason {w} is one of several that make this answer too long." for w in words]
    reply_id = _generate(server, db, " ".join(sentences))
    with db() as s:
        parts = [p.text for p in parts_of(s, reply_id)]
        reply = s.get(Reply, reply_id)
        assert reply is not None
    assert 2 <= len(parts) <= 3, reply.text
    assert all(p.endswith(f" {i}/{len(parts)}") for i, p in enumerate(parts, 1))
    assert reply.text == THREAD_JOIN.join(parts)
    assert unthread(reply.text).startswith(" ".join(sentences[:3]))


def test_one_post_answers_store_no_parts(server: FakeVLLM, db: sessionmaker[Session]) -> None:
    reply_id = _generate(server, db, "Short and sweet.")
    with db() as s:
        assert parts_of(s, reply_id) == []
        assert s.scalar(select(Reply.text).where(Reply.id == reply_id)) == "Short and sweet."
