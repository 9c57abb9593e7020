"""Storing what the listener read: authors, mentions with their decision, the upsell, the cursor.

Everything here runs in the caller's transaction (the listener's poll): a mention, its
decision, the quota unit it took and the cursor are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.dialect import insert_for
from bot.mentions.gating import Decision, GatingRules, decide
from bot.mentions.schema import ListenerCursor, Mention, PlatformUser
from bot.metrics import DECISIONS
from bot.platform.protocol import Author, Post
from bot.platform.snowflake import snowflake_time
from bot.replies.schema import Reply
from bot.subscribers.tiers import Policy, policies
from bot.vocab import MentionStatus, Moderation, ReplyStatus
from models.text import strip_control_chars

log = structlog.get_logger(__name__)


@dataclass
class PollResult:
    """What one poll saw and did."""

    fetched: int = 0
    new: int = 0
    accepted: list[int] = field(default_factory=list)
    priorities: dict[int, int] = field(default_factory=dict)
    upsells: list[int] = field(default_factory=list)
    upsell_priorities: dict[int, int] = field(default_factory=dict)
    ignored: int = 0
    complete: bool = True
    wait_s: float = 0.0


def upsert_author(session: Session, author: Author) -> int:
    """Insert or refresh a platform user; returns its row id."""
    values = {
        "platform_id": author.platform_id,
        # Postgres rejects NUL in text: one such post must never block the whole poll.
        "username": strip_control_chars(author.username)[:64],
        "display_name": strip_control_chars(author.name)[:128],
        "subscription_type": author.subscription_type,
        "verified_type": author.verified_type,
        "updated_at": utcnow(),
    }
    stmt = insert_for(session, PlatformUser).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform_id"],
        set_={k: stmt.excluded[k] for k in values if k != "platform_id"},
    ).returning(PlatformUser.id)
    return int(session.execute(stmt).scalar_one())


def insert_mention(
    session: Session, post: Post, author_row: int, decision: Decision, now: datetime
) -> int | None:
    """Store a mention in the state its decision puts it in; None if it was stored already."""
    if decision.accepted:
        status, stamps = MentionStatus.QUEUED, {"queued_at": now}
    elif decision.upsell_text:
        status, stamps = MentionStatus.ANSWERED, {"answered_at": now}
    else:
        status, stamps = MentionStatus.IGNORED, {"ignored_at": now}
    stmt = (
        insert_for(session, Mention)
        .values(
            platform_post_id=post.id,
            author_id=author_row,
            text=strip_control_chars(post.text),
            conversation_id=post.conversation_id,
            in_reply_to_post_id=post.in_reply_to_post_id,
            edit_root_id=post.edit_root,
            quoted_post_id=post.quoted_post_id,
            status=status,
            reason=decision.reason,
            tier=decision.tier,
            priority=decision.priority,
            quota_at=now if decision.quota_taken else None,
            posted_at=post.created_at or snowflake_time(post.id),
            received_at=now,
            **stamps,
        )
        .on_conflict_do_nothing(index_elements=["platform_post_id"])
        .returning(Mention.id)
    )
    mention_id = session.execute(stmt).scalar_one_or_none()
    return int(mention_id) if mention_id is not None else None


def upsell_text(template: str, username: str) -> str:
    """The operator's text with {username} filled in (and nothing else interpreted)."""
    return template.replace("{username}", username)


def insert_upsell(session: Session, mention_id: int, text: str, now: datetime) -> int:
    """The operator's upsell text as the mention's one reply (no model involved)."""
    reply = Reply(
        mention_id=mention_id,
        text=text,
        status=ReplyStatus.APPROVED,
        model="upsell",
        moderation=Moderation.AUTO,
        created_at=now,
        approved_at=now,
    )
    session.add(reply)
    session.flush()
    return reply.id


@dataclass(frozen=True)
class Stored:
    """A new mention as stored: its row, its decision, and its upsell reply if one was sent."""

    mention_id: int
    decision: Decision
    upsell_reply_id: int | None


