"""Reply services: generate one reply per mention, post it once, sweep what got stuck.

Each function runs its own short transactions and never holds one open across a call to
the model or to X. Claims are conditional UPDATEs, so two workers given the same id never
both proceed; the unique constraints are the last line of defence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from bot import quotas
from bot.db import SessionFactory, transaction
from bot.platform import (
    DuplicatePost,
    PermanentPlatformError,
    Platform,
    PlatformError,
    RateLimited,
    TransientPlatformError,
)
from bot.schema import Mention, MentionStatus, PlatformUser, Reply, ReplyStatus, utcnow
from bot.settings import Settings
from bot.sql import insert_for
from bot.tiers import Policy, policies
from models.breaker import CircuitBreaker
from models.context import fit_thread
from models.llm_client import LLM, Completion, LLMError, LLMRejected, LLMUnavailable
from models.postprocess import ReplyPolicy, process_reply
from models.profiles import get_profile
from models.prompt import ContextPost, build_messages

log = structlog.get_logger(__name__)


class TryLater(Exception):
    """A transient failure: the task should retry, after `countdown` seconds if given."""

    def __init__(self, reason: str, countdown: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.countdown = countdown


@dataclass
class ReplyDeps:
    """What the reply services need; built once per worker process."""

    sessions: SessionFactory
    platform: Platform
    llm: LLM
    settings: Settings
    bot_user_id: str
    bot_username: str
    persona: str
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)


@dataclass
class SweepResult:
    """What one sweep re-sent or gave up on."""

    generate: list[int] = field(default_factory=list)
    post: list[int] = field(default_factory=list)
    failed_mentions: list[int] = field(default_factory=list)
    failed_replies: list[int] = field(default_factory=list)


def _stale(deps: ReplyDeps) -> datetime:
    return utcnow() - timedelta(seconds=deps.settings.stuck_after_s)


def fail_mention(sessions: SessionFactory, mention_id: int, reason: str, detail: str = "") -> None:
    """End a mention as failed with a reason, unless it already reached a final state."""
    with transaction(sessions) as s:
        failed = s.execute(
            update(Mention)
            .where(
                Mention.id == mention_id,
                Mention.status.in_([MentionStatus.QUEUED, MentionStatus.GENERATING]),
            )
            .values(
                status=MentionStatus.FAILED, reason=reason, detail=detail[:500], failed_at=utcnow()
            )
            .returning(Mention.id)
        ).first()
        if failed is None:
            return  # already final (answered, say): nothing to fail, nothing to give back
        # The system failed this user, not the other way round: the quota unit goes back.
        quotas.refund(s, mention_id)
    log.warning("mention.failed", mention_id=mention_id, reason=reason)


def fail_reply(sessions: SessionFactory, reply_id: int, reason: str, detail: str = "") -> None:
    """End a reply as post_failed with a reason, unless it was posted meanwhile."""
    with transaction(sessions) as s:
        mention_id = s.execute(
            update(Reply)
            .where(
                Reply.id == reply_id,
                Reply.status.in_([ReplyStatus.APPROVED, ReplyStatus.POSTING]),
            )
            .values(
                status=ReplyStatus.POST_FAILED,
                reason=reason,
                detail=detail[:500],
                failed_at=utcnow(),
            )
            .returning(Reply.mention_id)
        ).scalar_one_or_none()
        if mention_id is None:
            return  # posted (or failed) meanwhile
        quotas.refund(s, mention_id)
    log.warning("reply.post_failed", reply_id=reply_id, reason=reason)


def _thread_context(deps: ReplyDeps, in_reply_to: str | None) -> list[ContextPost]:
    """The mention's ancestors, oldest first, nearest kept first within the token budget."""
    nearest_first: list[ContextPost] = []
    next_id = in_reply_to
    try:
        while next_id and len(nearest_first) < deps.settings.context_posts:
            posts = deps.platform.get_posts([next_id])
            if not posts:
                break
            post = posts[0]
            nearest_first.append(
                ContextPost(author_username=post.author_id or "someone", text=post.text)
            )
            next_id = post.in_reply_to_post_id
    except PlatformError as exc:
        # Context makes a reply better; its absence must not cost the user an answer.
        log.warning("generate.context_unavailable", error=str(exc))
    return fit_thread(nearest_first, deps.settings.context_token_budget, _counter(deps))


def _counter(deps: ReplyDeps) -> Callable[[str], int]:
    """Count with the served model's tokenizer; estimate if the server cannot say."""

    def count(text: str) -> int:
        try:
            return deps.llm.count_tokens(text)
        except LLMError:
            # A generous estimate (most tokenizers spend 3-4 characters a token).
            return len(text) // 2 + 1

    return count


