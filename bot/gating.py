"""Which mentions the bot answers, and why: every mention passes through decide()."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from bot import quotas
from bot.platform import Author, Post
from bot.schema import Mention, MentionStatus, PlatformUser
from bot.settings import Settings
from bot.tiers import BLOCKED, Policy, effective_tier

# Far above anything X accepts (280 weighted, 25k for long posts): input this size is hostile.
MAX_MENTION_CHARS = 25_000


@dataclass(frozen=True)
class GatingRules:
    """The abuse limits an operator sets (from Settings)."""

    thread_cap: int = 3
    loop_max_per_minute: int = 5
    loop_cooldown_s: float = 600.0
    spam_max_mentions: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> GatingRules:
        """The operator's limits."""
        return cls(
            thread_cap=settings.thread_cap,
            loop_max_per_minute=settings.loop_max_per_minute,
            loop_cooldown_s=settings.loop_cooldown_s,
            spam_max_mentions=settings.spam_max_mentions,
        )


@dataclass(frozen=True)
class Decision:
    """Accept or ignore, with a reason code stored on the mention."""

    accepted: bool
    reason: str
    tier: str | None = None
    priority: int | None = None
    upsell_text: str | None = None
    quota_taken: bool = False


REASONS = (
    "accepted",
    "own_post",
    "unknown_author",
    "empty",
    "too_long",
    "blocked",
    "spam",
    "loop",
    "not_subscribed",
    "upsell",
    "thread_cap",
    "quota_hour",
    "quota_day",
)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,15}")


def decide(
    session: Session,
    post: Post,
    author: Author | None,
    user: PlatformUser | None,
    bot_user_id: str,
    rules: GatingRules,
    tier_policies: dict[str, Policy],
    now: datetime,
) -> Decision:
    """Decide one mention inside the listener's transaction (cheapest checks first)."""
    if post.author_id == bot_user_id:
        return Decision(False, "own_post")
    if author is None or user is None:
        return Decision(False, "unknown_author")
    if not post.text.strip():
        return Decision(False, "empty")
    if len(post.text) > MAX_MENTION_CHARS:
        return Decision(False, "too_long")
    tier = effective_tier(session, user, now)
    if tier == BLOCKED:
        return Decision(False, "blocked", tier=tier)
    if len(_HANDLE.findall(post.text)) > rules.spam_max_mentions:
        return Decision(False, "spam", tier=tier)
    if _looping(session, post, user, rules, now):
        return Decision(False, "loop", tier=tier)
    policy = tier_policies.get(tier) or tier_policies["none"]
    if not policy.answered:
        if policy.upsell_text and _claim_upsell(session, user.id, policy, now):
            return Decision(False, "upsell", tier=tier, upsell_text=policy.upsell_text)
        return Decision(False, "not_subscribed", tier=tier)
    if post.conversation_id and _answered_in(session, post.conversation_id) >= rules.thread_cap:
        return Decision(False, "thread_cap", tier=tier)
    if not quotas.take(
        session, quotas.user_key(user.id, "hour"), quotas.HOUR, policy.replies_per_hour, now
    ):
        return Decision(False, "quota_hour", tier=tier)
    if not quotas.take(
        session, quotas.user_key(user.id, "day"), quotas.DAY, policy.replies_per_day, now
    ):
        quotas.give_back(session, quotas.user_key(user.id, "hour"), quotas.HOUR, now)
        return Decision(False, "quota_day", tier=tier)
    return Decision(True, "accepted", tier=tier, priority=policy.priority, quota_taken=True)


def _looping(
    session: Session, post: Post, user: PlatformUser, rules: GatingRules, now: datetime
) -> bool:
    """An account (often another bot) mentioning us too fast in one conversation cools down."""
    cooldown = user.cooldown_until
    if cooldown is not None and _aware(cooldown) > now:
        return True
    if not post.conversation_id:
        return False
    recent = (
        session.scalar(
            select(func.count())
            .select_from(Mention)
            .where(
                Mention.author_id == user.id,
                Mention.conversation_id == post.conversation_id,
                # When we read them (known limitation: a backlog read at once after
                # listener downtime can look like a burst; post times would be more exact).
                Mention.received_at > now - timedelta(seconds=60),
            )
        )
        or 0
    )
    if recent >= rules.loop_max_per_minute:
        user.cooldown_until = now + timedelta(seconds=rules.loop_cooldown_s)
        session.flush()
        return True
    return False


def _answered_in(session: Session, conversation_id: str) -> int:
    """Mentions the bot took on in this conversation (the per-thread reply cap)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Mention)
            .where(
                Mention.conversation_id == conversation_id,
                Mention.status.in_(
                    [MentionStatus.QUEUED, MentionStatus.GENERATING, MentionStatus.ANSWERED]
                ),
                Mention.reason.in_(["accepted", "answered"]),
            )
        )
        or 0
    )


def _claim_upsell(session: Session, user_id: int, policy: Policy, now: datetime) -> bool:
    """At most one upsell per user per period: a guarded update, safe under concurrency."""
    since = now - timedelta(days=policy.upsell_every_days)
    claimed = session.execute(
        update(PlatformUser)
        .where(
            PlatformUser.id == user_id,
            or_(PlatformUser.last_upsell_at.is_(None), PlatformUser.last_upsell_at < since),
        )
        .values(last_upsell_at=now)
        .returning(PlatformUser.id)
    ).first()
    return claimed is not None


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time we store is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
