"""The claims: conditional UPDATEs that move a mention or a reply from one state to the next.

A conditional UPDATE is the claim, not a read before it: two workers given the same id run
the same statement and only one gets a row back. Every function runs in the caller's
transaction; the unique constraints are the last line of defence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from bot import metrics
from bot.mentions.schema import Mention
from bot.replies.schema import Reply
from bot.subscribers import quotas
from bot.vocab import EffectiveTier, MentionStatus, Reason, ReplyStatus

log = structlog.get_logger(__name__)

DETAIL_MAX = 500


@dataclass(frozen=True)
class ClaimedMention:
    """What the generate service needs of the mention it claimed."""

    text: str
    in_reply_to: str | None
    author_row: int
    tier: EffectiveTier | None
    quoted: str | None = None  # the post a quote post quotes


@dataclass(frozen=True)
class ClaimedReply:
    """What the post service needs of the reply it claimed."""

    text: str
    attempts: int
    mention_id: int


@dataclass(frozen=True)
class Flight:
    """Where rows of one table wait for their task, where a task holds them, where they fail."""

    table: Any  # Mention or Reply
    waiting: MentionStatus | ReplyStatus  # queued, approved
    waiting_since: Any  # the column stamped when it (last) started waiting
    running: MentionStatus | ReplyStatus  # generating, posting
    running_since: Any
    failed: MentionStatus | ReplyStatus
    failed_event: str  # the log event of a failure, with the row's id as `<kind>_id`
    kind: str
    mention_id: Any  # the column that names the mention whose quota unit a failure returns


MENTIONS = Flight(
    Mention,
    MentionStatus.QUEUED,
    Mention.queued_at,
    MentionStatus.GENERATING,
    Mention.generating_at,
    MentionStatus.FAILED,
    "mention.failed",
    "mention",
    Mention.id,
)
REPLIES = Flight(
    Reply,
    ReplyStatus.APPROVED,
    Reply.approved_at,
    ReplyStatus.POSTING,
    Reply.posting_at,
    ReplyStatus.POST_FAILED,
    "reply.post_failed",
    "reply",
    Reply.mention_id,
)


def _claim(
    s: Session, flight: Flight, row_id: int, stale_before: datetime, now: datetime, *returning: Any
) -> Any:
    """waiting (or running for too long: its worker died) → running, counting an attempt."""
    t = flight.table
    return s.execute(
        update(t)
        .where(
            t.id == row_id,
            or_(
                t.status == flight.waiting,
                and_(t.status == flight.running, flight.running_since < stale_before),
            ),
        )
        .values({t.status: flight.running, flight.running_since: now, t.attempts: t.attempts + 1})
        .returning(*returning)
    ).first()


def claim_mention(
    s: Session, mention_id: int, stale_before: datetime, now: datetime
) -> ClaimedMention | None:
    """queued (or generating for too long) → generating, counting an attempt."""
    row = _claim(
        s,
        MENTIONS,
        mention_id,
        stale_before,
        now,
        Mention.text,
        Mention.in_reply_to_post_id,
        Mention.author_id,
        Mention.tier,
        Mention.quoted_post_id,
    )
    return ClaimedMention(*row) if row is not None else None


def release_mention(s: Session, mention_id: int, now: datetime) -> None:
    """generating → queued: hand the claim back after a transient failure."""
    s.execute(
        update(Mention)
        .where(Mention.id == mention_id, Mention.status == MentionStatus.GENERATING)
        .values(status=MentionStatus.QUEUED, queued_at=now)
    )


def touch_queued(s: Session, mention_id: int, now: datetime) -> None:
    """Note that a queued mention's task was just sent again (keeps the sweeper away)."""
    s.execute(
        update(Mention)
        .where(Mention.id == mention_id, Mention.status == MentionStatus.QUEUED)
        .values(queued_at=now)
    )


def answer_mention(s: Session, mention_id: int, now: datetime) -> None:
    """generating → answered: its reply is stored."""
    s.execute(
        update(Mention)
        .where(Mention.id == mention_id, Mention.status == MentionStatus.GENERATING)
        .values(status=MentionStatus.ANSWERED, answered_at=now)
    )


def fail_mention(s: Session, mention_id: int, reason: Reason, detail: str, now: datetime) -> bool:
    """queued | generating → failed, the quota unit given back; False if already final."""
    return _fail(s, MENTIONS, mention_id, reason, detail, now)


def claim_reply(
    s: Session, reply_id: int, stale_before: datetime, now: datetime
) -> ClaimedReply | None:
    """approved (or posting for too long) → posting, counting an attempt."""
    row = _claim(
        s, REPLIES, reply_id, stale_before, now, Reply.text, Reply.attempts, Reply.mention_id
    )
    return ClaimedReply(*row) if row is not None else None


# Why an approved reply may wait without being stuck: waiting is not an attempt, and the
# sweeper releases these when they can go, in priority order, never giving up on them
# (until they are too old to matter: reply_max_age_s).
WAIT_REASONS = (
    Reason.WAITING_BUDGET,
    Reason.RATE_LIMITED,
    Reason.POSTING_PAUSED,
    Reason.CREDITS_DEPLETED,
    Reason.USAGE_CAPPED,
)
# Waits that end at a known time (wait_until): X's window resets, or the next pay-per-use probe.
TIMED_WAITS = (Reason.RATE_LIMITED, Reason.CREDITS_DEPLETED, Reason.USAGE_CAPPED)