def generate_reply(deps: ReplyDeps, mention_id: int) -> int | None:
    """Write the reply for a mention; returns the reply id to post, or None if nothing to do."""
    now = utcnow()
    with transaction(deps.sessions) as s:
        if s.scalar(select(Reply.id).where(Reply.mention_id == mention_id)) is not None:
            return None
        claimed = s.execute(
            update(Mention)
            .where(
                Mention.id == mention_id,
                or_(
                    Mention.status == MentionStatus.QUEUED,
                    and_(
                        Mention.status == MentionStatus.GENERATING,
                        Mention.generating_at < _stale(deps),
                    ),
                ),
            )
            .values(
                status=MentionStatus.GENERATING, generating_at=now, attempts=Mention.attempts + 1
            )
            .returning(Mention.text, Mention.in_reply_to_post_id, Mention.author_id, Mention.tier)
        ).first()
        if claimed is None:
            log.info("generate.skip", mention_id=mention_id)
            return None
        text, in_reply_to, author_row, tier = claimed
        username = s.scalar(select(PlatformUser.username).where(PlatformUser.id == author_row))
        tier_policies = policies(s)
    policy = tier_policies.get(tier or "") or tier_policies.get("premium")

    try:
        return _write_reply(deps, mention_id, text, in_reply_to, username or "someone", policy)
    except Exception:
        # Hand the claim back so the retry (or the sweeper) can take it again at once.
        _release_mention(deps, mention_id)
        raise


def _write_reply(
    deps: ReplyDeps,
    mention_id: int,
    text: str,
    in_reply_to: str | None,
    username: str,
    policy: Policy | None,
) -> int | None:
    """Prompt the model and store its reply for a mention this worker has claimed."""
    messages = build_messages(
        deps.persona,
        text,
        username,
        thread=_thread_context(deps, in_reply_to),
        bot_username=deps.bot_username,
    )
    started = time.perf_counter()
    try:
        completion, reply_text, reason = _complete(deps, messages, policy)
    except LLMUnavailable as exc:
        deps.breaker.record_failure()
        _release_mention(deps, mention_id)
        raise TryLater(f"llm unavailable: {exc}") from None
    except LLMRejected as exc:
        fail_mention(deps.sessions, mention_id, "llm_rejected", str(exc))
        return None
    deps.breaker.record_success()
    if reason is not None:
        fail_mention(deps.sessions, mention_id, reason, completion.text[:200])
        return None

    moderation = policy.moderation if policy else "auto"
    with transaction(deps.sessions) as s:
        reply_id = s.execute(
            insert_for(s, Reply)
            .values(
                mention_id=mention_id,
                text=reply_text,
                # Pre-moderated tiers wait for a moderator; the others post at once.
                status=ReplyStatus.PENDING_REVIEW if moderation == "pre" else ReplyStatus.APPROVED,
                moderation=moderation,
                model=completion.model,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                generation_s=time.perf_counter() - started,
                ttft_s=completion.ttft_s,
                created_at=utcnow(),
                approved_at=None if moderation == "pre" else utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["mention_id"])
            .returning(Reply.id)
        ).scalar_one_or_none()
        s.execute(
            update(Mention)
            .where(Mention.id == mention_id, Mention.status == MentionStatus.GENERATING)
            .values(status=MentionStatus.ANSWERED, answered_at=utcnow(), reason="answered")
        )
    log.info(
        "generate.done",
        mention_id=mention_id,
        reply_id=reply_id,
        completion_tokens=completion.completion_tokens,
    )
    if reply_id is None or moderation == "pre":
        return None  # nothing to post (yet): a moderator approves pre-moderated replies
    return int(reply_id)


