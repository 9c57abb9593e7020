"""The posting kill switch: an admin pauses all posting at once, and resumes it.

While paused, approved replies wait (reason posting_paused): nothing is lost or failed,
and the sweeper neither re-sends nor gives up on them. Resuming sends every approved reply
again, most urgent tier first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.dialect import insert_for
from bot.mentions.schema import Mention
from bot.moderation import audit
from bot.replies.post import POSTING_SWITCH
from bot.replies.schema import Reply, Switch
from bot.vocab import AuditAction, ReplyStatus


@dataclass(frozen=True)
class PostingState:
    """Whether posting is paused, by whom, since when and why."""

    paused: bool
    changed_by: str | None = None
    changed_at: datetime | None = None
    note: str = ""  # the operator's words on why


def state(s: Session) -> PostingState:
    """The switch as it stands (never set: posting runs)."""
    row = s.get(Switch, POSTING_SWITCH)
    if row is None:
        return PostingState(False)
    return PostingState(row.on, row.changed_by, row.changed_at, row.note)


def _set(s: Session, on: bool, who: str, note: str) -> None:
    values = {"name": POSTING_SWITCH, "on": on, "note": note, "changed_by": who}
    stmt = insert_for(s, Switch).values(**values, changed_at=utcnow())
    s.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={k: stmt.excluded[k] for k in ("on", "note", "changed_by", "changed_at")},
        )
    )


def pause(s: Session, who: str, note: str) -> None:
    """Stop all posting now (replies already at X's door finish; the rest wait); `note`
    says why."""
    _set(s, True, who, note.strip())
    audit.record(s, who, AuditAction.PAUSE_POSTING, note=note.strip() or None)


def resume(s: Session, who: str) -> tuple[list[int], dict[int, int]]:
    """Posting runs again; returns the approved replies to send, most urgent first, and
    their priorities (the caller sends them after the commit)."""
    _set(s, False, who, "")
    audit.record(s, who, AuditAction.RESUME_POSTING)
    rows = s.execute(
        select(Reply.id, Mention.priority)
        .join(Mention, Mention.id == Reply.mention_id)
        .where(Reply.status == ReplyStatus.APPROVED)
        .order_by(Mention.priority.asc().nulls_last(), Reply.id)
    ).all()
    return [r.id for r in rows], {r.id: r.priority for r in rows if r.priority is not None}
