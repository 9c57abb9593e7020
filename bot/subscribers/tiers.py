"""Subscriber tiers: X's subscription_type, operator overrides, and each tier's policy."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog
from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.subscribers.schema import TierOverride, TierPolicy
from bot.vocab import (
    BLOCKED,
    EffectiveTier,
    Moderation,
    OverrideAction,
    Tier,
    UnknownTierError,
    parse_tier,
)
from models.xlength import MAX_WEIGHTED_LENGTH, fits

log = structlog.get_logger(__name__)

# X's user.fields subscription_type values (docs/design.md section 4).
FROM_X: dict[str, Tier] = {
    "None": Tier.NONE,
    "Basic": Tier.BASIC,
    "Premium": Tier.PREMIUM,
    "PremiumPlus": Tier.PREMIUM_PLUS,
}
_warned: set[str] = set()


class TieredUser(Protocol):
    """What the tier of a platform user depends on (a bot.mentions.schema.PlatformUser)."""

    id: int
    subscription_type: str | None


def tier_from_subscription(subscription_type: str | None) -> Tier:
    """Map X's value to a tier; a value X may add later counts as `none` (logged once).

    This is X's vocabulary, not ours: an unknown value here is X's news, not a broken tier.
    """
    if subscription_type is None:
        return Tier.NONE
    tier = FROM_X.get(subscription_type)
    if tier is None:
        if subscription_type not in _warned:
            _warned.add(subscription_type)
            log.warning("tiers.unknown_subscription_type", value=subscription_type[:40])
        return Tier.NONE
    return tier


def active(now: datetime) -> ColumnElement[bool]:
    """The SQL condition of an override in force at `now`."""
    return TierOverride.revoked_at.is_(None) & or_(
        TierOverride.until.is_(None), TierOverride.until > now
    )


def active_override(session: Session, user_id: int, now: datetime) -> TierOverride | None:
    """The newest override in force for a user, if any."""
    return session.scalars(
        select(TierOverride)
        .where(TierOverride.user_id == user_id, active(now))
        .order_by(TierOverride.id.desc())
        .limit(1)
    ).first()


def active_overrides(
    session: Session, user_ids: Collection[int], now: datetime
) -> dict[int, TierOverride]:
    """The newest override in force for each of these users that has one (one query)."""
    if not user_ids:
        return {}
    rows = session.scalars(
        select(TierOverride)
        .where(TierOverride.user_id.in_(user_ids), active(now))
        .order_by(TierOverride.id)
    )
    return {row.user_id: row for row in rows}  # ascending ids: the newest one wins


def effective_tier(
    session: Session, user: TieredUser, now: datetime | None = None
) -> EffectiveTier:
    """An active override's tier (or BLOCKED), else the platform's."""
    return resolve_tier(active_override(session, user.id, now or utcnow()), user.subscription_type)


def resolve_tier(override: TierOverride | None, subscription_type: str | None) -> EffectiveTier:
    """The tier an override in force gives (or BLOCKED), else the one X's value gives."""
    if override is not None:
        if override.action == OverrideAction.BLOCK:
            return BLOCKED
        return parse_tier(str(override.tier))
    return tier_from_subscription(subscription_type)


@dataclass(frozen=True)
class Policy:
    """A tier's policy, detached from the session."""

    tier: Tier
    answered: bool
    replies_per_hour: int
    replies_per_day: int
    max_output_tokens: int
    priority: int
    moderation: Moderation
    upsell_text: str | None
    upsell_every_days: int
    # Prompt + completion tokens per UTC day for the whole tier; 0: no budget.
    daily_token_budget: int = 0


def policies(session: Session) -> dict[Tier, Policy]:
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
            p.daily_token_budget,
        )
        for p in session.scalars(select(TierPolicy))
    }