def _complete(
    deps: ReplyDeps, messages: list[dict[str, str]], policy: Policy | None = None
) -> tuple[Completion, str, str | None]:
    """Ask the model; an empty answer is asked for once more before the mention fails."""
    settings = deps.settings
    sampling = get_profile(settings.model_profile).sampling
    extra: dict[str, Any] = {
        "top_k": sampling.top_k,
        "min_p": sampling.min_p,
        "repetition_penalty": sampling.repetition_penalty,
    }
    if settings.llm_min_tokens:
        # A vLLM extension: the model may not end before it has said anything.
        extra["min_tokens"] = settings.llm_min_tokens
    reply_policy = ReplyPolicy(
        max_mentions=settings.reply_max_mentions,
        url_allowlist=tuple(settings.reply_url_allowlist),
    )
    completion: Completion | None = None
    reason = "empty_output"
    for attempt in range(2):
        completion = deps.llm.complete(
            messages,
            max_tokens=min(
                settings.llm_max_tokens or sampling.max_tokens,
                policy.max_output_tokens if policy else 10**6,
            ),
            # The tier's priority reaches vLLM's scheduler (--scheduling-policy priority).
            priority=policy.priority if policy and settings.llm_send_priority else None,
            temperature=(
                sampling.temperature
                if settings.llm_temperature is None
                else settings.llm_temperature
            ),
            top_p=sampling.top_p,
            # A second try must not repeat the first one's empty answer word for word.
            seed=None if attempt == 0 else int(time.time() * 1000) % 2**31,
            extra=extra,
        )
        processed = process_reply(completion.text, reply_policy)
        if processed.posts:
            # One post per mention for now; threads of several posts are not posted yet.
            return completion, processed.posts[0], None
        reason = _REJECTED.get(processed.reason or "", "empty_output")
        log.info("generate.regenerate", attempt=attempt + 1, reason=reason)
    assert completion is not None
    return completion, "", reason


def touch_queued(sessions: SessionFactory, mention_id: int) -> None:
    """Note that a queued mention's task was just sent again (keeps the sweeper away)."""
    with transaction(sessions) as s:
        s.execute(
            update(Mention)
            .where(Mention.id == mention_id, Mention.status == MentionStatus.QUEUED)
            .values(queued_at=utcnow())
        )


def _release_mention(deps: ReplyDeps, mention_id: int) -> None:
    """Hand a claimed mention back to the queue after a transient failure."""
    with transaction(deps.sessions) as s:
        s.execute(
            update(Mention)
            .where(Mention.id == mention_id, Mention.status == MentionStatus.GENERATING)
            .values(status=MentionStatus.QUEUED, queued_at=utcnow())
        )


def _release_reply(deps: ReplyDeps, reply_id: int) -> None:
    with transaction(deps.sessions) as s:
        s.execute(
            update(Reply)
            .where(Reply.id == reply_id, Reply.status == ReplyStatus.POSTING)
            .values(status=ReplyStatus.APPROVED, approved_at=utcnow())
        )


def _mark_posted(deps: ReplyDeps, reply_id: int, post_id: str, how: str) -> None:
    with transaction(deps.sessions) as s:
        s.execute(
            update(Reply)
            .where(Reply.id == reply_id, Reply.status == ReplyStatus.POSTING)
            .values(
                status=ReplyStatus.POSTED, platform_post_id=post_id, posted_at=utcnow(), reason=how
            )
        )
    log.info("post.done", reply_id=reply_id, post_id=post_id, how=how)


def post_reply(deps: ReplyDeps, reply_id: int) -> str | None:
    """Post an approved reply exactly once; returns the platform post id."""
    with transaction(deps.sessions) as s:
        claimed = s.execute(
            update(Reply)
            .where(
                Reply.id == reply_id,
                or_(
                    Reply.status == ReplyStatus.APPROVED,
                    and_(Reply.status == ReplyStatus.POSTING, Reply.posting_at < _stale(deps)),
                ),
            )
            .values(status=ReplyStatus.POSTING, posting_at=utcnow(), attempts=Reply.attempts + 1)
            .returning(Reply.text, Reply.attempts, Reply.mention_id)
        ).first()
        if claimed is None:
            log.info("post.skip", reply_id=reply_id)
            return None
        text, attempts, mention_row = claimed
        target = s.scalar(select(Mention.platform_post_id).where(Mention.id == mention_row))
        if not take_post_budget(s, deps.settings, deps.bot_user_id, utcnow()):
            # Out of posting budget: wait, approved, for the sweeper to hand replies out in
            # priority order as the windows refill (premium_plus first).
            s.execute(
                update(Reply)
                .where(Reply.id == reply_id)
                .values(status=ReplyStatus.APPROVED, reason=WAITING_BUDGET, approved_at=utcnow())
            )
            log.info("post.waiting_budget", reply_id=reply_id)
            return None
    assert target is not None
    try:
        return _post_claimed(deps, reply_id, text, target, attempts)
    except Exception:
        # Back to approved: the retry counts another attempt, so it reconciles first.
        _release_reply(deps, reply_id)
        raise


WAITING_BUDGET = "waiting_budget"
# process_reply's reasons as the mention's failure reasons.
_REJECTED = {"empty": "empty_output", "refusal": "refusal"}
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


def post_budget_left(s: Session, settings: Settings, bot_user_id: str, now: datetime) -> int:
    """Posts the bot may still make now (the tighter of its windows)."""
    limits = _budget_limits(settings)
    return min(
        limits[name] - quotas.used(s, f"post:{bot_user_id}:{name}", window_s, now)
        for name, window_s in POST_WINDOWS
    )


