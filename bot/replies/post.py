"""Post an approved reply exactly once, within the bot account's posting budget.

A retry, a redelivery or a 403 "duplicate content" first looks for the bot's own reply to
that post (reconcile), so a crash between X accepting a post and our commit never produces
a second reply. A thread goes out part by part, each part in reply to the one before and
from the posting budget; each part's id is stored as soon as X accepts it, and the part in
doubt after a crash is reconciled the same way (the bot's reply to the part before it).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.engine import transaction
from bot.mentions.schema import Mention
from bot.platform.protocol import (
    CreditsExhausted,
    DuplicatePost,
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    RepliesRestricted,
    TargetGone,
    TransientPlatformError,
)
from bot.replies import claims
from bot.replies.deps import ReplyDeps, TryLater
from bot.replies.parts import parts_of, record_part
from bot.replies.schema import Switch
from bot.settings import Settings
from bot.subscribers import quotas
from bot.vocab import Reason, ReplyStatus

log = structlog.get_logger(__name__)

POST_WINDOWS = (("15m", 900), ("24h", 86400))


def _budget_limits(settings: Settings) -> dict[str, int]:
    return {"15m": settings.post_budget_15m, "24h": settings.post_budget_24h}


def take_post_budget(s: Session, settings: Settings, bot_user_id: str, now: datetime) -> bool:
    """One unit of the bot account's posting budget in both windows, or none at all."""
    limits = _budget_limits(settings)
    taken: list[tuple[str, int]] = []
    for name, window_s in POST_WINDOWS:
        key = f"post:{bot_user_id}:{name}"
        if not quotas.take(s, key, window_s, limits[name], now):
            for got_key, got_window in taken:
                quotas.give_back(s, got_key, got_window, now)
            return False
        taken.append((key, window_s))
    return True


def give_back_post_budget(s: Session, bot_user_id: str, taken_at: datetime) -> None:
    """Return a unit take_post_budget took at `taken_at` (X refused before posting: a 429)."""
    for name, window_s in POST_WINDOWS:
        quotas.give_back(s, f"post:{bot_user_id}:{name}", window_s, taken_at)


def post_budget_left(s: Session, settings: Settings, bot_user_id: str, now: datetime) -> int:
    """Posts the bot may still make now (the tighter of its windows)."""
    limits = _budget_limits(settings)
    return min(
        limits[name] - quotas.used(s, f"post:{bot_user_id}:{name}", window_s, now)
        for name, window_s in POST_WINDOWS
    )


def fail(deps: ReplyDeps, reply_id: int, reason: Reason, detail: str = "") -> None:
    """End a reply as post_failed with a reason (quota given back), unless posted meanwhile."""
    with transaction(deps.sessions) as s:
        claims.fail_reply(s, reply_id, reason, detail, utcnow())


def _release(deps: ReplyDeps, reply_id: int) -> None:
    with transaction(deps.sessions) as s:
        claims.release_reply(s, reply_id, utcnow())


def _posted(deps: ReplyDeps, reply_id: int, post_id: str, how: Reason | None) -> str:
    """Mark the reply posted; `how` it went out when not as asked (reconciled, thread_cut)."""
    with transaction(deps.sessions) as s:
        claims.mark_posted(s, reply_id, post_id, how, utcnow())
    log.info("post.done", reply_id=reply_id, post_id=post_id, how=how or ReplyStatus.POSTED)
    return post_id


POSTING_SWITCH = "posting_paused"


def posting_paused(s: Session) -> bool:
    """Whether an admin paused all posting (the kill switch)."""
    switch = s.get(Switch, POSTING_SWITCH)
    return bool(switch and switch.on)


