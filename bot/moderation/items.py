"""What moderators read: the lists (review queue, posted, shadow) and one item in full.

The lists page through one status by age with a single query per page (flags for the page
in a second), so the queue stays fast with thousands waiting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.mentions.schema import Mention, PlatformUser
from bot.moderation.audit import AuditFilter, entries
from bot.moderation.notes import notes_for
from bot.moderation.schema import AccountNote, AuditEntry
from bot.platform.protocol import Platform, PlatformError
from bot.replies.schema import Reply, ReplyFlag
from bot.subscribers.service import SubscriberDetail, detail_of
from bot.vocab import EffectiveTier, Moderation, ReplyStatus
from models.xlength import weighted_length

PER_PAGE = 50


class Listing(StrEnum):
    """The lists moderators work through."""

    QUEUE = "queue"  # pre-moderated replies waiting, oldest first
    POSTED = "posted"  # post-moderated replies already out, newest first
    SHADOW = "shadow"  # shadow tiers' replies, recorded only, newest first
    HELD = "held"  # replies the output checks held back (persona leaks), newest first


_STATUS = {
    Listing.QUEUE: [ReplyStatus.PENDING_REVIEW],
    Listing.POSTED: [ReplyStatus.POSTED, ReplyStatus.TAKEN_DOWN],
    Listing.SHADOW: [ReplyStatus.SHADOWED],
    Listing.HELD: [ReplyStatus.HELD],
}


@dataclass(frozen=True)
class ListFilter:
    """Narrow a list: a tier, a flag, a minimum age, and (posted, shadow) unreviewed only."""

    tier: str | None = None
    flag: str | None = None
    older_than_s: float | None = None
    unreviewed: bool = False


@dataclass(frozen=True)
class ListItem:
    """One row of a list."""

    reply_id: int
    mention_id: int
    tier: EffectiveTier | None
    author: str
    mention_text: str
    reply_text: str
    status: ReplyStatus
    weighted_length: int
    flags: tuple[str, ...]
    created_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    decided_by: str | None

    def held_by_other(self, me: str, now: datetime) -> bool:
        """Another moderator's claim is in force."""
        return bool(
            self.claimed_by
            and self.claimed_by != me
            and self.claimed_until is not None
            and self.claimed_until > now
        )


@dataclass(frozen=True)
class ListPage:
    """A page of a list, and how many match in all."""

    items: list[ListItem]
    total: int
    page: int
    pages: int


def _conditions(listing: Listing, where: ListFilter, now: datetime) -> list[Any]:
    conditions: list[Any] = [Reply.status.in_(_STATUS[listing])]
    if listing == Listing.POSTED:
        conditions.append(Reply.moderation == Moderation.POST)
    if where.tier:
        conditions.append(Mention.tier == where.tier)
    if where.flag:
        conditions.append(
            exists().where(ReplyFlag.reply_id == Reply.id, ReplyFlag.flag == where.flag)
        )
    if where.older_than_s:
        conditions.append(Reply.created_at <= now - timedelta(seconds=where.older_than_s))
    if where.unreviewed:
        conditions.append(Reply.decided_at.is_(None))
    return conditions