def _post_claimed(
    deps: ReplyDeps, reply_id: int, text: str, target: str, attempts: int
) -> str | None:
    """Post a reply this worker has claimed, looking for an earlier copy on a retry."""
    try:
        if attempts > 1:
            # A previous attempt may have reached X before dying: look before posting again.
            existing = deps.platform.find_reply(deps.bot_user_id, target)
            if existing:
                _mark_posted(deps, reply_id, existing, "reconciled")
                return existing
        post_id = deps.platform.create_reply(text, target)
    except DuplicatePost:
        existing = deps.platform.find_reply(deps.bot_user_id, target)
        if existing:
            _mark_posted(deps, reply_id, existing, "reconciled")
            return existing
        fail_reply(deps.sessions, reply_id, "duplicate_content")
        return None
    except RateLimited as exc:
        _release_reply(deps, reply_id)
        raise TryLater("rate limited", countdown=max(1.0, exc.reset_at - time.time())) from None
    except TransientPlatformError as exc:
        _release_reply(deps, reply_id)
        raise TryLater(str(exc)) from None
    except PermanentPlatformError as exc:
        fail_reply(deps.sessions, reply_id, "platform_refused", str(exc))
        return None
    _mark_posted(deps, reply_id, post_id, "posted")
    return post_id


def sweep(
    sessions: SessionFactory, settings: Settings, bot_user_id: str | None = None
) -> SweepResult:
    """Find mentions and replies stuck in flight and hand them back for another task."""
    result = SweepResult()
    now = utcnow()
    stale = now - timedelta(seconds=settings.stuck_after_s)
    with transaction(sessions) as s:
        stuck = s.execute(
            select(Mention.id, Mention.attempts)
            .where(
                or_(
                    and_(Mention.status == MentionStatus.QUEUED, Mention.queued_at < stale),
                    and_(Mention.status == MentionStatus.GENERATING, Mention.generating_at < stale),
                )
            )
            .limit(500)
            .with_for_update(skip_locked=True)
        ).all()
        for mention_id, attempts in stuck:
            if attempts >= settings.max_attempts:
                s.execute(
                    update(Mention)
                    .where(Mention.id == mention_id)
                    .values(
                        status=MentionStatus.FAILED,
                        reason="stuck",
                        detail=f"gave up after {attempts} attempts",
                        failed_at=now,
                    )
                )
                result.failed_mentions.append(mention_id)
            else:
                # queued_at doubles as "last sent": the next sweep waits a full period again.
                s.execute(
                    update(Mention)
                    .where(Mention.id == mention_id)
                    .values(status=MentionStatus.QUEUED, queued_at=now)
                )
                result.generate.append(mention_id)
        stuck_replies = s.execute(
            select(Reply.id, Reply.attempts)
            .where(
                or_(
                    and_(Reply.status == ReplyStatus.APPROVED, Reply.approved_at < stale),
                    and_(Reply.status == ReplyStatus.POSTING, Reply.posting_at < stale),
                )
            )
            .limit(500)
            .with_for_update(skip_locked=True)
        ).all()
        for reply_id, attempts in stuck_replies:
            if attempts >= settings.max_attempts:
                s.execute(
                    update(Reply)
                    .where(Reply.id == reply_id)
                    .values(status=ReplyStatus.POST_FAILED, reason="stuck", failed_at=now)
                )
                result.failed_replies.append(reply_id)
            else:
                # Back to approved: the next claim counts an attempt, so it reconciles first.
                s.execute(
                    update(Reply)
                    .where(Reply.id == reply_id)
                    .values(status=ReplyStatus.APPROVED, approved_at=now)
                )
                result.post.append(reply_id)
        if bot_user_id:
            left = post_budget_left(s, settings, bot_user_id, now)
            if left > 0:
                waiting = s.scalars(
                    select(Reply.id)
                    .join(Mention, Mention.id == Reply.mention_id)
                    .where(Reply.status == ReplyStatus.APPROVED, Reply.reason == WAITING_BUDGET)
                    .order_by(Mention.priority.asc().nulls_last(), Reply.id)
                    .limit(left)
                ).all()
                for reply_id in waiting:
                    if reply_id not in result.post:
                        result.post.append(reply_id)
    if result.generate or result.post or result.failed_mentions or result.failed_replies:
        log.info(
            "sweep.done",
            generate=len(result.generate),
            post=len(result.post),
            failed_mentions=len(result.failed_mentions),
            failed_replies=len(result.failed_replies),
        )
    return result
