"""The review services on real Postgres (rolled back per test): claims, every action, bulk,
expiry, and the audit log each one writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.mentions.schema import Mention
from bot.moderation import review
from bot.moderation.review import ReviewRefused
from bot.moderation.schema import AuditEntry
from bot.replies.claims import expire_reviews
from bot.replies.schema import Reply, ReplyFlag
from bot.subscribers.tiers import effective_tier
from bot.vocab import BLOCKED, Decision, MentionStatus, Reason, ReplyStatus
from models.postprocess import ReplyPolicy
from tests.fixtures.factories.mentions import new_author, user_of
from tests.fixtures.factories.moderation import reviewer
from tests.fixtures.factories.replies import pending_reply


@pytest.fixture()
def s(db: sessionmaker[Session]) -> Iterator[Session]:
    with db() as session:
        yield session


def _pending(s: Session, text: str = "Canberra is the capital.", **kw: Any) -> Reply:
    return pending_reply(s, user_of(s, new_author("Basic")).id, text, **kw)


def _audit(s: Session, reply_id: int) -> list[tuple[str, str, str | None, str | None]]:
    rows = s.execute(
        select(AuditEntry.actor, AuditEntry.action, AuditEntry.before_text, AuditEntry.after_text)
        .where(AuditEntry.reply_id == reply_id)
        .order_by(AuditEntry.id)
    )
    return [tuple(r) for r in rows]


def test_a_claim_keeps_a_second_moderator_out_until_it_lapses(s: Session) -> None:
    reply = _pending(s)
    alice, bob = reviewer("alice"), reviewer("bob")
    assert review.claim(s, reply.id, alice).held
    refused = review.claim(s, reply.id, bob)
    assert (refused.held, refused.holder) == (False, "alice")
    with pytest.raises(ReviewRefused, match="alice is reviewing this reply"):
        review.approve(s, reply.id, bob)
    # The claim lapses: later, bob may take the item.
    later = reviewer("bob", now=utcnow() + timedelta(seconds=301))
    assert review.claim(s, reply.id, later).held
    with pytest.raises(ReviewRefused, match="bob is reviewing"):
        review.approve(s, reply.id, reviewer("alice", now=later.now))


def test_approve_records_who_and_hands_the_reply_on(s: Session) -> None:
    reply = _pending(s, priority=6)
    handoff = review.approve(s, reply.id, reviewer("alice"))
    assert (handoff.reply_id, handoff.priority) == (reply.id, 6)
    s.refresh(reply)
    assert (reply.status, reply.decided_by, reply.claimed_by) == (
        ReplyStatus.APPROVED,
        "alice",
        None,
    )
    assert reply.approved_at is not None and reply.decided_at is not None
    assert _audit(s, reply.id) == [("alice", "approve", None, "Canberra is the capital.")]
    with pytest.raises(ReviewRefused, match="no longer waiting"):
        review.approve(s, reply.id, reviewer("alice"))


def test_edit_checks_the_length_and_applies_the_output_rules(s: Session) -> None:
    reply = _pending(s)
    rules = ReplyPolicy()
    with pytest.raises(ReviewRefused, match="weighted characters; X allows 280"):
        review.edit_and_approve(s, reply.id, reviewer("alice"), "x" * 281, rules)
    with pytest.raises(ReviewRefused, match="nothing is left"):
        review.edit_and_approve(s, reply.id, reviewer("alice"), "@a @b", rules)
    s.refresh(reply)
    assert reply.status == ReplyStatus.PENDING_REVIEW  # refused edits change nothing
    handoff = review.edit_and_approve(
        s, reply.id, reviewer("alice"), "Yes: see https://evil.example/x for more.", rules
    )
    assert "urls_removed" in handoff.changes
    s.refresh(reply)
    assert (reply.status, reply.text) == (ReplyStatus.APPROVED, "Yes: see for more.")
    assert _audit(s, reply.id) == [
        ("alice", "edit", "Canberra is the capital.", "Yes: see for more.")
    ]


def test_reject_needs_a_reason_and_gives_the_quota_back(s: Session) -> None:
    reply = _pending(s)
    with pytest.raises(ReviewRefused, match="must say why"):
        review.reject(s, reply.id, reviewer("alice"), "  ")
    review.reject(s, reply.id, reviewer("alice"), "wrong")
    s.refresh(reply)
    assert (reply.status, reply.reason, reply.detail) == (
        ReplyStatus.REJECTED,
        Reason.MODERATOR_REJECTED,
        "wrong",
    )
    assert s.scalar(select(Mention.quota_at).where(Mention.id == reply.mention_id)) is None


def test_regenerate_requeues_the_mention_and_keeps_the_old_text(s: Session) -> None:
    reply = _pending(s, "a bad answer")
    s.add(ReplyFlag(reply_id=reply.id, flag="truncated"))
    s.flush()
    handoff = review.regenerate(s, reply.id, reviewer("alice"))
    assert s.get(Reply, reply.id, populate_existing=True) is None
    mention = s.get(Mention, handoff.mention_id, populate_existing=True)
    assert mention is not None
    assert (mention.status, mention.decision, mention.reason) == (
        MentionStatus.QUEUED,
        Decision.ACCEPTED,
        None,
    )
    assert mention.quota_at is not None  # the unit stays taken: the user is still answered
    assert _audit(s, reply.id) == [("alice", "regenerate", "a bad answer", None)]


def test_block_author_blocks_and_rejects(s: Session) -> None:
    reply = _pending(s)
    review.block_author(s, reply.id, reviewer("alice"), "harassment")
    s.refresh(reply)
    assert reply.status == ReplyStatus.REJECTED
    author = reply.mention.author
    assert effective_tier(s, author) == BLOCKED
    actions = [a for _, a, _, _ in _audit(s, reply.id)]
    assert actions == ["block", "reject"]


def test_bulk_does_the_free_items_and_reports_the_held_one(s: Session) -> None:
    a, b, c = (_pending(s, f"answer {i}") for i in range(3))
    assert review.claim(s, b.id, reviewer("bob")).held
    result = review.bulk(s, [a.id, b.id, c.id, a.id], "approve", reviewer("alice"))
    assert [h.reply_id for h in result.done] == [a.id, c.id]
    assert list(result.refused) == [b.id] and "bob is reviewing" in result.refused[b.id]
    rows = s.execute(select(Reply.id, Reply.status).where(Reply.id.in_([a.id, b.id, c.id])))
    statuses = {reply_id: status for reply_id, status in rows}
    assert statuses == {
        a.id: ReplyStatus.APPROVED,
        b.id: ReplyStatus.PENDING_REVIEW,
        c.id: ReplyStatus.APPROVED,
    }
    with pytest.raises(ReviewRefused, match="must say why"):
        review.bulk(s, [b.id], "reject", reviewer("alice"))


def test_expired_reviews_are_rejected_and_the_quota_goes_back(s: Session) -> None:
    old, fresh = _pending(s, "old"), _pending(s, "fresh")
    now = utcnow()
    expired = expire_reviews(s, deadline=now + timedelta(seconds=1), now=now)
    assert set(expired) >= {old.id, fresh.id}
    s.refresh(old)
    assert (old.status, old.reason) == (ReplyStatus.REJECTED, Reason.REVIEW_EXPIRED)
    assert s.scalar(select(Mention.quota_at).where(Mention.id == old.mention_id)) is None
    young = _pending(s, "young")
    assert expire_reviews(s, deadline=now - timedelta(hours=6), now=now) == []
    s.refresh(young)
    assert young.status == ReplyStatus.PENDING_REVIEW


def test_the_audit_log_refuses_updates_and_deletes(s: Session) -> None:
    reply = _pending(s)
    review.approve(s, reply.id, reviewer("alice"))
    s.flush()
    count = s.scalar(select(func.count()).select_from(AuditEntry))
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        savepoint = s.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            s.execute(text(statement))
        savepoint.rollback()
    assert s.scalar(select(func.count()).select_from(AuditEntry)) == count
