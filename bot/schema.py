"""The database schema: platform users, mentions, replies and the listener cursor."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the services use."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The one declarative base; named constraints so migrations can address them."""

    metadata = MetaData(naming_convention=NAMING)


class MentionStatus(enum.StrEnum):
    """received → ignored | queued → generating → answered | failed."""

    RECEIVED = "received"
    IGNORED = "ignored"
    QUEUED = "queued"
    GENERATING = "generating"
    ANSWERED = "answered"
    FAILED = "failed"


class ReplyStatus(enum.StrEnum):
    """pending_review → approved | rejected; approved → posting → posted | post_failed."""

    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    POSTING = "posting"
    POSTED = "posted"
    POST_FAILED = "post_failed"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored by value as VARCHAR + CHECK: portable between Postgres and SQLite, and adding a
    # state later is a constraint change, not an ALTER TYPE.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class PlatformUser(Base):
    """An account on X as last seen on one of its posts."""

    __tablename__ = "platform_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[str] = mapped_column(String(32), unique=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128), server_default="")
    subscription_type: Mapped[str | None] = mapped_column(String(32))
    verified_type: Mapped[str | None] = mapped_column(String(32))
    last_upsell_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cooldown_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Mention(Base):
    """A post that mentions the bot, and where it is in its life."""

    __tablename__ = "mentions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_post_id: Mapped[str] = mapped_column(String(32), unique=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("platform_users.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    # Indexed: the per-conversation cap and loop checks count by it on every mention.
    conversation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    in_reply_to_post_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[MentionStatus] = mapped_column(
        _enum(MentionStatus, "mention_status"), index=True
    )
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    # The author's effective tier when the mention was decided, and what it was given.
    tier: Mapped[str | None] = mapped_column(String(20))
    priority: Mapped[int | None] = mapped_column(Integer)
    # When a quota unit was taken (None: none taken, or given back): finds its windows.
    quota_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    generating_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ignored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    author: Mapped[PlatformUser] = relationship(lazy="joined")
    reply: Mapped[Reply | None] = relationship(back_populates="mention", uselist=False)


class Reply(Base):
    """The one reply the bot may give to a mention."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unique: the last line of defence for "at most one reply per mention".
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id"), unique=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[ReplyStatus] = mapped_column(_enum(ReplyStatus, "reply_status"), index=True)
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(128))
    # pre: waits for a moderator; post: posted, then reviewed; auto: no review.
    moderation: Mapped[str] = mapped_column(String(8), server_default="auto")
    prompt_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    generation_s: Mapped[float] = mapped_column(server_default="0")
    ttft_s: Mapped[float | None] = mapped_column()
    platform_post_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    posting_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    mention: Mapped[Mention] = relationship(back_populates="reply")


class ListenerCursor(Base):
    """How far the listener has read the mentions timeline of one bot account."""

    __tablename__ = "listener_cursors"

    bot_user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    newest_id: Mapped[str | None] = mapped_column(String(32))
    polls: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TierPolicy(Base):
    """What one subscriber tier gets; seeded by a migration, changed by operators."""

    __tablename__ = "tier_policies"

    tier: Mapped[str] = mapped_column(String(20), primary_key=True)
    answered: Mapped[bool] = mapped_column(Boolean)
    replies_per_hour: Mapped[int] = mapped_column(Integer)
    replies_per_day: Mapped[int] = mapped_column(Integer)
    max_output_tokens: Mapped[int] = mapped_column(Integer)
    # 0 is served first, 9 last: vLLM and Celery's Redis transport both order that way.
    priority: Mapped[int] = mapped_column(Integer)
    moderation: Mapped[str] = mapped_column(String(8))
    upsell_text: Mapped[str | None] = mapped_column(Text)
    upsell_every_days: Mapped[int] = mapped_column(Integer, server_default="30")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TierOverride(Base):
    """An operator's grant or block for one user; rows are history, never deleted."""

    __tablename__ = "tier_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("platform_users.id"), index=True)
    action: Mapped[str] = mapped_column(String(8))  # grant | block
    tier: Mapped[str | None] = mapped_column(String(20))
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, server_default="")
    actor: Mapped[str] = mapped_column(String(64), server_default="operator")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class RateCounter(Base):
    """Units used in one fixed window for one key (a user's quota, the bot's post budget)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    used: Mapped[int] = mapped_column(Integer)