def _known_reset(deps: ReplyDeps) -> datetime | None:
    """When X's posting window resets, if the last answer said it is spent: the 15-minute
    window, or the day's (X's x-user-/x-app-limit-24hour-* headers, when it sends them)."""
    resets = [
        rl.reset_at
        for rl in (deps.platform.rate_limit("create"), deps.platform.rate_limit("create_24h"))
        if rl is not None and rl.remaining <= 0 and rl.reset_at > time.time()
    ]
    return datetime.fromtimestamp(max(resets), UTC) if resets else None


def post_reply(deps: ReplyDeps, reply_id: int) -> str | None:
    """Post an approved reply exactly once; returns the platform post id.

    Waiting (an admin's pause, the bot's posting budget, X's rate-limit window, X taking no
    posts while the account cannot pay) is not an attempt: the reply stays approved with the
    reason, and the sweeper hands waiting replies out again, most urgent first, when they
    can go.
    """
    now = utcnow()
    stale = now - timedelta(seconds=deps.settings.stuck_after_s)
    with transaction(deps.sessions) as s:
        if posting_paused(s):
            claims.mark_waiting(s, reply_id, Reason.POSTING_PAUSED)
            log.info("post.paused", reply_id=reply_id)
            return None
        if (reset := _known_reset(deps)) is not None:
            # X said the window is spent: asking again would only earn another 429.
            claims.mark_waiting(s, reply_id, Reason.RATE_LIMITED, reset)
            log.info("post.rate_limited", reply_id=reply_id, until=reset.isoformat())
            return None
        claimed = claims.claim_reply(s, reply_id, stale, now)
        if claimed is None:
            log.info("post.skip", reply_id=reply_id)
            return None
        target = s.scalar(select(Mention.platform_post_id).where(Mention.id == claimed.mention_id))
        # (position, text, platform id) of a thread's posts; one post of its own text else.
        parts = [(p.position, p.text, p.platform_post_id) for p in parts_of(s, reply_id)]
    assert target is not None
    try:
        return _post_claimed(deps, reply_id, claimed, target, parts or [(0, claimed.text, None)])
    except Exception:
        # Back to approved: the retry counts another attempt, so it reconciles first.
        _release(deps, reply_id)
        raise


Part = tuple[int, str, str | None]


def _post_claimed(
    deps: ReplyDeps, reply_id: int, claimed: claims.ClaimedReply, target: str, parts: list[Part]
) -> str | None:
    """Post what is not out yet of a reply this worker has claimed, first part first; a
    later part X refuses cuts the thread there (the parts before it stay, and count)."""
    first: str | None = None
    first_how: Reason | None = None  # posted as asked
    parent = target
    threaded = len(parts) > 1
    for position, text, known_id in parts:
        if known_id is None:
            got = _post_part(deps, reply_id, claimed.attempts, text, parent, first is None)
            if isinstance(got, _Stop):
                if got.reason is None or first is None:
                    return None  # waits (already released), or the first part failed
                log.warning("post.thread_cut", reply_id=reply_id, part=position, why=got.reason)
                return _posted(deps, reply_id, first, Reason.THREAD_CUT)
            known_id, how = got
            if threaded:
                with transaction(deps.sessions) as s:
                    record_part(s, reply_id, position, known_id, utcnow())
            first_how = how if first is None else first_how
        first = first or known_id
        parent = known_id
    assert first is not None
    return _posted(deps, reply_id, first, first_how)


_REFUSED: dict[type[PlatformError], Reason] = {
    TargetGone: Reason.TARGET_GONE,
    RepliesRestricted: Reason.REPLIES_RESTRICTED,
}


class _Stop:
    """A part was not posted: it waits (reason None, the reply released) or was refused."""

    def __init__(self, reason: Reason | None) -> None:
        self.reason = reason


