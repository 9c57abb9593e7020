"""The polling listener: mentions in, decisions and cursor committed together, then tasks out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import quotas
from bot.db import SessionFactory, transaction
from bot.gating import Decision, GatingRules, decide
from bot.metrics import DECISIONS
from bot.platform import (
    Author,
    Platform,
    Post,
    RateLimited,
    TransientPlatformError,
    snowflake_at,
    snowflake_time,
)
from bot.schema import (
    ListenerCursor,
    Mention,
    MentionStatus,
    PlatformUser,
    Reply,
    ReplyStatus,
    utcnow,
)
from bot.sql import insert_for
from bot.tiers import policies
from models.postprocess import strip_control_chars

log = structlog.get_logger(__name__)

READ_WINDOW_S = 900  # X's mentions limit is counted per 15 minutes


class TaskSender(Protocol):
    """Sends generate tasks; the CLI wires it to Celery (bot/ never imports workers/)."""

    def send_generate(
        self, mention_ids: Sequence[int], priorities: Mapping[int, int] | None = None
    ) -> None:
        """Queue generation for these committed mentions (0 = most urgent)."""
        ...

    def send_post(self, reply_ids: Sequence[int]) -> None:
        """Queue posting for these committed, approved replies."""
        ...


@dataclass
class PollResult:
    """What one poll saw and did."""

    fetched: int = 0
    new: int = 0
    accepted: list[int] = field(default_factory=list)
    priorities: dict[int, int] = field(default_factory=dict)
    upsells: list[int] = field(default_factory=list)
    ignored: int = 0
    complete: bool = True
    wait_s: float = 0.0


def upsert_author(session: Session, author: Author) -> int:
    """Insert or refresh a platform user; returns its row id."""
    now = utcnow()
    values = {
        "platform_id": author.platform_id,
        # Postgres rejects NUL in text: one such post must never block the whole poll.
        "username": strip_control_chars(author.username)[:64],
        "display_name": strip_control_chars(author.name)[:128],
        "subscription_type": author.subscription_type,
        "verified_type": author.verified_type,
        "updated_at": now,
    }
    stmt = insert_for(session, PlatformUser).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform_id"],
        set_={k: stmt.excluded[k] for k in values if k != "platform_id"},
    ).returning(PlatformUser.id)
    return int(session.execute(stmt).scalar_one())


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
    # The overlap window re-reads posts we have: skip them before deciding, so a mention
    # seen twice never takes a second quota unit.
    seen = (
        set(
            session.scalars(
                select(Mention.platform_post_id).where(
                    Mention.platform_post_id.in_([p.id for p in posts])
                )
            )
        )
        if posts
        else set()
    )
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
        user = session.get(PlatformUser, author_rows[author.platform_id])
        # A savepoint per mention: if another listener stored it first, its decision (and
        # the quota unit it took) is rolled back with the duplicate insert.
        savepoint = session.begin_nested()
        decision = decide(
            session, post, known, user if known else None, bot_user_id, rules, tier_policies, now
        )
        mention_id = _insert_mention(session, post, author_rows[author.platform_id], decision, now)
        if mention_id is None:
            savepoint.rollback()
            continue
        reply_id = None
        if decision.upsell_text:
            text = _upsell_text(decision.upsell_text, author.username)
            reply_id = _insert_upsell(session, mention_id, text, now)
        savepoint.commit()
        DECISIONS.labels(reason=decision.reason).inc()
        result.new += 1
        if decision.accepted:
            result.accepted.append(mention_id)
            result.priorities[mention_id] = decision.priority or 0
        elif reply_id is not None:
            result.upsells.append(reply_id)
        else:
            result.ignored += 1
        log.info(
            "mention.received",
            mention_id=mention_id,
            post_id=post.id,
            decision=decision.reason,
            tier=decision.tier,
        )
    return result


def _insert_mention(
    session: Session, post: Post, author_row: int, decision: Decision, now: datetime
) -> int | None:
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


def _upsell_text(template: str, username: str) -> str:
    """The operator's text with {username} filled in (and nothing else interpreted)."""
    return template.replace("{username}", username)


def _insert_upsell(session: Session, mention_id: int, text: str, now: datetime) -> int:
    """The operator's upsell text as the mention's one reply (no model involved)."""
    reply = Reply(
        mention_id=mention_id,
        text=text,
        status=ReplyStatus.APPROVED,
        model="upsell",
        moderation="auto",
        created_at=now,
        approved_at=now,
    )
    session.add(reply)
    session.flush()
    return reply.id


def advance_cursor(session: Session, bot_user_id: str, newest_id: str | None) -> None:
    """Move the cursor forward (never back) in the caller's transaction."""
    cursor = session.get(ListenerCursor, bot_user_id, with_for_update=True)
    if cursor is None:
        cursor = ListenerCursor(bot_user_id=bot_user_id, newest_id=None, polls=0)
        session.add(cursor)
    if newest_id and (cursor.newest_id is None or int(newest_id) > int(cursor.newest_id)):
        cursor.newest_id = newest_id
    cursor.polls = (cursor.polls or 0) + 1
    cursor.updated_at = utcnow()