def release_reply(
    s: Session,
    reply_id: int,
    now: datetime,
    reason: Reason | None = None,
    *,
    wait_until: datetime | None = None,
    attempt_counts: bool = True,
) -> None:
    """posting → approved, to be claimed again; with `reason` when it waits for something.

    `attempt_counts=False` gives the claim's attempt back: nothing reached the platform
    (no budget, or a 429), so a later claim must not treat this one as a try that may have
    been posted.
    """
    values: dict[str, object] = {"status": ReplyStatus.APPROVED, "approved_at": now}
    if reason is not None:
        values["reason"] = reason
        values["wait_until"] = wait_until
    if not attempt_counts:
        values["attempts"] = Reply.attempts - 1
    s.execute(
        update(Reply)
        .where(Reply.id == reply_id, Reply.status == ReplyStatus.POSTING)
        .values(**values)
    )


def mark_waiting(
    s: Session, reply_id: int, reason: Reason, wait_until: datetime | None = None
) -> None:
    """An approved reply waits (for the posting switch, a known reset) without a claim."""
    s.execute(
        update(Reply)
        .where(Reply.id == reply_id, Reply.status == ReplyStatus.APPROVED)
        .values(reason=reason, wait_until=wait_until)
    )


def mark_posted(s: Session, reply_id: int, post_id: str, how: Reason | None, now: datetime) -> None:
    """posting → posted, with the platform's id and how it went out when not as asked
    (reconciled: found on X; thread_cut: its later parts were refused)."""
    done = s.execute(
        update(Reply)
        .where(Reply.id == reply_id, Reply.status == ReplyStatus.POSTING)
        .values(status=ReplyStatus.POSTED, platform_post_id=post_id, posted_at=now, reason=how)
    )
    if done.rowcount:  # type: ignore[attr-defined]
        metrics.POSTS.labels(outcome=how or ReplyStatus.POSTED).inc()


def fail_reply(s: Session, reply_id: int, reason: Reason, detail: str, now: datetime) -> bool:
    """approved | posting → post_failed, the quota unit given back; False if posted meanwhile."""
    return _fail(s, REPLIES, reply_id, reason, detail, now)


def end(
    s: Session, flight: Flight, row_id: int, reason: Reason, detail: str, now: datetime
) -> bool:
    """End an in-flight (or waiting) mention or reply with a reason, the quota unit back."""
    return _fail(s, flight, row_id, reason, detail, now)


def _fail(
    s: Session,
    flight: Flight,
    row_id: int,
    reason: Reason,
    detail: str,
    now: datetime,
) -> bool:
    """End an in-flight mention or reply with a reason and give its mention's unit back.

    The system failed this user, not the other way round: the quota unit goes back. A row
    already final (answered, posted) is left alone, and nothing is given back.
    """
    t = flight.table
    mention_id = s.execute(
        update(t)
        .where(t.id == row_id, t.status.in_([flight.waiting, flight.running]))
        .values(status=flight.failed, reason=reason, detail=detail[:DETAIL_MAX], failed_at=now)
        .returning(flight.mention_id)
    ).scalar_one_or_none()
    if mention_id is None:
        return False
    refund_quota(s, mention_id)
    log.warning(
        flight.failed_event, reason=reason, detail=detail[:200], **{f"{flight.kind}_id": row_id}
    )
    metrics.failed(flight.kind, reason)
    return True


def expire_reviews(s: Session, deadline: datetime, now: datetime) -> list[int]:
    """pending_review since before `deadline` → rejected (review_expired), units given back.

    An answer to a day-old post helps nobody; the system, not the user, failed to answer.
    """
    expired = list(
        s.execute(
            update(Reply)
            .where(Reply.status == ReplyStatus.PENDING_REVIEW, Reply.created_at < deadline)
            .values(
                status=ReplyStatus.REJECTED,
                reason=Reason.REVIEW_EXPIRED,
                decided_at=now,
                claimed_by=None,
                claimed_until=None,
            )
            .returning(Reply.id, Reply.mention_id)
        ).tuples()
    )
    for _reply_id, mention_id in expired:
        refund_quota(s, mention_id)
    if expired:
        log.info("review.expired", replies=len(expired))
    return [reply_id for reply_id, _ in expired]


def refund_quota(s: Session, mention_id: int) -> bool:
    """Give back the quota unit a mention took (the system failed it, not the user).

    The row lock and the guarded clear of `quota_at` make a second refund a no-op.
    """
    row = s.execute(
        select(Mention.author_id, Mention.quota_at)
        .where(Mention.id == mention_id)
        .with_for_update()
    ).first()
    if row is None or row.quota_at is None:
        return False
    cleared = s.execute(
        update(Mention)
        .where(Mention.id == mention_id, Mention.quota_at.is_not(None))
        .values(quota_at=None)
    )
    if not cleared.rowcount:  # type: ignore[attr-defined]
        return False
    quotas.give_back_reply_quota(s, row.author_id, row.quota_at)
    return True
