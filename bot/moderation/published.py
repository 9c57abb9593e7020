"""Replies already out (post-moderated tiers) and shadow tiers' replies: mark reviewed, take down.

Taking a reply down deletes it on the platform first, then records it; the call to the
platform happens outside any transaction (the caller's session is committed before it), and
a platform error leaves the row as it was (the moderator sees why and can try again; a
second delete of a gone post is harmless).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.moderation import audit
from bot.moderation.review import ReviewRefused
from bot.platform.protocol import Platform, PlatformError
from bot.replies.schema import Reply
from bot.vocab import AuditAction, ReplyStatus


def mark_reviewed(s: Session, reply_id: int, who: str) -> None:
    """A moderator looked at a posted, shadowed or held reply and lets it stand."""
    row = s.execute(
        update(Reply)
        .where(
            Reply.id == reply_id,
            Reply.status.in_([ReplyStatus.POSTED, ReplyStatus.SHADOWED, ReplyStatus.HELD]),
            Reply.decided_at.is_(None),
        )
        .values(decided_by=who, decided_at=utcnow())
        .returning(Reply.mention_id)
    ).first()
    if row is None:
        raise ReviewRefused("this reply was reviewed already, or is not posted")
    audit.record(s, who, AuditAction.MARK_REVIEWED, reply_id=reply_id, mention_id=row[0])


def take_down(s: Session, platform: Platform, reply_id: int, who: str, why: str) -> bool:
    """Delete a posted reply on the platform and record why; False if it was gone there.

    Commits `s` before the platform call, then writes the record in a new transaction on
    it, which the caller commits.
    """
    note = why.strip()
    if not note:
        raise ReviewRefused("{reason} must say why (it is kept in the audit log)")
    post_id = s.scalar(
        select(Reply.platform_post_id).where(
            Reply.id == reply_id, Reply.status == ReplyStatus.POSTED
        )
    )
    s.commit()
    if post_id is None:
        raise ReviewRefused("this reply is not posted (taken down already?)")
    try:
        deleted = platform.delete_post(post_id)
    except PlatformError as exc:
        raise ReviewRefused(
            "X refused to delete the post ({error}); nothing was changed, try again",
            error=str(exc)[:200],
        ) from None
    row = s.execute(
        update(Reply)
        .where(Reply.id == reply_id, Reply.status == ReplyStatus.POSTED)
        .values(
            status=ReplyStatus.TAKEN_DOWN,
            reason=None,  # the status says it; the moderator's words are the detail
            detail=note[:500],
            taken_down_at=utcnow(),
            decided_by=who,
            decided_at=utcnow(),
        )
        .returning(Reply.mention_id, Reply.text)
    ).first()
    if row is not None:
        audit.record(
            s,
            who,
            AuditAction.TAKE_DOWN,
            reply_id=reply_id,
            mention_id=row.mention_id,
            before=row.text,
            note=note,
            detail=post_id if deleted else f"{post_id} (already gone on the platform)",
        )
    return deleted
