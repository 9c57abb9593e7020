"""The posting kill switch on real Postgres and the sandbox: paused replies wait (no claim,
no attempt, no sweep), resuming hands them out by priority."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.db.engine import transaction
from bot.moderation import posting
from bot.replies.deps import ReplyDeps
from bot.replies.post import post_reply
from bot.replies.schema import Reply
from bot.replies.sweep import sweep
from bot.vocab import Reason, ReplyStatus
from tests.fixtures.factories.platform import bot_replies
from tests.fixtures.factories.replies import approved_reply, post_deps


def _deps(url: str, db: sessionmaker[Session], bot_id: str) -> ReplyDeps:
    return post_deps(url, db, bot_id, stuck_after_s=0)


def test_paused_replies_wait_and_go_out_by_priority_on_resume(
    sandbox: Any, db: sessionmaker[Session], bot_user: dict[str, str]
) -> None:
    deps = _deps(sandbox.url, db, bot_user["id"])
    waiting = {}
    for priority, author in ((9, "901"), (0, "902"), (3, "903")):
        waiting[priority] = approved_reply(
            sandbox.url, db, f"answer {priority}", author_id=author, priority=priority
        )[0]
    with transaction(db) as s:
        posting.pause(s, "alice", "checking a bad answer")
        assert posting.state(s).paused
    for reply_id in waiting.values():
        assert post_reply(deps, reply_id) is None
    with db() as s:
        rows = [s.get(Reply, rid) for rid in waiting.values()]
        assert {(r.status, r.reason, r.attempts) for r in rows if r} == {
            (ReplyStatus.APPROVED, Reason.POSTING_PAUSED, 0)
        }
    # Stale as they are (stuck_after_s=0), the sweeper neither re-sends nor gives up on them.
    swept = sweep(db, deps.settings, bot_user["id"])
    assert swept.post == [] and swept.failed_replies == []
    assert bot_replies(sandbox.url, bot_user["id"]) == []
    with transaction(db) as s:
        ids, priorities = posting.resume(s, "alice")
    assert ids == [waiting[0], waiting[3], waiting[9]]
    assert priorities == {waiting[0]: 0, waiting[3]: 3, waiting[9]: 9}
    for reply_id in ids:
        assert post_reply(deps, reply_id) is not None
    assert len(bot_replies(sandbox.url, bot_user["id"])) == 3
