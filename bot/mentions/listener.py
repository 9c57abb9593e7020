"""The polling listener: mentions in, decisions and cursor committed together, then tasks out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import select

from bot import metrics
from bot.db.base import utcnow
from bot.db.engine import SessionFactory, transaction
from bot.mentions.gating import GatingRules
from bot.mentions.ingest import PollResult, advance_cursor, ingest, store_referenced_posts
from bot.mentions.schema import ListenerCursor, Mention
from bot.platform.protocol import (
    AuthFailed,
    CreditsExhausted,
    MentionsPage,
    Platform,
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
class _Run:
    """One paging run over part of the timeline: how it went, page by page."""

    start: str | None  # its since_id
    until: str | None
    fresh: bool  # new posts (the cursor moves) rather than an earlier poll's gap
    complete: bool = True
    wait_s: float = 0.0
    pages: int = 0
    oldest: str | None = None

    def gap_after(self, page: MentionsPage) -> tuple[str | None, str | None]:
        """The unread part once `page` is stored: X pages newest first, so while pages are
        left, (this run's since_id, the oldest post read so far) is unread; the next poll
        reads it first if this one stops (page cap, rate limit, crash). (None, None): no gap.
        """
        if page.posts:
            oldest = min((p.id for p in page.posts), key=int)
            if self.oldest is None or int(oldest) < int(self.oldest):
                self.oldest = oldest
        if page.next_token and self.oldest is not None:
            return (self.start, self.oldest)
        if page.next_token and self.until is not None:
            return (self.start, self.until)
        return (None, None)


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
        overlap_every_s: float = 300.0,
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
        newest, gap_since, gap_until = row if row is not None else (None, None, None)
        gap = (gap_since, gap_until) if gap_until is not None else None
        now = self.clock()
        if newest is None:
            # Read from the start: nothing to go back for, so the overlap's clock starts now
            # (else the next poll would read this whole first burst again).
            self._overlapped_at = now
            return None, gap
        # Every overlap_every_s, start a little behind the newest id: X can surface a post
        # late, and a strict since_id would skip it for good (the unique key drops what was
        # read already). Not on every poll: at 20 mentions a second a minute's overlap is
        # 1,200 posts read again each time, eight pages of the poll's budget.
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

    def _pages(self, run: _Run, max_pages: int) -> Iterator[MentionsPage]:
        """The run's pages, newest first, as far as budget and X allow (recorded on `run`)."""
        token: str | None = None
        for _ in range(max_pages):
            if not self._take_read_budget():
                # Our own budget model (the same fixed windows as the posting budget) says
                # wait; X's headers may say so too, and _pace() takes the later of the two.
                run.complete = False
                run.wait_s = READ_WINDOW_S - self.clock() % READ_WINDOW_S + 1.0
                log.info("listener.read_budget_spent", wait_s=round(run.wait_s, 1))
                return
            try:
                page = self.platform.mentions(
                    self.bot_user_id,
                    since_id=run.start,
                    until_id=run.until,
                    pagination_token=token,
                    max_results=self.page_size,
                )
            except RateLimited as exc:
                run.complete = False
                run.wait_s = max(0.0, exc.reset_at - self.clock()) + 1.0
                log.warning("listener.rate_limited", wait_s=round(run.wait_s, 1))
                return
            except CreditsExhausted as exc:
                # Pay-per-use: X reads nothing until the account can pay. Poll again at the
                # probe time (the platform logs the pause once and answers meanwhile).
                run.complete = False
                run.wait_s = max(0.0, exc.until - self.clock())
                return
            except TransientPlatformError as exc:
                run.complete = False
                run.wait_s = self.poll_interval_s
                log.warning("listener.platform_error", error=str(exc))
                return
            run.pages += 1
            yield page
            token = page.next_token
            if not token:
                return
        run.complete = False  # the page cap, with pages left: a gap for the next polls

    def _store(self, run: _Run, page: MentionsPage, total: PollResult) -> None:
        """One page: its mentions, the cursor and the gap committed together, then its tasks
        sent, so generation starts while the rest of a burst is still being read."""
        gap = run.gap_after(page)
        newest = max((p.id for p in page.posts), key=int, default=None) if run.fresh else None
        with transaction(self.sessions) as s:
            result = ingest(s, page.posts, page.authors, self.bot_user_id, self.rules)
            if result.accepted:
                store_referenced_posts(s, list(page.referenced.values()))
            advance_cursor(s, self.bot_user_id, newest, gap)
        # Only after commit: a worker must never see a task for a row it cannot read.
        if result.accepted:
            self.sender.send_generate(result.accepted, result.priorities)
        if result.upsells:
            self.sender.send_post(result.upsells, result.upsell_priorities)
        if result.new:  # when a page's tasks went out (bench pipeline reads these lines)
            log.info("listener.sent", new=result.new, accepted=len(result.accepted))
        total.add(result)

    def poll_once(self) -> PollResult:
        """Read an earlier poll's gap first, then new posts, storing each page as it comes."""
        since, gap = self.cursor()
        total = PollResult()
        runs = []
        if gap is not None:
            runs.append(_Run(gap[0], gap[1], fresh=False))
        runs.append(_Run(since, None, fresh=True))
        budget = self.max_pages
        for run in runs:
            for page in self._pages(run, budget):
                self._store(run, page, total)
            budget -= run.pages
            total.pages += run.pages
            total.complete = total.complete and run.complete
            total.wait_s = max(total.wait_s, run.wait_s)
            if not run.complete or budget <= 0:
                total.complete = total.complete and run.fresh and run.complete
                break
        total.wait_s = max(total.wait_s, self._pace())
        metrics.listener_polled(
            total.fetched, total.new, total.pages, max(self.poll_interval_s, total.wait_s)
        )
        if total.new:
            log.info(
                "listener.poll",
                fetched=total.fetched,
                new=total.new,
                pages=total.pages,
                accepted=len(total.accepted),
                ignored=total.ignored,
                decisions=dict(total.decisions),
            )
        return total

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
            started = time.monotonic()
            try:
                result = self.poll_once()
                # Polls start poll_interval_s apart (a poll that took a while waits less):
                # a mention waits half an interval for its poll on average, not more.
                took = time.monotonic() - started
                wait = max(self.poll_interval_s - took, result.wait_s)
            except AuthFailed:
                raise  # no poll will work until the settings are fixed: the process ends
            except Exception:
                log.exception("listener.poll_failed")
                metrics.LISTENER_POLL_ERRORS.inc()
                wait = self.poll_interval_s
            stop.wait(wait)
        log.info("listener.stop")
