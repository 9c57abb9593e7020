"""The audit log: every moderator action, who and when, the text before and after, why.

Append-only: this module only inserts, and a database trigger refuses any UPDATE or DELETE
of audit_log rows (migration 0005), so no route or service can rewrite history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.moderation.schema import AuditEntry
from bot.vocab import AuditAction


def record(
    s: Session,
    actor: str,
    action: AuditAction,
    *,
    reply_id: int | None = None,
    mention_id: int | None = None,
    user_id: int | None = None,
    before: str | None = None,
    after: str | None = None,
    note: str | None = None,
    detail: str | None = None,
) -> None:
    """Write one entry in the caller's transaction (it commits with the action it records)."""
    s.add(
        AuditEntry(
            at=utcnow(),
            actor=actor,
            action=action,
            reply_id=reply_id,
            mention_id=mention_id,
            user_id=user_id,
            before_text=before,
            after_text=after,
            note=note,
            detail=detail,
        )
    )
    s.flush()


@dataclass(frozen=True)
class AuditFilter:
    """Which entries a reader wants (every field optional)."""

    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    reply_id: int | None = None
    user_id: int | None = None


def entries(
    s: Session, where: AuditFilter, *, limit: int = 100, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """The matching entries, newest first, and how many match in all."""
    conditions = []
    if where.actor:
        conditions.append(AuditEntry.actor == where.actor)
    if where.action:
        conditions.append(AuditEntry.action == where.action)
    if where.since is not None:
        conditions.append(AuditEntry.at >= where.since)
    if where.until is not None:
        conditions.append(AuditEntry.at < where.until)
    if where.reply_id is not None:
        conditions.append(AuditEntry.reply_id == where.reply_id)
    if where.user_id is not None:
        conditions.append(AuditEntry.user_id == where.user_id)
    total = s.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    rows = s.scalars(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def actors(s: Session) -> list[str]:
    """Everyone who has an entry, for the filter."""
    return list(s.scalars(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor)))