def policy_for(tier_policies: Mapping[Tier, Policy], tier: EffectiveTier | None) -> Policy:
    """The policy of `tier`; a tier without one (or BLOCKED) is an error, never another
    tier's policy."""
    policy = tier_policies.get(tier) if isinstance(tier, Tier) else None
    if policy is None:
        raise UnknownTierError(
            f"no policy for tier {tier!r} (known: {', '.join(sorted(tier_policies))}); "
            "run `mentionbot db upgrade`"
        )
    return policy


def add_override(
    session: Session,
    user_id: int,
    action: OverrideAction,
    note: str,
    actor: str,
    *,
    tier: str | None = None,
    until: datetime | None = None,
) -> TierOverride:
    """Grant a user a tier or block them (until a date, or for good); history is kept."""
    if (action == OverrideAction.GRANT) != (tier is not None):
        raise ValueError("a grant names a tier; a block does not")
    row = TierOverride(
        user_id=user_id,
        action=action,
        tier=parse_tier(tier) if tier is not None else None,
        until=until,
        note=note,
        actor=actor,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def revoke(session: Session, user_id: int, action: OverrideAction, actor: str) -> int:
    """End every active override of that kind for a user; returns how many ended."""
    now = utcnow()
    result = session.execute(
        update(TierOverride)
        .where(TierOverride.user_id == user_id, TierOverride.action == action, active(now))
        .values(revoked_at=now, revoked_by=actor)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def history(session: Session, user_id: int) -> list[TierOverride]:
    """Every override a user ever had, oldest first (revoked and expired ones included)."""
    return list(
        session.scalars(
            select(TierOverride).where(TierOverride.user_id == user_id).order_by(TierOverride.id)
        )
    )


_INT_LIMIT = 2**31 - 1  # the columns are 32-bit INTEGERs
_INT_MIN = {
    "replies_per_hour": 0,
    "replies_per_day": 0,
    "max_output_tokens": 1,  # vLLM refuses max_tokens=0
    "priority": 0,
    "upsell_every_days": 0,
    "daily_token_budget": 0,  # 0: no budget
}
# The longest X handle, to check an upsell template still fits one post once filled in.
_LONGEST_USERNAME = "x" * 15


def _checked(name: str, value: object) -> object:
    """One validated policy field value; raises ValueError with an operator-facing message."""
    if name in _INT_MIN:
        return _checked_int(name, value)
    check = _CHECKS.get(name)
    if check is None:
        raise ValueError(f"unknown policy field {name!r}")
    return check(value)


def _checked_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number")
    high = 9 if name == "priority" else _INT_LIMIT
    if not _INT_MIN[name] <= value <= high:
        raise ValueError(f"{name} must be between {_INT_MIN[name]} and {high}, not {value}")
    return value


def _checked_answered(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("answered must be true or false")
    return value


def _checked_moderation(value: object) -> Moderation:
    if value not in set(Moderation):
        modes = ", ".join(m.value for m in Moderation)
        raise ValueError(f"moderation must be one of {modes}, not {value!r}")
    return Moderation(str(value))


def _checked_upsell_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("upsell text must not be empty (remove it instead)")
    if not fits(value.replace("{username}", _LONGEST_USERNAME)):
        raise ValueError(
            f"upsell text must fit one post ({MAX_WEIGHTED_LENGTH} weighted characters "
            "with {username} filled in)"
        )
    return value


# The policy's other fields, each with its check (the whole numbers are _INT_MIN's).
_CHECKS: dict[str, Callable[[object], object]] = {
    "answered": _checked_answered,
    "moderation": _checked_moderation,
    "upsell_text": _checked_upsell_text,
}


def set_policy(session: Session, tier: str, **changes: object) -> Policy:
    """Change the given fields of a tier's policy; every value is checked before any is set."""
    known = parse_tier(tier)
    checked = {name: _checked(name, value) for name, value in changes.items()}
    row = session.get(TierPolicy, known.value, with_for_update=True)
    if row is None:
        raise ValueError(f"tier {tier!r} has no policy; run `mentionbot db upgrade`")
    for name, value in checked.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    log.info("tiers.policy_set", tier=tier, fields=sorted(checked))
    return policies(session)[known]
