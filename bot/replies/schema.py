"""The one reply the bot may give to a mention (one post, or a thread of parts), its
moderation flags, and the posting switch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.base import Base, enum_column
from bot.mentions.schema import Mention
from bot.vocab import Moderation, Reason, ReplyStatus


class Reply(Base):
    """The one reply the bot may give to a mention."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unique: the last line of defence for "at most one reply per mention". A thread's
    # text is its parts joined by THREAD_JOIN (what moderators read); the parts are posted.
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id"), unique=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[ReplyStatus] = mapped_column(
        enum_column(ReplyStatus, "reply_status"), index=True
    )
    # How it went out, why it waits or why it failed (None: the status says it all).
    reason: Mapped[Reason | None] = mapped_column(enum_column(Reason, "reply_reason", 64))
    detail: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(128))
    # pre: waits for a moderator; post: posted, then reviewed; auto: no review.
    moderation: Mapped[Moderation] = mapped_column(
        enum_column(Moderation, "moderation", 8), server_default=Moderation.AUTO.value
    )
    prompt_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    generation_s: Mapped[float] = mapped_column(server_default="0")
    ttft_s: Mapped[float | None] = mapped_column()
    platform_post_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    approved_at: Mapped[datetime | None]
    posting_at: Mapped[datetime | None]
    posted_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    # Review: who holds the item (a claim expires), who decided (or looked at a posted
    # reply) and when; names, not ids, so history survives a removed moderator.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    taken_down_at: Mapped[datetime | None]
    # A rate-limited reply waits until X's window resets (reason rate_limited).
    wait_until: Mapped[datetime | None]

    mention: Mapped[Mention] = relationship()

    # The review queue and the posted list page through status by age.
    __table_args__ = (Index("ix_replies_status_created_at", "status", "created_at"),)


class ReplyPart(Base):
    """One post of a reply that goes out as a thread (MENTIONBOT_THREAD_MAX_POSTS > 1).

    Only replies of more than one post have parts; position 0 answers the mention, each
    later one answers the part before it. A part's platform id is recorded as soon as X
    accepts it, so a retry posts only what is missing (reconciling the one in doubt).
    """

    __tablename__ = "reply_parts"

    reply_id: Mapped[int] = mapped_column(
        ForeignKey("replies.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    platform_post_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    posted_at: Mapped[datetime | None]


class ReplyFlag(Base):
    """A warning for moderators, set when the reply was generated (a Flag)."""

    __tablename__ = "reply_flags"

    reply_id: Mapped[int] = mapped_column(
        ForeignKey("replies.id", ondelete="CASCADE"), primary_key=True
    )
    flag: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class Switch(Base):
    """An operator's switch for the whole bot account (the posting kill switch)."""

    __tablename__ = "switches"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    on: Mapped[bool] = mapped_column(Boolean)
    # The operator's words on why (column "reason", from before a reason was a code).
    note: Mapped[str] = mapped_column("reason", Text, key="note", server_default="")
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]
