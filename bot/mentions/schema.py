"""Platform users, the mentions they post, and how far the listener has read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, func
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from bot.db.base import Base, enum_column
from bot.vocab import Decision, EffectiveTier, MentionStatus, Reason, as_effective_tier


class EffectiveTierColumn(TypeDecorator[EffectiveTier]):
    """An effective tier stored by value as VARCHAR(20): a Tier, or BLOCKED (which is not a
    Tier, so the column has no CHECK of Tier's values)."""

    impl = String(20)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> EffectiveTier | None:
        return None if value is None else as_effective_tier(value)


class PlatformUser(Base):
    """An account on X as last seen on one of its posts."""

    __tablename__ = "platform_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[str] = mapped_column(String(32), unique=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128), server_default="")
    subscription_type: Mapped[str | None] = mapped_column(String(32))
    verified_type: Mapped[str | None] = mapped_column(String(32))
    last_upsell_at: Mapped[datetime | None]
    cooldown_until: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


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
    # An edit's chain: the first version's post id (None for a post never edited). The bot
    # answers a chain once, whichever version it reads first.
    edit_root_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # The post a quote post quotes: context for its answer.
    quoted_post_id: Mapped[str | None] = mapped_column(String(32))
    # What the listener decided, stored once and never changed (the stats and the thread
    # cap read it); the status and the reason say what became of the mention since.
    decision: Mapped[Decision] = mapped_column(enum_column(Decision, "mention_decision"))
    status: Mapped[MentionStatus] = mapped_column(
        enum_column(MentionStatus, "mention_status"), index=True
    )
    # Why it failed (None otherwise: an ignored mention's why is its decision), in words.
    reason: Mapped[Reason | None] = mapped_column(enum_column(Reason, "mention_reason", 64))
    detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    # The author's effective tier when the mention was decided, and what it was given.
    tier: Mapped[EffectiveTier | None] = mapped_column(EffectiveTierColumn())
    priority: Mapped[int | None] = mapped_column(Integer)
    # When a quota unit was taken (None: none taken, or given back): finds its windows.
    quota_at: Mapped[datetime | None]
    posted_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    queued_at: Mapped[datetime | None]
    generating_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ignored_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]

    author: Mapped[PlatformUser] = relationship(lazy="joined")

    @property
    def outcome(self) -> str:
        """Where it ended, in one word: why it failed, what the listener decided about a
        mention it did not accept (ignored, or upsold), or else its status."""
        if self.reason is not None:
            return self.reason
        if self.decision is not Decision.ACCEPTED:
            return self.decision
        return self.status


class ListenerCursor(Base):
    """How far the listener has read the mentions timeline of one bot account."""

    __tablename__ = "listener_cursors"

    bot_user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    newest_id: Mapped[str | None] = mapped_column(String(32))
    # What an interrupted poll (page cap, rate limit) left unread: posts after gap_since_id
    # and before gap_until_id; the next polls read it first.
    gap_since_id: Mapped[str | None] = mapped_column(String(32))
    gap_until_id: Mapped[str | None] = mapped_column(String(32))
    polls: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReferencedPost(Base):
    """A post a mention refers to (the one it replies to, the one it quotes), as the mentions
    page carried it expanded: the generate worker reads its thread context from here instead
    of asking X again for a post it has already sent."""

    __tablename__ = "referenced_posts"

    platform_post_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    author_id: Mapped[str | None] = mapped_column(String(32))
    author_username: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    display_start: Mapped[int | None] = mapped_column(Integer)
    in_reply_to_post_id: Mapped[str | None] = mapped_column(String(32))
    seen_at: Mapped[datetime] = mapped_column(server_default=func.now())
