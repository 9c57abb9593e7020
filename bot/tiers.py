"""Subscriber tiers: X's subscription_type, operator overrides, and each tier's policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.schema import PlatformUser, TierOverride, TierPolicy, utcnow

log = structlog.get_logger(__name__)

TIERS = ("none", "basic", "premium", "premium_plus")
# X's user.fields subscription_type values (DESIGN.md section 4).
_FROM_X = {"None": "none", "Basic": "basic", "Premium": "premium", "PremiumPlus": "premium_plus"}
_warned: set[str] = set()

BLOCKED = "blocked"


def tier_from_subscription(subscription_type: str | None) -> str:
    """Map X's value to a tier; anything unknown is `none` (and logged once)."""
    if subscription_type is None:
        return "none"
    tier = _FROM_X.get(subscription_type)
    if tier is None:
        if subscription_type not in _warned:
            _warned.add(subscription_type)
            log.warning("tiers.unknown_subscription_type", value=subscription_type[:40])
        return "none"
    return tier


def _active(now: datetime) -> object:
    return (TierOverride.revoked_at.is_(None)) & or_(
        TierOverride.until.is_(None), TierOverride.until > now
    )


def active_override(session: Session, user_id: int, now: datetime) -> TierOverride | None:
    """The newest override in force for a user, if any."""
    return session.scalars(
        select(TierOverride)
        .where(TierOverride.user_id == user_id, _active(now))  # type: ignore[arg-type]
        .order_by(TierOverride.id.desc())
        .limit(1)
    ).first()


def effective_tier(session: Session, user: PlatformUser, now: datetime | None = None) -> str:
    """An active override's tier (or `blocked`), else the platform's."""
    override = active_override(session, user.id, now or utcnow())
    if override is not None:
        return BLOCKED if override.action == "block" else str(override.tier)
    return tier_from_subscription(user.subscription_type)


@dataclass(frozen=True)
class Policy:
    """A tier's policy, detached from the session."""

    tier: str
    answered: bool
    replies_per_hour: int
    replies_per_day: int
    max_output_tokens: int
    priority: int
    moderation: str
    upsell_text: str | None
    upsell_every_days: int


def policies(session: Session) -> dict[str, Policy]:
    """Every tier's policy."""
    return {
        p.tier: Policy(
            p.tier,
            p.answered,
            p.replies_per_hour,
            p.replies_per_day,
            p.max_output_tokens,
            p.priority,
            p.moderation,
            p.upsell_text,
            p.upsell_every_days,
        )
        for p in session.scalars(select(TierPolicy))
    }


def grant(
    session: Session, user_id: int, tier: str, until: datetime | None, note: str, actor: str
) -> TierOverride:
    """Give a user a tier (until a date, or for good), with a note; history is kept."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; tiers are {', '.join(TIERS)}")
    row = TierOverride(
        user_id=user_id,
        action="grant",
        tier=tier,
        until=until,
        note=note,
        actor=actor,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def block(
    session: Session, user_id: int, note: str, actor: str, until: datetime | None = None
) -> TierOverride:
    """Block a user (the bot ignores them) until a date or for good."""
    row = TierOverride(
        user_id=user_id, action="block", until=until, note=note, actor=actor, created_at=utcnow()
    )
    session.add(row)
    session.flush()
    return row


def revoke(session: Session, user_id: int, action: str, actor: str) -> int:
    """End every active override of that kind for a user; returns how many ended."""
    now = utcnow()
    result = session.execute(
        update(TierOverride)
        .where(TierOverride.user_id == user_id, TierOverride.action == action, _active(now))  # type: ignore[arg-type]
        .values(revoked_at=now, revoked_by=actor)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
