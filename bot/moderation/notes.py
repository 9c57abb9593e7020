"""Moderators' notes on platform users: shown beside everything the user posts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.errors import OperatorError
from bot.moderation import audit
from bot.moderation.schema import AccountNote
from bot.vocab import AuditAction

NOTE_MAX = 2000


def add_note(s: Session, user_id: int, author: str, text: str) -> AccountNote:
    """A note on a user, kept with who wrote it and when (and in the audit log)."""
    body = text.strip()
    if not body:
        raise OperatorError("{note} must not be empty")
    if len(body) > NOTE_MAX:
        raise OperatorError("{note} must be at most {n} characters", n=NOTE_MAX)
    note = AccountNote(user_id=user_id, author=author, text=body, created_at=utcnow())
    s.add(note)
    s.flush()
    audit.record(s, author, AuditAction.NOTE, user_id=user_id, after=body)
    return note


def notes_for(s: Session, user_id: int) -> list[AccountNote]:
    """A user's notes, newest first."""
    return list(
        s.scalars(
            select(AccountNote)
            .where(AccountNote.user_id == user_id)
            .order_by(AccountNote.id.desc())
        )
    )
