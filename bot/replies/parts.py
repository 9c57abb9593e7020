"""A reply's posts when it goes out as a thread: what each part says and which are out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.replies.schema import Reply, ReplyPart
from bot.vocab import ReplyStatus

__all__ = ["THREAD_JOIN", "parts_of", "record_part", "set_parts", "unthread"]

# How a thread's parts read as one text (the reply's text: the dashboard, the audit log).
THREAD_JOIN = "\n\n"
# The " 2/3" a numbered thread's parts end with (models.postprocess.fitting adds them).
_PART_NUMBER = re.compile(r" \d{1,2}/\d{1,2}(?=\n\n|\s*$)")


def unthread(text: str) -> str:
    """A thread's text as one text again (numbers off, parts joined by spaces), to be fitted
    anew: what a moderator's edit of a thread goes through."""
    return " ".join(p.strip() for p in _PART_NUMBER.sub("", text).split(THREAD_JOIN))


def set_parts(s: Session, reply_id: int, posts: Sequence[str]) -> str:
    """Store the posts of reply_id (none when it is one post); returns the reply's text."""
    s.execute(delete(ReplyPart).where(ReplyPart.reply_id == reply_id))
    if len(posts) > 1:
        s.add_all(
            ReplyPart(reply_id=reply_id, position=i, text=text) for i, text in enumerate(posts)
        )
        s.flush()
    return THREAD_JOIN.join(posts)


def parts_of(s: Session, reply_id: int) -> list[ReplyPart]:
    """The reply's parts in thread order ([] for a reply of one post)."""
    return list(
        s.scalars(
            select(ReplyPart).where(ReplyPart.reply_id == reply_id).order_by(ReplyPart.position)
        )
    )


def record_part(s: Session, reply_id: int, position: int, post_id: str, now: datetime) -> None:
    """X accepted (or already had) this part: remember its id, so it is never posted again.

    The claim's clock restarts too: a thread takes one X call per part, and the sweeper
    must not take a reply whose worker is still posting it for a stuck one.
    """
    s.execute(
        update(Reply)
        .where(Reply.id == reply_id, Reply.status == ReplyStatus.POSTING)
        .values(posting_at=now)
    )
    s.execute(
        update(ReplyPart)
        .where(
            ReplyPart.reply_id == reply_id,
            ReplyPart.position == position,
            ReplyPart.platform_post_id.is_(None),
        )
        .values(platform_post_id=post_id, posted_at=now)
    )
