"""The whole pipeline on real components: Postgres, Redis, a Celery worker process, the
sandbox over HTTP through tweepy, and the CPU vLLM engine serving the tiny MoE."""

from __future__ import annotations

import os
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.mentions.listener import Listener
from bot.mentions.schema import Mention
from bot.platform.x import XPlatform
from bot.replies.schema import Reply
from bot.replies.sweep import sweep
from bot.settings import Settings
from bot.vocab import MentionStatus, ReplyStatus
from tests.fixtures.factories.platform import bot_replies, numbered_mentions
from tests.fixtures.services import KEY_PREFIX, REDIS_URL, REPO, RedisKeys, spawn, stop, wait_for
from workers.celery_app import create_app
from workers.names import TASK_GENERATE, TASK_POST
from workers.sender import CelerySender

pytestmark = [pytest.mark.integration, pytest.mark.engine]


def inject(url: str, n: int, start: int = 0) -> list[str]:
    """n premium mentions from seven accounts, numbered from `start`."""
    return numbered_mentions(
        url,
        n,
        start,
        authors=7,
        first_author=3000,
        handle="user",
        text="@mentionbot question number {i}?",
    )


def posted_count(db: sessionmaker[Session]) -> int:
    """Replies posted so far; fails the test at once if any mention or reply failed."""
    with db() as s:
        failed: list[Any] = list(
            s.execute(
                select(Mention.id, Mention.reason, Mention.detail).where(
                    Mention.status == MentionStatus.FAILED
                )
            ).all()
        )
        failed += s.execute(
            select(Reply.id, Reply.reason, Reply.detail).where(
                Reply.status == ReplyStatus.POST_FAILED
            )
        ).all()
        assert not failed, f"failures: {failed[:3]}"
        return int(
            s.scalar(
                select(func.count()).select_from(Reply).where(Reply.status == ReplyStatus.POSTED)
            )
            or 0
        )


def test_fifty_mentions_get_exactly_fifty_replies(pipeline: dict[str, Any]) -> None:
    ids = inject(pipeline["url"], 50)
    listener = spawn(["listen"], pipeline["env"], "listener-test.log")
    try:
        wait_for(lambda: posted_count(pipeline["db"]) >= 50, timeout=240, what="50 posted replies")
    finally:
        stop(listener)
    replies = bot_replies(pipeline["url"], pipeline["bot_id"])
    assert len(replies) == 50
    assert sorted(r["in_reply_to"] for r in replies) == sorted(ids)
    with pipeline["db"]() as s:
        statuses = Counter(s.scalars(select(Mention.status)))
        assert statuses == {MentionStatus.ANSWERED: 50}
        by_mention = dict(
            s.execute(
                select(Mention.platform_post_id, Reply.platform_post_id).join(
                    Reply, Reply.mention_id == Mention.id
                )
            ).all()
        )
    # Each stored reply is the platform post that answers its own mention.
    assert {r["id"]: r["in_reply_to"] for r in replies} == {v: k for k, v in by_mention.items()}


def test_listener_killed_mid_run_loses_and_duplicates_nothing(pipeline: dict[str, Any]) -> None:
    first = inject(pipeline["url"], 20)
    listener = spawn(["listen"], pipeline["env"], "listener-test.log")
    wait_for(lambda: _count_mentions(pipeline["db"]) > 0, timeout=60, what="first mentions")
    listener.kill()  # no clean shutdown: the worst case
    listener.wait()
    second = inject(pipeline["url"], 20, start=20)
    listener = spawn(["listen"], pipeline["env"], "listener-test.log")
    try:
        wait_for(lambda: posted_count(pipeline["db"]) >= 40, timeout=240, what="40 replies")
    finally:
        stop(listener)
    replies = bot_replies(pipeline["url"], pipeline["bot_id"])
    assert sorted(r["in_reply_to"] for r in replies) == sorted(first + second)
    assert _count_mentions(pipeline["db"]) == 40


def _count_mentions(db: sessionmaker[Session]) -> int:
    with db() as s:
        return int(s.scalar(select(func.count()).select_from(Mention)) or 0)


class Recorder:
    def __init__(self) -> None:
        self.ids: list[int] = []

    def send_post(self, reply_ids: Any, priorities: Any = None) -> None:
        self.posts = [*getattr(self, "posts", []), *reply_ids]

    def send_generate(self, mention_ids: Any, priorities: Any = None) -> None:
        self.ids.extend(mention_ids)


def _listen_once(pipeline: dict[str, Any]) -> list[int]:
    settings: Settings = pipeline["settings"]
    recorder = Recorder()
    Listener(
        XPlatform.from_settings(settings), pipeline["db"], recorder, pipeline["bot_id"]
    ).poll_once()
    return recorder.ids