def _flags(s: Session, reply_ids: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    if reply_ids:
        rows = s.execute(
            select(ReplyFlag.reply_id, ReplyFlag.flag)
            .where(ReplyFlag.reply_id.in_(reply_ids))
            .order_by(ReplyFlag.flag)
        )
        for reply_id, flag in rows:
            found.setdefault(reply_id, []).append(flag)
    return {reply_id: tuple(flags) for reply_id, flags in found.items()}


_COLUMNS = (
    Reply.id,
    Reply.mention_id,
    Mention.tier,
    PlatformUser.username,
    Mention.text,
    Reply.text,
    Reply.status,
    Reply.created_at,
    Reply.claimed_by,
    Reply.claimed_until,
    Reply.decided_by,
)


def _items(s: Session, stmt: Any) -> list[ListItem]:
    rows = s.execute(stmt).all()
    flags = _flags(s, [r[0] for r in rows])
    return [
        ListItem(
            reply_id=r[0],
            mention_id=r[1],
            tier=r[2],
            author=r[3],
            mention_text=r[4],
            reply_text=r[5],
            status=r[6],
            weighted_length=weighted_length(r[5]),
            flags=flags.get(r[0], ()),
            created_at=r[7],
            claimed_by=r[8],
            claimed_until=r[9],
            decided_by=r[10],
        )
        for r in rows
    ]


def _joined(stmt: Any) -> Any:
    return stmt.join(Mention, Mention.id == Reply.mention_id).join(
        PlatformUser, PlatformUser.id == Mention.author_id
    )


def list_page(
    s: Session, listing: Listing, where: ListFilter, now: datetime, page: int = 1
) -> ListPage:
    """One page of a list: the queue oldest first, the others newest first."""
    conditions = _conditions(listing, where, now)
    total = int(s.scalar(_joined(select(func.count()).select_from(Reply)).where(*conditions)) or 0)
    pages = max(1, math.ceil(total / PER_PAGE))
    page = min(max(1, page), pages)
    order = (
        (Reply.created_at, Reply.id)
        if listing == Listing.QUEUE
        else (Reply.created_at.desc(), Reply.id.desc())
    )
    stmt = (
        _joined(select(*_COLUMNS))
        .where(*conditions)
        .order_by(*order)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    )
    return ListPage(_items(s, stmt), total, page, pages)


def queue_since(s: Session, after_id: int, where: ListFilter, now: datetime) -> list[ListItem]:
    """Queue items newer than `after_id` (the live update of an open queue page)."""
    conditions = [*_conditions(Listing.QUEUE, where, now), Reply.id > after_id]
    stmt = _joined(select(*_COLUMNS)).where(*conditions).order_by(Reply.id).limit(PER_PAGE)
    return _items(s, stmt)


def queue_state(s: Session) -> tuple[int, int]:
    """(items waiting, the newest one's id): what the live stream watches."""
    count, newest = s.execute(
        select(func.count(), func.coalesce(func.max(Reply.id), 0)).where(
            Reply.status == ReplyStatus.PENDING_REVIEW
        )
    ).one()
    return int(count), int(newest)


def next_free(s: Session, me: str, now: datetime, after: int = 0) -> int | None:
    """The oldest queue item on the first page nobody else holds, other than `after`."""
    listing = list_page(s, Listing.QUEUE, ListFilter(unreviewed=False), now)
    for row in listing.items:
        if row.reply_id != after and not row.held_by_other(me, now):
            return row.reply_id
    return None


def neighbours(s: Session, reply_id: int, now: datetime) -> tuple[int | None, int | None]:
    """The previous and next items in queue order (for k and j); outside the queue's first
    page, no previous and the queue's first as the next."""
    listing = list_page(s, Listing.QUEUE, ListFilter(unreviewed=False), now)
    ids = [i.reply_id for i in listing.items]
    if reply_id not in ids:
        return None, ids[0] if ids else None
    at = ids.index(reply_id)
    return (ids[at - 1] if at > 0 else None), (ids[at + 1] if at + 1 < len(ids) else None)


@dataclass(frozen=True)
class ContextLine:
    """A post above the mention, as shown to the moderator."""

    author: str
    text: str


@dataclass(frozen=True)
class Item:
    """One reply in full: the mention, its thread, the author and their record."""

    reply: Reply
    mention: Mention
    author: PlatformUser
    flags: tuple[str, ...]
    weighted_length: int
    subscriber: SubscriberDetail
    earlier: list[tuple[Mention, Reply]]
    notes: list[AccountNote]
    context: list[ContextLine] | None  # None: the platform could not be asked
    history: list[AuditEntry]


def _context(platform: Platform, in_reply_to: str | None, depth: int) -> list[ContextLine] | None:
    """The mention's ancestors, oldest first (fetched from the platform when shown)."""
    lines: list[ContextLine] = []
    next_id = in_reply_to
    try:
        while next_id and len(lines) < depth:
            posts = platform.get_posts([next_id])
            if not posts:
                break
            lines.append(ContextLine(posts[0].author_id or "someone", posts[0].text))
            next_id = posts[0].in_reply_to_post_id
    except PlatformError:
        return None
    return list(reversed(lines))


def item(s: Session, reply_id: int, platform: Platform, depth: int = 6) -> Item | None:
    """Everything a moderator needs to decide on one reply."""
    reply = s.get(Reply, reply_id)
    if reply is None:
        return None
    mention = reply.mention
    author = mention.author
    earlier = list(
        s.execute(
            select(Mention, Reply)
            .join(Reply, Reply.mention_id == Mention.id)
            .where(Mention.author_id == author.id, Reply.id != reply.id)
            .order_by(Reply.id.desc())
            .limit(5)
        ).tuples()
    )
    history, _ = entries(s, AuditFilter(reply_id=reply_id), limit=50)
    return Item(
        reply=reply,
        mention=mention,
        author=author,
        flags=_flags(s, [reply.id]).get(reply.id, ()),
        weighted_length=weighted_length(reply.text),
        subscriber=detail_of(s, author, utcnow()),
        earlier=earlier,
        notes=notes_for(s, author.id),
        context=_context(platform, mention.in_reply_to_post_id, depth),
        history=history,
    )