class Listener:
    """Polls the mentions timeline of one bot account."""

    def __init__(
        self,
        platform: Platform,
        sessions: SessionFactory,
        sender: TaskSender,
        bot_user_id: str,
        *,
        page_size: int = 100,
        max_pages: int = 8,
        overlap_s: float = 60.0,
        poll_interval_s: float = 15.0,
        clock: Callable[[], float] = time.time,
        rules: GatingRules | None = None,
        read_budget_15m: int = 0,
    ) -> None:
        self.platform = platform
        self.sessions = sessions
        self.sender = sender
        self.bot_user_id = bot_user_id
        self.page_size = page_size
        self.max_pages = max_pages
        self.overlap_s = overlap_s
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self.rules = rules or GatingRules()
        self.read_budget_15m = read_budget_15m

    def _since_id(self) -> str | None:
        with transaction(self.sessions) as s:
            newest = s.scalar(
                select(ListenerCursor.newest_id).where(
                    ListenerCursor.bot_user_id == self.bot_user_id
                )
            )
        if newest is None:
            return None
        # Start a little behind the newest id: X can surface a post late, and a strict
        # since_id would skip it for good. The unique key makes the overlap free.
        return snowflake_at(snowflake_time(newest) - timedelta(seconds=self.overlap_s))

    def _take_read_budget(self) -> bool:
        """One mentions request from the bot account's read budget (0 means unlimited)."""
        if self.read_budget_15m <= 0:
            return True
        with transaction(self.sessions) as s:
            return quotas.take(
                s, f"read:{self.bot_user_id}:15m", READ_WINDOW_S, self.read_budget_15m, utcnow()
            )

    def _pace(self) -> float:
        """Seconds to wait before the next poll, from the last rate-limit headers."""
        rl = self.platform.rate_limit("mentions")
        if rl is None or rl.remaining > 0:
            return 0.0
        return max(0.0, rl.reset_at - self.clock()) + 1.0

    def poll_once(self) -> PollResult:
        """Fetch every new page, commit mentions + cursor together, then send tasks."""
        since_id = self._since_id()
        posts: list[Post] = []
        authors: dict[str, Author] = {}
        token: str | None = None
        complete = True
        wait_s = 0.0
        for _ in range(self.max_pages):
            if not self._take_read_budget():
                # Our own budget model (the same fixed windows as the posting budget) says
                # wait; X's headers may say so too, and _pace() takes the later of the two.
                complete = False
                now = self.clock()
                wait_s = max(wait_s, READ_WINDOW_S - now % READ_WINDOW_S + 1.0)
                log.info("listener.read_budget_spent", wait_s=round(wait_s, 1))
                break
            try:
                page = self.platform.mentions(
                    self.bot_user_id,
                    since_id=since_id,
                    pagination_token=token,
                    max_results=self.page_size,
                )
            except RateLimited as exc:
                complete = False
                wait_s = max(0.0, exc.reset_at - self.clock()) + 1.0
                log.warning("listener.rate_limited", wait_s=round(wait_s, 1))
                break
            except TransientPlatformError as exc:
                complete = False
                wait_s = self.poll_interval_s
                log.warning("listener.platform_error", error=str(exc))
                break
            posts.extend(page.posts)
            authors.update(page.authors)
            token = page.next_token
            if not token:
                break
        newest = max((p.id for p in posts), key=int, default=None)
        with transaction(self.sessions) as s:
            result = ingest(s, posts, authors, self.bot_user_id, self.rules)
            # An interrupted paging run keeps the old cursor: the next poll re-reads the gap,
            # and the unique key drops what this one already stored.
            advance_cursor(s, self.bot_user_id, newest if complete else None)
        # Only after commit: a worker must never see a task for a row it cannot read.
        if result.accepted:
            self.sender.send_generate(result.accepted, result.priorities)
        if result.upsells:
            self.sender.send_post(result.upsells)
        result.complete = complete
        result.wait_s = max(wait_s, self._pace())
        if result.new:
            log.info(
                "listener.poll",
                fetched=result.fetched,
                new=result.new,
                accepted=len(result.accepted),
                ignored=result.ignored,
            )
        return result

    def resend_queued(self) -> int:
        """Send tasks again for every queued mention (run at start-up).

        A listener killed between its commit and its sends leaves mentions queued with no
        task; the sweeper would find them after `stuck_after_s`, this finds them at once.
        A task sent twice is harmless: the worker's claim lets only one through.
        """
        with transaction(self.sessions) as s:
            ids = list(
                s.scalars(
                    select(Mention.id)
                    .where(Mention.status == MentionStatus.QUEUED)
                    .order_by(Mention.id)
                    .limit(10_000)
                )
            )
        if ids:
            self.sender.send_generate(ids)
            log.info("listener.resent_queued", count=len(ids))
        return len(ids)

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set; SIGTERM handlers set it."""
        log.info("listener.start", bot_user_id=self.bot_user_id)
        try:
            self.resend_queued()
        except Exception:
            log.exception("listener.resend_failed")
        while not stop.is_set():
            try:
                result = self.poll_once()
                wait = max(self.poll_interval_s, result.wait_s)
            except Exception:
                log.exception("listener.poll_failed")
                wait = self.poll_interval_s
            stop.wait(wait)
        log.info("listener.stop")
