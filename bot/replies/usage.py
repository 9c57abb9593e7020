"""What generation cost the operator: each reply's prompt and completion tokens, per tier or
per user and UTC day (`mentionbot usage`, `subscribers show`, the dashboard's stats), and
the count against a tier's daily token budget that the generate worker keeps.

A reply counts when it spent generation, whatever its status (tokens recorded; an upsell,
written without the model, spent none). Its figures are every attempt's: a regeneration
stores both attempts' tokens (generate's `_spent`). Two costs have no reply row and so are
not in these reports, only in the tier's budget counter: a mention that failed after the
model answered (empty twice, a refusal), and a reply a moderator threw away to regenerate
(deleted; the new reply counts its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, desc, func, select
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.dialect import day_bucket
from bot.db.engine import SessionFactory, transaction
from bot.mentions.schema import Mention, PlatformUser
from bot.replies.schema import Reply
from bot.subscribers import quotas
from bot.subscribers.tiers import Policy, policies
from bot.vocab import Tier
from models.llm_client import Completion

RECENT_DAYS = 7  # what `subscribers show` sums besides today
NO_TIER = "-"  # a mention decided before tiers were recorded


@dataclass(frozen=True)
class Spent:
    """Replies that spent generation, and their tokens."""

    replies: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Spent) -> Spent:
        return Spent(
            self.replies + other.replies,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        """JSON-ready."""
        return {
            "replies": self.replies,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class TierDay:
    """One tier's replies and tokens on one UTC day."""

    day: date
    tier: str
    spent: Spent

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"day": self.day.isoformat(), "tier": self.tier, **self.spent.to_dict()}


@dataclass(frozen=True)
class UserDay:
    """One user's replies and tokens on one UTC day."""

    day: date
    user_id: int
    username: str
    platform_id: str
    spent: Spent

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "day": self.day.isoformat(),
            "user_id": self.user_id,
            "username": self.username,
            "platform_id": self.platform_id,
            **self.spent.to_dict(),
        }


def midnight(day: date) -> datetime:
    """The UTC moment a day starts."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _sums() -> tuple[Any, Any, Any]:
    return (
        func.count(Reply.id),
        func.coalesce(func.sum(Reply.prompt_tokens), 0),
        func.coalesce(func.sum(Reply.completion_tokens), 0),
    )


def _spending(since: date, until: date | None) -> list[ColumnElement[bool]]:
    """Replies that spent generation from the start of `since` through the end of `until`."""
    where = [
        Reply.created_at >= midnight(since),
        Reply.prompt_tokens + Reply.completion_tokens > 0,
    ]
    if until is not None:
        where.append(Reply.created_at < midnight(until) + timedelta(days=1))
    return where


def by_tier(s: Session, since: date, until: date | None = None) -> list[TierDay]:
    """Replies and tokens per UTC day and tier (the mention's tier when it was decided),
    from `since` through `until` (inclusive; open-ended without it), oldest day first."""
    day = day_bucket(s, Reply.created_at)
    rows = s.execute(
        select(day, Mention.tier, *_sums())
        .join(Mention, Mention.id == Reply.mention_id)
        .where(*_spending(since, until))
        .group_by(day, Mention.tier)
        .order_by(day, Mention.tier)
    )
    return [
        TierDay(date.fromisoformat(d), tier or NO_TIER, Spent(int(n), int(p), int(c)))
        for d, tier, n, p, c in rows
    ]


def by_user(s: Session, since: date, until: date | None = None) -> list[UserDay]:
    """Replies and tokens per UTC day and user, oldest day first, then the biggest spender."""
    day = day_bucket(s, Reply.created_at)
    replies, prompt, completion = _sums()
    rows = s.execute(
        select(
            day,
            PlatformUser.id,
            PlatformUser.username,
            PlatformUser.platform_id,
            replies,
            prompt,
            completion,
        )
        .join(Mention, Mention.id == Reply.mention_id)
        .join(PlatformUser, PlatformUser.id == Mention.author_id)
        .where(*_spending(since, until))
        .group_by(day, PlatformUser.id, PlatformUser.username, PlatformUser.platform_id)
        .order_by(day, desc(prompt + completion), PlatformUser.id)
    )
    return [
        UserDay(date.fromisoformat(d), int(uid), name, pid, Spent(int(n), int(p), int(c)))
        for d, uid, name, pid, n, p, c in rows
    ]


@dataclass(frozen=True)
class RecentSpent:
    """One user's replies and tokens today and over the last RECENT_DAYS UTC days."""

    today: Spent
    recent: Spent
    days: int = RECENT_DAYS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"today": self.today.to_dict(), f"last_{self.days}_days": self.recent.to_dict()}


def user_recent(s: Session, user_id: int, now: datetime | None = None) -> RecentSpent:
    """A user's tokens today and over the last RECENT_DAYS UTC days (today included)."""
    today = (now or utcnow()).astimezone(UTC).date()
    day = day_bucket(s, Reply.created_at)
    rows = s.execute(
        select(day, *_sums())
        .join(Mention, Mention.id == Reply.mention_id)
        .where(Mention.author_id == user_id, *_spending(today - timedelta(RECENT_DAYS - 1), today))
        .group_by(day)
    )
    per_day = {d: Spent(int(n), int(p), int(c)) for d, n, p, c in rows}
    return RecentSpent(per_day.get(today.isoformat(), Spent()), sum(per_day.values(), Spent()))


def tier_days(s: Session, now: datetime, days: int = RECENT_DAYS) -> dict[str, dict[str, Spent]]:
    """{day: {tier: spent}} over the last `days` UTC days, every day present, oldest first."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    out: dict[str, dict[str, Spent]] = {
        (first + timedelta(days=i)).isoformat(): {} for i in range(days)
    }
    for row in by_tier(s, first, today):
        out[row.day.isoformat()][row.tier] = row.spent
    return out


@dataclass(frozen=True)
class BudgetUse:
    """A tier's daily token budget and the tokens counted against it today."""

    tier: Tier
    budget: int
    used: int

    @property
    def left(self) -> int:
        """Tokens left today (none once overshot: replies in flight may pass the budget)."""
        return max(self.budget - self.used, 0)


def budgets_today(s: Session, now: datetime) -> list[BudgetUse]:
    """Every tier with a daily token budget, and today's count."""
    return [
        BudgetUse(p.tier, p.daily_token_budget, quotas.tier_tokens_used(s, p.tier, now))
        for p in sorted(policies(s).values(), key=lambda p: p.priority)
        if p.daily_token_budget > 0
    ]


def charge_tokens(sessions: SessionFactory, policy: Policy, completion: Completion) -> None:
    """Count a generation's tokens against its tier's day, right after the model answered:
    spent is spent, whether the reply is then stored, held, or the mention fails.

    Nothing at all (no transaction, no query) for a tier without a budget, so a budget set
    during a day counts from then on. Atomic under concurrent workers (one upsert adds), but
    a budget can be overshot: every mention accepted before it ran out is still generated.
    """
    if policy.daily_token_budget <= 0:
        return
    with transaction(sessions) as s:
        quotas.add_tier_tokens(
            s, policy.tier, completion.prompt_tokens + completion.completion_tokens, utcnow()
        )