def _post_part(
    deps: ReplyDeps, reply_id: int, attempts: int, text: str, parent: str, first: bool
) -> tuple[str, Reason | None] | _Stop:
    """Post one part in reply to `parent` within the budget, looking for an earlier copy on
    a retry; (its id, None or reconciled), or why not."""
    taken_at = utcnow()
    if not _take_budget(deps, reply_id, taken_at):
        return _Stop(None)
    try:
        if attempts > 1:
            # A previous attempt may have reached X before dying: look before posting again.
            existing = deps.platform.find_reply(deps.bot_user_id, parent)
            if existing:
                return existing, Reason.RECONCILED
        return deps.platform.create_reply(text, parent), None
    except DuplicatePost:
        return _after_duplicate(deps, reply_id, parent, first)
    except RateLimited as exc:
        return _wait_for_reset(deps, reply_id, taken_at, exc)
    except CreditsExhausted as exc:
        return _wait_for_credits(deps, reply_id, taken_at, exc)
    except TransientPlatformError as exc:
        _release(deps, reply_id)
        raise TryLater(str(exc)) from None
    except PermanentPlatformError as exc:
        # Nothing to reconcile: X took nothing. The gone and the restricted get their own
        # reasons (the system did not fail the user; the unit goes back all the same).
        reason = _REFUSED.get(type(exc), Reason.PLATFORM_REFUSED)
        if first:
            fail(deps, reply_id, reason, str(exc))
        return _Stop(reason)


def _take_budget(deps: ReplyDeps, reply_id: int, taken_at: datetime) -> bool:
    """Take a unit of the bot's post budget; without one the reply is released to wait."""
    with transaction(deps.sessions) as s:
        if take_post_budget(s, deps.settings, deps.bot_user_id, taken_at):
            return True
        claims.release_reply(
            s, reply_id, utcnow(), reason=Reason.WAITING_BUDGET, attempt_counts=False
        )
    log.info("post.waiting_budget", reply_id=reply_id)
    return False


def _after_duplicate(
    deps: ReplyDeps, reply_id: int, parent: str, first: bool
) -> tuple[str, Reason] | _Stop:
    """X calls the part a duplicate: ours if our reply to `parent` is there, else refused."""
    existing = deps.platform.find_reply(deps.bot_user_id, parent)
    if existing:
        return existing, Reason.RECONCILED
    if first:
        fail(deps, reply_id, Reason.DUPLICATE_CONTENT)
    return _Stop(Reason.DUPLICATE_CONTENT)


def _wait_for_reset(deps: ReplyDeps, reply_id: int, taken_at: datetime, exc: RateLimited) -> _Stop:
    """Nothing was posted: the budget unit and the attempt go back, and the reply waits
    for the reset (the sweeper's to release; a task held that long would pin a worker's
    memory and outlive the broker's visibility timeout)."""
    reset = datetime.fromtimestamp(max(exc.reset_at, time.time() + 1.0), UTC)
    with transaction(deps.sessions) as s:
        give_back_post_budget(s, deps.bot_user_id, taken_at)
        claims.release_reply(
            s,
            reply_id,
            utcnow(),
            reason=Reason.RATE_LIMITED,
            wait_until=reset,
            attempt_counts=False,
        )
    log.info("post.rate_limited", reply_id=reply_id, until=reset.isoformat())
    return _Stop(None)


def _wait_for_credits(
    deps: ReplyDeps, reply_id: int, taken_at: datetime, exc: CreditsExhausted
) -> _Stop:
    """X takes no posts until the account can pay: nothing was posted, so the budget unit
    and the attempt go back (the user's quota stays: the reply will go), and the reply waits
    with the reason until the next probe; the sweeper sends it then."""
    until = datetime.fromtimestamp(max(exc.until, time.time() + 1.0), UTC)
    with transaction(deps.sessions) as s:
        give_back_post_budget(s, deps.bot_user_id, taken_at)
        claims.release_reply(
            s, reply_id, utcnow(), reason=exc.kind, wait_until=until, attempt_counts=False
        )
    # The platform logged the pause once; a line per reply would repeat it.
    log.debug("post.waiting_credits", reply_id=reply_id, reason=exc.kind, until=until.isoformat())
    return _Stop(None)
