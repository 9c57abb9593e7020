"""What an operator asks about subscribers: lookups, listings, one subscriber's detail and
quota use. What an operator changes (grants and blocks) is `overrides`.

The CLI (`mentionbot subscribers|tiers`) and the dashboard call these inside one transaction
per request. Every request is checked before anything is written; a request the operator has
to fix raises OperatorError (the transaction then rolls back). Its message names the request's
fields as `{field}`, so each front end shows them its own way (`--note` on the command line).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, case, func, select, type_coerce
from sqlalchemy.orm import Session, aliased

from bot.db.base import utcnow
from bot.errors import OperatorError
from bot.mentions.schema import Mention, PlatformUser
from bot.subscribers import quotas
from bot.subscribers.schema import TierOverride
from bot.subscribers.tiers import (
    FROM_X,
    Policy,
    active,
    active_override,
    effective_tier,
    history,
    policies,
    tier_from_subscription,
)
from bot.vocab import (
    BLOCKED,
    EffectiveTier,
    OverrideAction,
    Tier,
    UnknownTierError,
    as_effective_tier,
    parse_tier,
)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(frozen=True)
class OverrideView:
    """One grant or block, detached from the session."""

    id: int
    action: OverrideAction
    tier: Tier | None
    until: datetime | None
    note: str
    actor: str
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def of(cls, row: TierOverride) -> OverrideView:
        """A view of one override row."""
        return cls(
            row.id,
            row.action,
            row.tier,
            row.until,
            row.note,
            row.actor,
            row.created_at,
            row.revoked_at,
            row.revoked_by,
        )

    def status(self, now: datetime) -> str:
        """active, revoked or expired."""
        if self.revoked_at is not None:
            return "revoked"
        if self.until is not None and self.until <= now:
            return "expired"
        return "active"

    def to_dict(self, now: datetime) -> dict[str, Any]:
        """JSON-ready, with its status at `now`."""
        return {
            "id": self.id,
            "action": self.action,
            "tier": self.tier,
            "until": _iso(self.until),
            "note": self.note,
            "actor": self.actor,
            "created_at": _iso(self.created_at),
            "revoked_at": _iso(self.revoked_at),
            "revoked_by": self.revoked_by,
            "status": self.status(now),
        }


@dataclass(frozen=True)
class Subscriber:
    """A platform user as an operator sees it: both tiers, the override in force, activity."""

    id: int
    platform_id: str
    username: str
    display_name: str
    subscription_type: str | None
    platform_tier: Tier
    effective_tier: EffectiveTier
    override: OverrideView | None
    mentions: int
    first_seen: datetime | None
    last_seen: datetime | None

    def to_dict(self, now: datetime) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "id": self.id,
            "platform_id": self.platform_id,
            "username": self.username,
            "display_name": self.display_name,
            "subscription_type": self.subscription_type,
            "platform_tier": self.platform_tier,
            "effective_tier": self.effective_tier,
            "override": self.override.to_dict(now) if self.override else None,
            "mentions": self.mentions,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
        }


@dataclass(frozen=True)
class QuotaUse:
    """Replies used in the current window against the effective tier's limit."""

    window: str
    used: int
    limit: int | None
    window_start: datetime
    resets_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "used": self.used,
            "limit": self.limit,
            "window_start": _iso(self.window_start),
            "resets_at": _iso(self.resets_at),
        }


@dataclass(frozen=True)
class SubscriberDetail:
    """One subscriber, every override it ever had, its quota use."""

    subscriber: Subscriber
    history: list[OverrideView]
    quota: list[QuotaUse]
    policy: Policy | None

    def to_dict(self, now: datetime) -> dict[str, Any]:
        """JSON-ready."""
        return {
            **self.subscriber.to_dict(now),
            "policy": policy_dict(self.policy) if self.policy else None,
            "quota": {q.window: q.to_dict() for q in self.quota},
            "history": [h.to_dict(now) for h in self.history],
        }


def policy_dict(policy: Policy) -> dict[str, Any]:
    """A policy as JSON-ready fields."""
    return asdict(policy)


def _mentions_count() -> Any:
    return (
        select(func.count())
        .select_from(Mention)
        .where(Mention.author_id == PlatformUser.id)
        .correlate(PlatformUser)
        .scalar_subquery()
    )


def find_user(session: Session, ref: str) -> PlatformUser:
    """A user by @username, username (case-insensitive, as on X) or platform id."""
    name = ref.strip()
    handle = name.removeprefix("@")
    if not handle:
        raise OperatorError("no user given")
    if not name.startswith("@") and handle.isdigit():
        by_id = session.scalars(
            select(PlatformUser).where(PlatformUser.platform_id == handle)
        ).first()
        if by_id is not None:
            return by_id
    found = list(
        session.scalars(
            select(PlatformUser)
            .where(func.lower(PlatformUser.username) == handle.lower())
            .order_by(PlatformUser.updated_at.desc(), PlatformUser.id.desc())
        )
    )
    if not found:
        raise OperatorError(
            "unknown user {ref}: the bot has never seen them (a user must mention the bot "
            "once before an operator can look them up, grant them a tier or block them)",
            ref=repr(ref),
        )
    if len(found) > 1:
        raise OperatorError(
            "{ref} matches {n} users (X usernames change hands); use a platform id: {ids}",
            ref=repr(ref),
            n=len(found),
            ids=", ".join(u.platform_id for u in found),
        )
    return found[0]


