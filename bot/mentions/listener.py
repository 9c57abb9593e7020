"""The polling listener: mentions in, decisions and cursor committed together, then tasks out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy import select

from bot import metrics
from bot.db.base import utcnow
from bot.db.engine import SessionFactory, transaction
from bot.mentions.gating import GatingRules
from bot.mentions.ingest import PollResult, advance_cursor, ingest
from bot.mentions.schema import ListenerCursor, Mention
from bot.platform.protocol import (
    AuthFailed,
    Author,
    CreditsExhausted,
    Platform,
    Post,
    RateLimited,
    TransientPlatformError,
)
from bot.platform.snowflake import snowflake_at, snowflake_time
from bot.sender import TaskSender
from bot.subscribers import quotas
from bot.vocab import MentionStatus

log = structlog.get_logger(__name__)

READ_WINDOW_S = 900  # X's mentions limit is counted per 15 minutes


Gap = tuple[str | None, str]  # (since_id, until_id): a part of the timeline not read yet


@dataclass
class _Read:
    """What one paging run fetched, and whether it reached the end."""

    posts: list[Post] = field(default_factory=list)
    authors: dict[str, Author] = field(default_factory=dict)
    complete: bool = True
    wait_s: float = 0.0
    pages: int = 0

    def newest(self) -> str | None:
        return max((p.id for p in self.posts), key=int, default=None)

    def oldest(self) -> str | None:
        return min((p.id for p in self.posts), key=int, default=None)


def next_gap(
    since: str | None, gap: Gap | None, back: _Read | None, fresh: _Read | None
) -> Gap | None:
    """The unread part of the timeline after this poll.

    X pages newest first, so a run cut short (page cap, rate limit) has read the newest
    posts and left (its since_id, the oldest post it read) unread. The cursor still moves to
    the newest post read, and the next polls read the gap (`back`, with since_id/until_id)
    before anything new, until it closes: each poll continues where the last one stopped.
    """
    if back is not None and gap is not None:
        if not back.complete:
            oldest = back.oldest()
            return gap if oldest is None else (gap[0], oldest)
        gap = None
    if fresh is not None and not fresh.complete and (oldest := fresh.oldest()) is not None:
        return (since, oldest)
    return gap


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
        overlap_every_s: float = 30.0,
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
        self.overlap_every_s = overlap_every_s
        self._overlapped_at: float | None = None
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self.rules = rules or GatingRules()
        self.read_budget_15m = read_budget_15m

    def cursor(self) -> tuple[str | None, Gap | None]:
        """(since_id for new posts, the unread gap if an earlier poll left one)."""
        with transaction(self.sessions) as s:
            row = s.execute(
                select(
                    ListenerCursor.newest_id,
                    ListenerCursor.gap_since_id,
                    ListenerCursor.gap_until_id,
                ).where(ListenerCursor.bot_user_id == self.bot_user_id)
            ).first()
        if row is None:
            return None, None
        newest, gap_since, gap_until = row
        gap = (gap_since, gap_until) if gap_until is not None else None
        if newest is None:
            return None, gap
        # Every overlap_every_s, start a little behind the newest id: X can surface a post
        # late, and a strict since_id would skip it for good (the unique key drops what was
        # read already). Not on every poll: at 20 mentions a second a minute's overlap is
        # 1,200 posts read again each time, eight pages of the poll's budget.
        now = self.clock()
        if self._overlapped_at is not None and now - self._overlapped_at < self.overlap_every_s:
            return newest, gap
        self._overlapped_at = now
        return snowflake_at(snowflake_time(newest) - timedelta(seconds=self.overlap_s)), gap

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

    def _read(self, since_id: str | None, until_id: str | None, max_pages: int) -> _Read:
        """Page through the timeline between the ids, as far as budget and X allow."""
        read = _Read()
        token: str | None = None
        for _ in range(max_pages):
            if not self._take_read_budget():
                # Our own budget model (the same fixed windows as the posting budget) says
                # wait; X's headers may say so too, and _pace() takes the later of the two.
                read.complete = False
                read.wait_s = READ_WINDOW_S - self.clock() % READ_WINDOW_S + 1.0
                log.info("listener.read_budget_spent", wait_s=round(read.wait_s, 1))
                break
            try:
                page = self.platform.mentions(
                    self.bot_user_id,
                    since_id=since_id,
                    until_id=until_id,
                    pagination_token=token,
                    max_results=self.page_size,
                )
            except RateLimited as exc:
                read.complete = False
                read.wait_s = max(0.0, exc.reset_at - self.clock()) + 1.0
                log.warning("listener.rate_limited", wait_s=round(read.wait_s, 1))
                break
            except CreditsExhausted as exc:
                # Pay-per-use: X reads nothing until the account can pay. Poll again at the
                # probe time (the platform logs the pause once and answers meanwhile).
                read.complete = False
                read.wait_s = max(0.0, exc.until - self.clock())
                break
            except TransientPlatformError as exc:
                read.complete = False
                read.wait_s = self.poll_interval_s
                log.warning("listener.platform_error", error=str(exc))
                break
            read.pages += 1
            read.posts.extend(page.posts)
            read.authors.update(page.authors)
            token = page.next_token
            if not token:
                break
        else:
            # The page cap, with pages left: the rest is a gap for the next polls.
            read.complete = token is None
        return read

    def poll_once(self) -> PollResult:
        """Fetch every new page, commit mentions + cursor together, then send tasks."""
        since, gap = self.cursor()
        back = self._read(gap[0], gap[1], self.max_pages) if gap is not None else None
        fresh: _Read | None = None
        if back is None or (back.complete and back.pages < self.max_pages):
            fresh = self._read(since, None, self.max_pages - (back.pages if back else 0))
        new_gap = next_gap(since, gap, back, fresh)
        read = _merged(back or _Read(), fresh or _Read())
        with transaction(self.sessions) as s:
            result = ingest(s, read.posts, read.authors, self.bot_user_id, self.rules)
            # The newest post read moves the cursor, mentions and cursor commit together.
            changed = (new_gap or (None, None)) if new_gap != gap else None
            advance_cursor(s, self.bot_user_id, fresh.newest() if fresh else None, changed)
        # Only after commit: a worker must never see a task for a row it cannot read.
        if result.accepted:
            self.sender.send_generate(result.accepted, result.priorities)
        if result.upsells:
            self.sender.send_post(result.upsells, result.upsell_priorities)
        result.complete = read.complete and new_gap is None
        result.wait_s = max(read.wait_s, self._pace())
        metrics.listener_polled(
            result.fetched, result.new, max(self.poll_interval_s, result.wait_s)
        )
        if result.new:
            log.info(
                "listener.poll",
                fetched=result.fetched,
                new=result.new,
                accepted=len(result.accepted),
                ignored=result.ignored,
                reasons=dict(result.reasons),
            )
        return result

    def resend_queued(self) -> int:
        """Send tasks again for every queued mention (run at start-up).

        A listener killed between its commit and its sends leaves mentions queued with no
        task; the sweeper would find them after `stuck_after_s`, this finds them at once.
        A task sent twice is harmless: the worker's claim lets only one through.
        """
        with transaction(self.sessions) as s:
            rows = s.execute(
                select(Mention.id, Mention.priority)
                .where(Mention.status == MentionStatus.QUEUED)
                .order_by(Mention.priority.asc().nulls_last(), Mention.id)
                .limit(10_000)
            ).all()
        ids = [r.id for r in rows]
        if ids:
            priorities = {r.id: r.priority for r in rows if r.priority is not None}
            self.sender.send_generate(ids, priorities)
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
            except AuthFailed:
                raise  # no poll will work until the settings are fixed: the process ends
            except Exception:
                log.exception("listener.poll_failed")
                metrics.LISTENER_POLL_ERRORS.inc()
                wait = self.poll_interval_s
            stop.wait(wait)
        log.info("listener.stop")


def _merged(back: _Read, fresh: _Read) -> _Read:
    return _Read(
        posts=back.posts + fresh.posts,
        authors={**back.authors, **fresh.authors},
        complete=back.complete and fresh.complete,
        wait_s=max(back.wait_s, fresh.wait_s),
        pages=back.pages + fresh.pages,
    )
