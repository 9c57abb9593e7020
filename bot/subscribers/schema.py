"""Tier policies, operators' overrides of users, and the rate counters behind every quota."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, enum_column
from bot.vocab import Moderation, OverrideAction, Tier


class TierPolicy(Base):
    """What one subscriber tier gets; seeded by a migration, changed by operators."""

    __tablename__ = "tier_policies"

    tier: Mapped[Tier] = mapped_column(enum_column(Tier, "tier"), primary_key=True)
    answered: Mapped[bool] = mapped_column(Boolean)
    replies_per_hour: Mapped[int] = mapped_column(Integer)
    replies_per_day: Mapped[int] = mapped_column(Integer)
    max_output_tokens: Mapped[int] = mapped_column(Integer)
    # 0 is served first, 9 last: vLLM and Celery's Redis transport both order that way.
    priority: Mapped[int] = mapped_column(Integer)
    moderation: Mapped[Moderation] = mapped_column(enum_column(Moderation, "moderation", 8))
    upsell_text: Mapped[str | None] = mapped_column(Text)
    upsell_every_days: Mapped[int] = mapped_column(Integer, server_default="30")
    # Prompt + completion tokens the tier may spend per UTC day (rate_counters); 0: no budget.
    daily_token_budget: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TierOverride(Base):
    """An operator's grant or block for one user; rows are history, never deleted."""

    __tablename__ = "tier_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # platform_users lives in bot.mentions.schema; a foreign key by name needs no import.
    user_id: Mapped[int] = mapped_column(ForeignKey("platform_users.id"), index=True)
    action: Mapped[OverrideAction] = mapped_column(
        enum_column(OverrideAction, "override_action", 8)
    )
    tier: Mapped[Tier | None] = mapped_column(enum_column(Tier, "tier"))  # a grant's
    until: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, server_default="")
    actor: Mapped[str] = mapped_column(String(64), server_default="operator")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class RateCounter(Base):
    """Units used in one fixed window for one key (a user's quota, the bot's post budget)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    used: Mapped[int] = mapped_column(Integer)
