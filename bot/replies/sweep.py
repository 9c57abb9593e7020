"""The sweeper: find mentions and replies stuck in flight and hand them back for another task.

Redis keeps nothing on disk, so a lost message is normal: whatever sat queued or in flight
past `stuck_after_s` is sent again, until `max_attempts` sweeps, then it ends with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.engine import SessionFactory, transaction
from bot.mentions.schema import Mention
from bot.replies import claims
from bot.replies.claims import MENTIONS, REPLIES, Flight
from bot.replies.post import post_budget_left, posting_paused
from bot.replies.schema import Reply
from bot.settings import Settings
from bot.vocab import Reason, ReplyStatus

log = structlog.get_logger(__name__)

SWEEP_BATCH = 500


@dataclass
class SweepResult:
    """What one sweep re-sent or gave up on."""

    generate: list[int] = field(default_factory=list)
    post: list[int] = field(default_factory=list)
    failed_mentions: list[int] = field(default_factory=list)
    failed_replies: list[int] = field(default_factory=list)
    expired_reviews: list[int] = field(default_factory=list)


def _sweep_stuck(
    s: Session, flight: Flight, stale: datetime, now: datetime, max_attempts: int
) -> tuple[list[int], list[int]]:
    """(ids to send again, ids given up on) among the rows stuck in this flight."""
    table = flight.table
    stuck = s.execute(
        select(table.id, table.attempts)
        .where(
            or_(
                and_(table.status == flight.waiting, flight.waiting_since < stale),
                and_(table.status == flight.running, flight.running_since < stale),
            )
        )
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    resend: list[int] = []
    failed: list[int] = []
    for row_id, attempts in stuck:
        if attempts >= max_attempts:
            values = {
                "status": flight.failed,
                "reason": Reason.STUCK,
                "detail": f"gave up after {attempts} attempts",
                "failed_at": now,
            }
            failed.append(row_id)
        else:
            # The waiting time doubles as "last sent": the next sweep waits a full period
            # again, and the next claim counts an attempt (a reply reconciles first).
            values = {"status": flight.waiting, flight.waiting_since.key: now}
            resend.append(row_id)
        s.execute(update(table).where(table.id == row_id).values(**values))
    return resend, failed


def _waiting_for_budget(
    s: Session, settings: Settings, bot_user_id: str, now: datetime
) -> list[int]:
    """Replies waiting for the posting budget, as many as it has room for, by priority."""
    left = post_budget_left(s, settings, bot_user_id, now)
    if left <= 0:
        return []
    return list(
        s.scalars(
            select(Reply.id)
            .join(Mention, Mention.id == Reply.mention_id)
            .where(Reply.status == ReplyStatus.APPROVED, Reply.reason == Reason.WAITING_BUDGET)
            .order_by(Mention.priority.asc().nulls_last(), Reply.id)
            .limit(left)
        )
    )


def sweep(
    sessions: SessionFactory, settings: Settings, bot_user_id: str | None = None
) -> SweepResult:
    """Find mentions and replies stuck in flight and hand them back for another task."""
    result = SweepResult()
    now = utcnow()
    stale = now - timedelta(seconds=settings.stuck_after_s)
    with transaction(sessions) as s:
        result.generate, result.failed_mentions = _sweep_stuck(
            s, MENTIONS, stale, now, settings.max_attempts
        )
        review_deadline = now - timedelta(seconds=settings.review_ttl_s)
        result.expired_reviews = claims.expire_reviews(s, review_deadline, now)
        # While posting is paused, replies wait where they are: nothing is sent again or
        # given up on (waiting for an admin is not an attempt).
        if not posting_paused(s):
            result.post, result.failed_replies = _sweep_stuck(
                s, REPLIES, stale, now, settings.max_attempts
            )
            if bot_user_id:
                for reply_id in _waiting_for_budget(s, settings, bot_user_id, now):
                    if reply_id not in result.post:
                        result.post.append(reply_id)
    if any(vars(result).values()):
        log.info("sweep.done", **{name: len(ids) for name, ids in vars(result).items()})
    return result