def store_decided(
    session: Session,
    post: Post,
    author_row: int,
    author: Author | None,
    bot_user_id: str,
    rules: GatingRules,
    tier_policies: dict[str, Policy],
    now: datetime,
) -> Stored | None:
    """Decide a new mention and store it (with its upsell reply) under a savepoint.

    `author` is None when the platform did not describe the author. Returns None when another
    listener stored the mention first: its decision, and the quota unit it took, are then
    rolled back with the duplicate insert.
    """
    user = session.get(PlatformUser, author_row) if author is not None else None
    savepoint = session.begin_nested()
    decision = decide(session, post, author, user, bot_user_id, rules, tier_policies, now)
    mention_id = insert_mention(session, post, author_row, decision, now)
    if mention_id is None:
        savepoint.rollback()
        return None
    reply_id = None
    if decision.upsell_text and author is not None:
        text = upsell_text(decision.upsell_text, author.username)
        reply_id = insert_upsell(session, mention_id, text, now)
    savepoint.commit()
    return Stored(mention_id, decision, reply_id)


def ingest(
    session: Session,
    posts: Sequence[Post],
    authors: dict[str, Author],
    bot_user_id: str,
    rules: GatingRules | None = None,
) -> PollResult:
    """Store new mentions with their decision; duplicates are skipped by the unique key."""
    result = PollResult(fetched=len(posts))
    rules = rules or GatingRules()
    author_rows: dict[str, int] = {}
    now = utcnow()
    tier_policies = policies(session)
    seen = _stored(session, posts)
    # Oldest first, so row ids follow platform order.
    for post in sorted(posts, key=lambda p: int(p.id)):
        if post.id in seen:
            continue
        known = authors.get(post.author_id or "")
        author = known or Author(
            platform_id=post.author_id or "0", username=f"id{post.author_id or 0}"
        )
        if author.platform_id not in author_rows:
            author_rows[author.platform_id] = upsert_author(session, author)
        row = author_rows[author.platform_id]
        stored = store_decided(session, post, row, known, bot_user_id, rules, tier_policies, now)
        if stored is not None:
            _count(result, stored, post)
    return result


def _stored(session: Session, posts: Sequence[Post]) -> set[str]:
    """Post ids already stored.

    The overlap window re-reads posts we have: they are skipped before deciding, so a
    mention seen twice never takes a second quota unit.
    """
    if not posts:
        return set()
    return set(
        session.scalars(
            select(Mention.platform_post_id).where(
                Mention.platform_post_id.in_([p.id for p in posts])
            )
        )
    )


def _count(result: PollResult, stored: Stored, post: Post) -> None:
    decision = stored.decision
    DECISIONS.labels(reason=decision.reason).inc()
    result.new += 1
    if decision.accepted:
        result.accepted.append(stored.mention_id)
        result.priorities[stored.mention_id] = decision.priority or 0
    elif stored.upsell_reply_id is not None:
        result.upsells.append(stored.upsell_reply_id)
        if decision.priority is not None:
            result.upsell_priorities[stored.upsell_reply_id] = decision.priority
    else:
        result.ignored += 1
    log.info(
        "mention.received",
        mention_id=stored.mention_id,
        post_id=post.id,
        decision=decision.reason,
        tier=decision.tier,
    )


def advance_cursor(
    session: Session,
    bot_user_id: str,
    newest_id: str | None,
    gap: tuple[str | None, str | None] | None = None,
) -> None:
    """Move the cursor forward (never back) in the caller's transaction; `gap`, when given,
    replaces the unread range (since, until) (None, None) clears it."""
    cursor = session.get(ListenerCursor, bot_user_id, with_for_update=True)
    if cursor is None:
        cursor = ListenerCursor(bot_user_id=bot_user_id, newest_id=None, polls=0)
        session.add(cursor)
    if newest_id and (cursor.newest_id is None or int(newest_id) > int(cursor.newest_id)):
        cursor.newest_id = newest_id
    if gap is not None:
        cursor.gap_since_id, cursor.gap_until_id = gap
    cursor.polls = (cursor.polls or 0) + 1
    cursor.updated_at = utcnow()