def _subscriber(
    user: PlatformUser, tier: EffectiveTier, override: TierOverride | None, mentions: int
) -> Subscriber:
    return Subscriber(
        id=user.id,
        platform_id=user.platform_id,
        username=user.username,
        display_name=user.display_name,
        subscription_type=user.subscription_type,
        platform_tier=tier_from_subscription(user.subscription_type),
        effective_tier=tier,
        override=OverrideView.of(override) if override is not None else None,
        mentions=int(mentions or 0),
        first_seen=user.first_seen_at,
        last_seen=user.updated_at,
    )


def list_subscribers(
    session: Session,
    *,
    tier: str | None = None,
    blocked: bool = False,
    limit: int = 50,
    now: datetime | None = None,
) -> list[Subscriber]:
    """Users most recently seen first, optionally only one effective tier (or the blocked).

    The effective tier is computed in SQL (the same rules as tiers.effective_tier: the
    newest active override, else X's subscription_type) so the filter and the limit hold.
    """
    wanted = _wanted_tier(tier, blocked, limit)
    now = now or utcnow()
    newest = (
        select(TierOverride.user_id, func.max(TierOverride.id).label("id"))
        .where(active(now))
        .group_by(TierOverride.user_id)
        .subquery()
    )
    override = aliased(TierOverride)
    platform_tier: ColumnElement[str] = case(
        *[(PlatformUser.subscription_type == x, t.value) for x, t in FROM_X.items()],
        else_=Tier.NONE.value,
    )
    effective: ColumnElement[str] = case(
        (override.action == OverrideAction.BLOCK.value, BLOCKED),
        # As a plain string: the effective tier may be BLOCKED, which is not a Tier.
        (override.tier.is_not(None), type_coerce(override.tier, String)),
        else_=platform_tier,
    )
    stmt = (
        select(PlatformUser, override, effective.label("effective"), _mentions_count())
        .outerjoin(newest, newest.c.user_id == PlatformUser.id)
        .outerjoin(override, override.id == newest.c.id)
        .order_by(PlatformUser.updated_at.desc(), PlatformUser.id.desc())
        .limit(limit)
    )
    if wanted is not None:
        stmt = stmt.where(effective == wanted)
    return [
        _subscriber(user, as_effective_tier(eff), row, count)
        for user, row, eff, count in session.execute(stmt).tuples()
    ]


def checked_tier(name: str) -> Tier:
    """A tier by name, or the operator's error naming the tiers there are."""
    try:
        return parse_tier(name)
    except UnknownTierError as exc:
        raise OperatorError("{message}", message=str(exc)) from None


def _wanted_tier(tier: str | None, blocked: bool, limit: int) -> str | None:
    """The effective tier a listing filters on, checked."""
    if tier is not None and tier != BLOCKED:
        checked_tier(tier)
    if blocked and tier not in (None, BLOCKED):
        raise OperatorError("{blocked} and {tier} select different users; give one")
    if limit < 1:
        raise OperatorError("{limit} must be at least 1")
    return BLOCKED if blocked else tier


def subscriber_detail(session: Session, ref: str, now: datetime | None = None) -> SubscriberDetail:
    """One user: tiers, the override in force, every override ever, quota use now."""
    return detail_of(session, find_user(session, ref), now or utcnow())


def detail_of(session: Session, user: PlatformUser, now: datetime) -> SubscriberDetail:
    """subscriber_detail for a user row the caller already has."""
    mentions = session.scalar(select(_mentions_count()).where(PlatformUser.id == user.id)) or 0
    tier = effective_tier(session, user, now)
    sub = _subscriber(user, tier, active_override(session, user.id, now), mentions)
    policy = policies(session).get(tier) if isinstance(tier, Tier) else None  # blocked
    quota = []
    for window, window_s, limit in (
        ("hour", quotas.HOUR, policy.replies_per_hour if policy else None),
        ("day", quotas.DAY, policy.replies_per_day if policy else None),
    ):
        start = quotas.window_start(now, window_s)
        quota.append(
            QuotaUse(
                window=window,
                used=quotas.used(session, quotas.user_key(user.id, window), window_s, now),
                limit=limit,
                window_start=start,
                resets_at=start + timedelta(seconds=window_s),
            )
        )
    return SubscriberDetail(
        sub, [OverrideView.of(r) for r in history(session, user.id)], quota, policy
    )
