"""The sweeper: hand back what got stuck in flight, release what waited, end what is too old.

Redis keeps nothing on disk, so a lost message is normal: whatever sat queued or in flight
past `stuck_after_s` is sent again, until `max_attempts` sweeps, then it ends with a reason
(and the user's quota unit goes back). A reply that waits for something known (the posting
budget, a rate-limit reset, an admin's pause) is never stuck: it is released, most urgent
tier first, when it can go, or ends `too_old` after `reply_max_age_s`; one that waits for X
to take posts again (pay-per-use) is released at its probe time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.engine import SessionFactory, transaction
from bot.mentions.schema import Mention
from bot.replies import claims
from bot.replies.claims import MENTIONS, REPLIES, TIMED_WAITS, WAIT_REASONS, Flight
from bot.replies.post import post_budget_left, posting_paused
from bot.replies.schema import Reply
from bot.settings import Settings
from bot.vocab import Reason, ReplyStatus

log = structlog.get_logger(__name__)

SWEEP_BATCH = 500
# A waiting reply released less than this long ago is not released again (its task is on
# its way); the same spacing the stuck check gets from stuck_after_s, much shorter.
RELEASE_EVERY_S = 20.0


@dataclass
class SweepResult:
    """What one sweep sent again (with the priorities to send them at) or ended."""

    generate: list[int] = field(default_factory=list)
    post: list[int] = field(default_factory=list)
    failed_mentions: list[int] = field(default_factory=list)
    failed_replies: list[int] = field(default_factory=list)
    expired_reviews: list[int] = field(default_factory=list)
    too_old: list[int] = field(default_factory=list)
    priorities: dict[str, dict[int, int]] = field(
        default_factory=lambda: {"generate": {}, "post": {}}
    )


def _in_flight(flight: Flight, stale: datetime) -> Any:
    """Rows of the flight that waited or ran past `stale` (a waiting reply is not stuck)."""
    t = flight.table
    waited = and_(t.status == flight.waiting, flight.waiting_since < stale)
    if flight is REPLIES:
        waited = and_(waited, or_(Reply.reason.is_(None), Reply.reason.not_in(WAIT_REASONS)))
    return or_(waited, and_(t.status == flight.running, flight.running_since < stale))


def _priority_of(flight: Flight) -> Any:
    if flight is MENTIONS:
        return Mention.priority
    return select(Mention.priority).where(Mention.id == Reply.mention_id).scalar_subquery()


def _sweep_stuck(
    s: Session, flight: Flight, stale: datetime, now: datetime, max_attempts: int
) -> tuple[dict[int, int | None], list[int]]:
    """({id: priority} to send again, ids given up on) among the rows stuck in this flight."""
    t = flight.table
    stuck = s.execute(
        select(t.id, t.attempts, _priority_of(flight))
        .where(_in_flight(flight, stale))
        .limit(SWEEP_BATCH)
        .with_for_update(of=t, skip_locked=True)
    ).all()
    resend: dict[int, int | None] = {}
    failed: list[int] = []
    for row_id, attempts, priority in stuck:
        if attempts >= max_attempts:
            # Through the claims' one failure path: the quota unit goes back with it.
            claims.end(s, flight, row_id, Reason.STUCK, f"gave up after {attempts} attempts", now)
            failed.append(row_id)
            continue
        # The waiting time doubles as "last sent": the next sweep waits a full period
        # again, and the next claim counts an attempt (a reply reconciles first).
        values = {t.status: flight.waiting, flight.waiting_since: now}
        s.execute(update(t).where(t.id == row_id).values(values))
        resend[row_id] = priority
    return resend, failed


def _ready_to_post(
    s: Session, settings: Settings, bot_user_id: str, now: datetime
) -> dict[int, int | None]:
    """Waiting replies that can go now, most urgent first, as many as the budget allows."""
    left = post_budget_left(s, settings, bot_user_id, now)
    if left <= 0:
        return {}
    ready = or_(
        Reply.reason.in_([Reason.WAITING_BUDGET, Reason.POSTING_PAUSED]),
        and_(Reply.reason.in_(TIMED_WAITS), Reply.wait_until <= now),
    )
    rows = s.execute(
        select(Reply.id, Mention.priority)
        .join(Mention, Mention.id == Reply.mention_id)
        .where(
            Reply.status == ReplyStatus.APPROVED,
            ready,
            Reply.approved_at < now - timedelta(seconds=RELEASE_EVERY_S),
        )
        .order_by(Mention.priority.asc().nulls_last(), Reply.id)
        .limit(left)
    ).all()
    if rows:
        s.execute(update(Reply).where(Reply.id.in_([r.id for r in rows])).values(approved_at=now))
    return {r.id: r.priority for r in rows}


def _too_old(s: Session, settings: Settings, now: datetime) -> list[int]:
    """End approved replies to mentions older than reply_max_age_s (quota given back)."""
    cutoff = now - timedelta(seconds=settings.reply_max_age_s)
    old = s.scalars(
        select(Reply.id)
        .join(Mention, Mention.id == Reply.mention_id)
        .where(Reply.status == ReplyStatus.APPROVED, Mention.posted_at < cutoff)
        .limit(SWEEP_BATCH)
    ).all()
    for reply_id in old:
        claims.end(s, REPLIES, reply_id, Reason.TOO_OLD, "the mention is too old to answer", now)
    return list(old)


def _add(result: SweepResult, kind: str, found: dict[int, int | None]) -> None:
    ids = result.generate if kind == "generate" else result.post
    for row_id, priority in found.items():
        if row_id not in ids:
            ids.append(row_id)
        if priority is not None:
            result.priorities[kind][row_id] = priority


def sweep(
    sessions: SessionFactory, settings: Settings, bot_user_id: str | None = None
) -> SweepResult:
    """One pass over everything in flight or waiting."""
    result = SweepResult()
    now = utcnow()
    stale = now - timedelta(seconds=settings.stuck_after_s)
    with transaction(sessions) as s:
        resend, result.failed_mentions = _sweep_stuck(
            s, MENTIONS, stale, now, settings.max_attempts
        )
        _add(result, "generate", resend)
        review_deadline = now - timedelta(seconds=settings.review_ttl_s)
        result.expired_reviews = claims.expire_reviews(s, review_deadline, now)
        result.too_old = _too_old(s, settings, now)
        # While posting is paused, replies wait where they are: nothing is sent again or
        # given up on (waiting for an admin is not an attempt).
        if not posting_paused(s):
            resend, result.failed_replies = _sweep_stuck(
                s, REPLIES, stale, now, settings.max_attempts
            )
            _add(result, "post", resend)
            if bot_user_id:
                _add(result, "post", _ready_to_post(s, settings, bot_user_id, now))
    counts = {name: len(v) for name, v in vars(result).items() if isinstance(v, list)}
    if any(counts.values()):
        log.info("sweep.done", **counts)
    return result
