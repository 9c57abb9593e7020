"""The dashboard's figures: decisions per hour, replies by status, latency by tier, tokens
per tier per day, the review queue over time, and each moderator's decisions. Grouped in SQL
where the rows are many."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.dialect import hour_bucket
from bot.mentions.schema import Mention
from bot.moderation.schema import AuditEntry
from bot.replies import usage
from bot.replies.schema import Reply
from bot.replies.usage import BudgetUse, Spent
from bot.vocab import AuditAction, Moderation, Tier

LATENCY_SAMPLE = 20_000  # the newest replies a latency figure is drawn from


@dataclass(frozen=True)
class Latency:
    """Mention-to-reply seconds for one tier."""

    tier: str
    p50: float
    p95: float
    count: int


def _hours(now: datetime, hours: int) -> list[str]:
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    return [(start + timedelta(hours=h)).strftime("%Y-%m-%d %H") for h in range(hours)]


def decisions_per_hour(s: Session, now: datetime, hours: int = 24) -> dict[str, dict[str, int]]:
    """{hour: {decision: mentions decided}} over the last `hours` (every hour present)."""
    since = now - timedelta(hours=hours)
    bucket = hour_bucket(s, Mention.received_at)
    rows = s.execute(
        select(bucket, Mention.decision, func.count())
        .where(Mention.received_at >= since)
        .group_by(bucket, Mention.decision)
    )
    out: dict[str, dict[str, int]] = {h: {} for h in _hours(now, hours)}
    for hour, decision, n in rows:
        if hour in out:
            out[hour][str(decision)] = int(n)
    return out


def replies_by_status(s: Session) -> dict[str, int]:
    """How many replies are in each state."""
    rows = s.execute(select(Reply.status, func.count()).group_by(Reply.status))
    return {str(status): int(n) for status, n in rows}


def latency_by_tier(s: Session, now: datetime, hours: int = 24) -> list[Latency]:
    """p50 and p95 seconds from a mention's post to our reply's, per tier (recent replies)."""
    rows = s.execute(
        select(Mention.tier, Mention.posted_at, Reply.posted_at)
        .join(Reply, Reply.mention_id == Mention.id)
        .where(Reply.posted_at >= now - timedelta(hours=hours), Mention.posted_at.is_not(None))
        .order_by(Reply.id.desc())
        .limit(LATENCY_SAMPLE)
    )
    per_tier: dict[str, list[float]] = defaultdict(list)
    for tier, mentioned, replied in rows:
        per_tier[tier or "-"].append(max(0.0, (replied - mentioned).total_seconds()))
    out = []
    for tier, values in sorted(per_tier.items()):
        values.sort()
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        out.append(Latency(tier, statistics.median(values), p95, len(values)))
    return out


def queue_depth(
    s: Session, now: datetime, hours: int = 24, steps: int = 48
) -> list[tuple[datetime, int]]:
    """How many pre-moderated replies were waiting at each step of the last `hours`."""
    since = now - timedelta(hours=hours)
    rows = s.execute(
        select(Reply.created_at, Reply.decided_at).where(
            Reply.moderation == Moderation.PRE,
            (Reply.decided_at.is_(None)) | (Reply.decided_at >= since),
            Reply.created_at <= now,
        )
    ).all()
    points = []
    for i in range(steps + 1):
        t = since + (now - since) * i / steps
        waiting = sum(
            1 for created, decided in rows if created <= t and (decided is None or decided > t)
        )
        points.append((t, waiting))
    return points


def decisions_per_moderator(s: Session, now: datetime, days: int = 7) -> dict[str, Counter[str]]:
    """{moderator: {approve|edit|reject: count}} over the last `days`."""
    actions = [AuditAction.APPROVE, AuditAction.EDIT, AuditAction.REJECT]
    rows = s.execute(
        select(AuditEntry.actor, AuditEntry.action, func.count())
        .where(AuditEntry.action.in_(actions), AuditEntry.at >= now - timedelta(days=days))
        .group_by(AuditEntry.actor, AuditEntry.action)
    )
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for actor, action, n in rows:
        out[actor][action] += int(n)
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class TokenDays:
    """Tokens per tier per UTC day (every day of the window present), and today's count
    against each tier's daily token budget."""

    days: dict[str, dict[str, Spent]]
    tiers: list[str]  # the tiers that spent any, highest first
    budgets: list[BudgetUse]

    def chart(self) -> dict[str, dict[str, int]]:
        """{day: {tier: total tokens}}, for a stacked bar chart."""
        return {
            day: {tier: spent.total_tokens for tier, spent in per_tier.items()}
            for day, per_tier in self.days.items()
        }

    def day_total(self, day: str) -> Spent:
        """Every tier's replies and tokens on one day."""
        return sum(self.days[day].values(), Spent())


def tokens_per_tier(s: Session, now: datetime, days: int = usage.RECENT_DAYS) -> TokenDays:
    """What generation cost per tier over the last `days` UTC days (today included)."""
    found = usage.tier_days(s, now, days)
    order = {t.value: i for i, t in enumerate(reversed(Tier))}
    spending = {tier for per_tier in found.values() for tier in per_tier}
    tiers = sorted(spending, key=lambda t: (order.get(t, len(order)), t))
    return TokenDays(found, tiers, usage.budgets_today(s, now))
