"""Dashboard accounts and their signed-in sessions, the append-only audit log, and
moderators' notes on platform users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base


class Moderator(Base):
    """A dashboard account: a moderator, or an admin who also runs the bot."""

    __tablename__ = "moderators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # a Role
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_sign_in_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]


class ModeratorSession(Base):
    """A signed-in dashboard session. The cookie carries a random token; only its SHA-256 is
    kept, so the table alone opens nothing. Signing out, a password reset and a removal
    delete the rows, which ends the sessions on the server whatever the cookie says."""

    __tablename__ = "moderator_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderators.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]


class AuditEntry(Base):
    """One moderator action; rows are only ever inserted (a trigger refuses the rest)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)  # an AuditAction
    # Plain ids, no foreign keys: the record outlives what it is about (a regenerated
    # reply's row is replaced, a moderator removed).
    reply_id: Mapped[int | None] = mapped_column(Integer, index=True)
    mention_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    before_text: Mapped[str | None] = mapped_column(Text)
    after_text: Mapped[str | None] = mapped_column(Text)
    # The moderator's words on why (column "reason", from before a reason was a code).
    note: Mapped[str | None] = mapped_column("reason", Text, key="note")
    detail: Mapped[str | None] = mapped_column(Text)


class AccountNote(Base):
    """A moderator's note on a platform user (shown beside everything they post)."""

    __tablename__ = "account_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("platform_users.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