def test_tasks_delivered_twice_post_once(pipeline: dict[str, Any]) -> None:
    inject(pipeline["url"], 3)
    mention_ids = _listen_once(pipeline)
    assert len(mention_ids) == 3
    app = create_app(pipeline["settings"])
    # Every generate task three times at once, as redeliveries would.
    for mention_id in mention_ids:
        for _ in range(3):
            app.send_task(TASK_GENERATE, args=[mention_id])
    wait_for(lambda: posted_count(pipeline["db"]) >= 3, timeout=120, what="3 replies posted")
    with pipeline["db"]() as s:
        reply_ids = list(s.scalars(select(Reply.id)))
    for reply_id in reply_ids:
        for _ in range(3):
            app.send_task(TASK_POST, args=[reply_id])
    # The redundant post tasks must all have run (and found nothing to do) before X is read.
    keys = RedisKeys(REDIS_URL, KEY_PREFIX)
    wait_for(lambda: keys.drained("post"), timeout=60, what="the redundant post tasks to run")
    replies = bot_replies(pipeline["url"], pipeline["bot_id"])
    assert len(replies) == 3
    assert len({r["in_reply_to"] for r in replies}) == 3


def test_crash_after_posting_reconciles_instead_of_posting_again(
    pipeline: dict[str, Any],
) -> None:
    inject(pipeline["url"], 1)
    mention_ids = _listen_once(pipeline)
    app = create_app(pipeline["settings"])
    app.send_task(TASK_GENERATE, args=[mention_ids[0]])
    wait_for(lambda: posted_count(pipeline["db"]) >= 1, timeout=120, what="a posted reply")
    # Pretend the post worker died after X accepted the post but before the commit.
    with pipeline["db"].begin() as s:
        s.execute(
            update(Reply).values(
                status=ReplyStatus.POSTING,
                platform_post_id=None,
                posting_at=utcnow() - timedelta(hours=1),
            )
        )
    settings = pipeline["settings"].model_copy(update={"stuck_after_s": 0.0})
    result = sweep(pipeline["db"], settings)
    assert len(result.post) == 1
    app.send_task(TASK_POST, args=[result.post[0]])
    wait_for(lambda: posted_count(pipeline["db"]) >= 1, timeout=60, what="reconciled reply")
    replies = bot_replies(pipeline["url"], pipeline["bot_id"])
    assert len(replies) == 1
    with pipeline["db"]() as s:
        reply = s.scalars(select(Reply)).one()
    assert reply.platform_post_id == replies[0]["id"]
    assert reply.reason == "reconciled"


def test_lost_broker_messages_are_recovered_by_the_sweeper(
    pipeline: dict[str, Any], redis_clean: Any
) -> None:
    inject(pipeline["url"], 5)
    # The listener commits and really sends, to a Redis that then restarts with no disk:
    # the messages go to a key prefix no worker reads, and those keys are wiped.
    lost = RedisKeys(REDIS_URL, f"lost{os.getpid()}:")
    lost_app = create_app(
        pipeline["settings"].model_copy(update={"broker_key_prefix": lost.prefix})
    )
    platform = XPlatform.from_settings(pipeline["settings"])
    result0 = Listener(
        platform, pipeline["db"], CelerySender(lost_app), pipeline["bot_id"]
    ).poll_once()
    mention_ids = result0.accepted
    assert len(mention_ids) == 5
    assert lost.clear() > 0  # the queued generate tasks are gone
    settings = pipeline["settings"].model_copy(update={"stuck_after_s": 0.0})
    result = sweep(pipeline["db"], settings)
    assert sorted(result.generate) == sorted(mention_ids)
    CelerySender(create_app(settings)).send_generate(result.generate)
    wait_for(lambda: posted_count(pipeline["db"]) >= 5, timeout=120, what="5 replies")
    assert len(bot_replies(pipeline["url"], pipeline["bot_id"])) == 5


def test_listener_stops_cleanly_on_sigterm(pipeline: dict[str, Any]) -> None:
    log = REPO / "var" / "log" / "listener-test.log"
    starts = log.read_text().count("listener.start") if log.exists() else 0
    listener = spawn(["listen"], pipeline["env"], "listener-test.log")
    # A SIGTERM before Python has even run the handler's set-up would end it with -15: signal
    # it once it runs (a signal during the rest of the start-up is handled, bot/cli/run.py).
    wait_for(
        lambda: listener.poll() is not None or log.read_text().count("listener.start") > starts,
        timeout=60,
        what="the listener to start",
    )
    listener.terminate()
    assert listener.wait(timeout=15) == 0


def test_concurrent_listeners_never_duplicate(pipeline: dict[str, Any]) -> None:
    inject(pipeline["url"], 30)
    results: list[list[int]] = []

    def run() -> None:
        results.append(_listen_once(pipeline))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [i for r in results for i in r]
    assert sorted(sent) == sorted(set(sent)) and len(sent) == 30
