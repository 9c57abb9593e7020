"""Storing what the listener read: authors, mentions with their decision, the upsell, the cursor.

Everything here runs in the caller's transaction (the listener's poll): a mention, its
decision, the quota unit it took and the cursor are committed together or not at all. A
page of mentions is decided and stored in a handful of statements, whatever its size: the
authors in one upsert, the facts the gate needs in one query each (bot/mentions/page.py),
every quota unit in one guarded statement, the mentions in one insert, the upsell replies
in another.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, insert, or_, select, update
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.dialect import insert_for
from bot.mentions.gating import GatingRules, Verdict, decide_with
from bot.mentions.page import PageFacts, PageUser, status_of
from bot.mentions.schema import ListenerCursor, Mention, PlatformUser, ReferencedPost
from bot.metrics import DECISIONS
from bot.platform.protocol import Author, Post
from bot.platform.snowflake import snowflake_time
from bot.replies.schema import Reply
from bot.subscribers import quotas
from bot.subscribers.tiers import policies
from bot.vocab import Decision, MentionStatus, Moderation, ReplyStatus
from models.text import strip_control_chars

log = structlog.get_logger(__name__)


@dataclass
class PollResult:
    """What one poll saw and did."""

    fetched: int = 0
    new: int = 0
    accepted: list[int] = field(default_factory=list)
    priorities: dict[int, int] = field(default_factory=dict)
    upsells: list[int] = field(default_factory=list)
    upsell_priorities: dict[int, int] = field(default_factory=dict)
    ignored: int = 0
    decisions: Counter[Decision] = field(default_factory=Counter)
    complete: bool = True
    wait_s: float = 0.0
    pages: int = 0  # timeline pages read (the listener's poll)

    def add(self, other: PollResult) -> None:
        """Count a page's result into the poll's."""
        self.fetched += other.fetched
        self.new += other.new
        self.accepted += other.accepted
        self.priorities.update(other.priorities)
        self.upsells += other.upsells
        self.upsell_priorities.update(other.upsell_priorities)
        self.ignored += other.ignored
        self.decisions.update(other.decisions)


# An ORM bulk insert leaves out the None values (for the columns' defaults) and so splits the
# rows into one statement per pattern of Nones; a page's rows go in one INSERT instead.
ONE_STATEMENT = {"render_nulls": True}
# An author's row is rewritten when X describes them differently, or at most this often
# (updated_at is when we last saw them, to the hour). An unchanged row is only read: an
# upsert would lock it (Postgres locks a conflicting row even when DO UPDATE's WHERE skips
# it), and two listeners whose pages share an author would queue on that lock.
SEEN_EVERY = timedelta(hours=1)
_AUTHOR_FIELDS = ("username", "display_name", "subscription_type", "verified_type")


def upsert_authors(session: Session, authors: Sequence[Author]) -> dict[str, PageUser]:
    """Store or refresh these platform users: the new ones in one insert, the changed ones
    in one update, in id order (concurrent listeners take row locks in the same order);
    {platform id: its row}."""
    now = utcnow()
    values: dict[str, dict[str, Any]] = {
        a.platform_id: {
            # Postgres rejects NUL in text: one such post must never block the whole poll.
            "username": strip_control_chars(a.username)[:64],
            "display_name": strip_control_chars(a.name)[:128],
            "subscription_type": a.subscription_type,
            "verified_type": a.verified_type,
        }
        for a in authors
    }
    if not values:
        return {}
    found = _read_users(session, values)
    if missing := sorted(pid for pid in values if pid not in found):
        rows = [{"platform_id": pid, **values[pid], "updated_at": now} for pid in missing]
        stmt = insert_for(session, PlatformUser).on_conflict_do_nothing(
            index_elements=["platform_id"]
        )
        session.execute(stmt, rows, execution_options=ONE_STATEMENT)
        found.update(_read_users(session, missing))  # another listener's, when it won
    stale = sorted(
        (found[pid][0].id, pid)
        for pid in values
        if found[pid][1] != tuple(values[pid].values()) or found[pid][2] < now - SEEN_EVERY
    )
    if stale:
        rows = [{"id": uid, **values[pid], "updated_at": now} for uid, pid in stale]
        session.execute(update(PlatformUser), rows)
    users = {pid: user for pid, (user, _, _) in found.items()}
    for _, pid in stale:  # the tier follows what X says now
        users[pid] = replace(users[pid], subscription_type=values[pid]["subscription_type"])
    return users


def _read_users(
    session: Session, platform_ids: Collection[str]
) -> dict[str, tuple[PageUser, tuple[Any, ...], datetime]]:
    """{platform id: (its row, its fields as _AUTHOR_FIELDS orders them, updated_at)}."""
    rows = session.execute(
        select(
            PlatformUser.platform_id,
            PlatformUser.id,
            PlatformUser.subscription_type,
            PlatformUser.last_upsell_at,
            PlatformUser.cooldown_until,
            *(getattr(PlatformUser, f) for f in _AUTHOR_FIELDS),
            PlatformUser.updated_at,
        ).where(PlatformUser.platform_id.in_(platform_ids))
    ).tuples()
    return {
        pid: (PageUser(uid, sub, upsell, cool), tuple(rest[:-1]), rest[-1])
        for pid, uid, sub, upsell, cool, *rest in rows
    }


def upsert_author(session: Session, author: Author) -> int:
    """Insert or refresh one platform user; returns its row id."""
    return upsert_authors(session, [author])[author.platform_id].id


def mention_values(post: Post, author_row: int, verdict: Verdict, now: datetime) -> dict[str, Any]:
    """A new mention's row, in the state its verdict puts it in."""
    status = status_of(verdict)
    stamp = {
        MentionStatus.QUEUED: "queued_at",
        MentionStatus.ANSWERED: "answered_at",
        MentionStatus.IGNORED: "ignored_at",
    }[status]
    return {
        "platform_post_id": post.id,
        "author_id": author_row,
        "text": strip_control_chars(post.text),
        "conversation_id": post.conversation_id,
        "in_reply_to_post_id": post.in_reply_to_post_id,
        "edit_root_id": post.edit_root,
        "quoted_post_id": post.quoted_post_id,
        "decision": verdict.decision,
        "status": status,
        "tier": verdict.tier,
        "priority": verdict.priority,
        "quota_at": now if verdict.quota_taken else None,
        "posted_at": post.created_at or snowflake_time(post.id),
        "received_at": now,
        stamp: now,
    }


def insert_mentions(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Store new mentions in one statement; {post id: row id} of those not stored already."""
    if not rows:
        return {}
    # One statement shape for every row: the state stamps a row leaves out are None.
    stamps = {"queued_at": None, "answered_at": None, "ignored_at": None}
    stmt = (
        insert_for(session, Mention)
        .on_conflict_do_nothing(index_elements=["platform_post_id"])
        .returning(Mention.platform_post_id, Mention.id)
    )
    full = [{**stamps, **row} for row in rows]
    found = session.execute(stmt, full, execution_options=ONE_STATEMENT).tuples()
    return {post_id: int(mention_id) for post_id, mention_id in found}


def insert_mention(
    session: Session, post: Post, author_row: int, verdict: Verdict, now: datetime
) -> int | None:
    """Store one mention in the state its verdict puts it in; None if it was stored already."""
    return insert_mentions(session, [mention_values(post, author_row, verdict, now)]).get(post.id)


def store_referenced_posts(session: Session, posts: Sequence[Post]) -> None:
    """Keep the posts a page's mentions reply to or quote (one statement; a post kept
    already stays as it was first read)."""
    if not posts:
        return
    rows = [
        {
            "platform_post_id": p.id,
            "author_id": p.author_id,
            "author_username": p.author_username and strip_control_chars(p.author_username)[:64],
            "text": strip_control_chars(p.text),
            "display_start": p.display_start,
            "in_reply_to_post_id": p.in_reply_to_post_id,
        }
        for p in sorted({p.id: p for p in posts}.values(), key=lambda p: p.id)
    ]
    stmt = insert_for(session, ReferencedPost).on_conflict_do_nothing(
        index_elements=["platform_post_id"]
    )
    session.execute(stmt, rows, execution_options=ONE_STATEMENT)


def upsell_text(template: str, username: str) -> str:
    """The operator's text with {username} filled in (and nothing else interpreted)."""
    return template.replace("{username}", username)


def insert_upsells(session: Session, texts: dict[int, str], now: datetime) -> dict[int, int]:
    """The operator's upsell texts as their mentions' one reply (no model involved), in one
    statement; {mention id: reply id}."""
    if not texts:
        return {}
    rows = [
        {
            "mention_id": mention_id,
            "text": text,
            "status": ReplyStatus.APPROVED,
            "model": "upsell",
            "moderation": Moderation.AUTO,
            "created_at": now,
            "approved_at": now,
        }
        for mention_id, text in sorted(texts.items())
    ]
    stmt = insert(Reply).returning(Reply.mention_id, Reply.id)
    found = session.execute(stmt, rows, execution_options=ONE_STATEMENT).tuples()
    return {int(m): int(r) for m, r in found}


@dataclass(frozen=True)
class Stored:
    """A new mention as stored: its row, its verdict, and its upsell reply if one was sent."""

    mention_id: int
    verdict: Verdict
    upsell_reply_id: int | None


# A page is decided again from a fresh read when a concurrent listener got in first: it
# stored one of its mentions, took the last units of a counter, or claimed an upsell.
STORE_ATTEMPTS = 5


def ingest(
    session: Session,
    posts: Sequence[Post],
    authors: dict[str, Author],
    bot_user_id: str,
    rules: GatingRules | None = None,
    now: datetime | None = None,
) -> PollResult:
    """Decide and store the new mentions among `posts` as one page (bot/mentions/page.py);
    duplicates are skipped by the unique key."""
    result = PollResult(fetched=len(posts))
    page = PageStore(session, authors, bot_user_id, rules or GatingRules(), now or utcnow())
    for attempt in range(STORE_ATTEMPTS):
        seen = _stored(session, posts)
        # Oldest first, so row ids follow platform order (and decisions, page order).
        new = sorted({p.id: p for p in posts if p.id not in seen}.values(), key=lambda p: int(p.id))
        stored = page.store(new, lock=attempt > 0)
        if stored is not None:
            break
    else:
        raise RuntimeError(f"could not store a page of {len(posts)} mentions")
    for post, one in stored:
        _count(result, one, post)
    return result


class PageStore:
    """Deciding and storing pages of mentions in the caller's transaction."""

    def __init__(
        self,
        session: Session,
        authors: dict[str, Author],
        bot_user_id: str,
        rules: GatingRules,
        now: datetime,
    ) -> None:
        self.session, self.authors = session, authors
        self.bot_user_id, self.rules, self.now = bot_user_id, rules, now
        self.tier_policies = policies(session)

    def _author(self, post: Post) -> Author:
        """The platform's description, or a placeholder row for an author it did not give."""
        pid = post.author_id or "0"
        return self.authors.get(pid) or Author(platform_id=pid, username=f"id{pid}")

    def _decide(self, facts: PageFacts, post: Post, row: int) -> Verdict:
        """decide_with() for one post of the page, by the author stored as `row` (an author
        the platform did not describe is unknown to the gate)."""
        author = self.authors.get(post.author_id or "")
        user = row if author is not None else None
        return decide_with(
            facts, post, author, user, self.bot_user_id, self.rules, self.tier_policies
        )

    def store(self, posts: list[Post], *, lock: bool = False) -> list[tuple[Post, Stored]] | None:
        """Decide `posts` in order and store them under a savepoint; None (rolled back) when
        another listener stored one of them first, or a counter would pass its limit."""
        if not posts:
            return []
        s, now = self.session, self.now
        users = upsert_authors(s, [self._author(p) for p in posts])
        savepoint = s.begin_nested()
        by_row = {u.id: replace(u) for u in users.values()}  # the decisions change copies
        facts = PageFacts(s, posts, by_row, self.tier_policies, now, lock=lock)
        decided = []
        for post in posts:
            row = users[self._author(post).platform_id].id
            verdict = self._decide(facts, post, row)
            facts.note(post, row, verdict)
            decided.append((post, row, verdict))
        ids = {}
        if quotas.take_many(s, facts.units(), now):
            ids = insert_mentions(s, [mention_values(p, r, d, now) for p, r, d in decided])
        if len(ids) < len(posts) or not _apply_user_changes(s, facts, now):
            savepoint.rollback()
            return None
        texts = {
            ids[p.id]: upsell_text(d.upsell_text, self.authors[p.author_id or ""].username)
            for p, _, d in decided
            if d.upsell_text
        }
        replies = insert_upsells(s, texts, now)
        savepoint.commit()
        return [(p, Stored(ids[p.id], d, replies.get(ids[p.id]))) for p, _, d in decided]


def _apply_user_changes(session: Session, facts: PageFacts, now: datetime) -> bool:
    """The upsells claimed and the cool-downs started while deciding the page; False when
    another listener claimed one of those upsells first (the caller rolls back)."""
    if facts.upsells:
        claimed = session.execute(
            update(PlatformUser)
            .where(PlatformUser.id.in_(facts.upsells), _upsell_due(facts))
            .values(last_upsell_at=now)
            .returning(PlatformUser.id)
        ).all()
        if len(claimed) < len(facts.upsells):
            return False
    for user_id in sorted(facts.cooled):
        session.execute(
            update(PlatformUser)
            .where(PlatformUser.id == user_id)
            .values(cooldown_until=facts.users[user_id].cooldown_until)
        )
    return True


def _upsell_due(facts: PageFacts) -> ColumnElement[bool]:
    """The guard of an upsell claim: the row still holds what the page read (no listener
    claimed it meanwhile)."""
    return or_(
        *(
            (PlatformUser.id == user_id) & PlatformUser.last_upsell_at.is_not_distinct_from(was)
            for user_id, was in sorted(facts.upsell_was.items())
        )
    )


def _stored(session: Session, posts: Sequence[Post]) -> set[str]:
    """Post ids already stored.

    The overlap window re-reads posts we have: they are skipped before deciding, so a
    mention seen twice never takes a second quota unit.
    """
    if not posts:
        return set()
    return set(
        session.scalars(
            select(Mention.platform_post_id).where(
                Mention.platform_post_id.in_([p.id for p in posts])
            )
        )
    )


def _count(result: PollResult, stored: Stored, post: Post) -> None:
    verdict = stored.verdict
    DECISIONS.labels(reason=verdict.decision).inc()
    result.new += 1
    result.decisions[verdict.decision] += 1
    if verdict.accepted:
        result.accepted.append(stored.mention_id)
        result.priorities[stored.mention_id] = verdict.priority or 0
    elif stored.upsell_reply_id is not None:
        result.upsells.append(stored.upsell_reply_id)
        if verdict.priority is not None:
            result.upsell_priorities[stored.upsell_reply_id] = verdict.priority
    else:
        result.ignored += 1
    # Debug: the decision is on the row, and the poll logs each decision's count.
    log.debug(
        "mention.received",
        mention_id=stored.mention_id,
        post_id=post.id,
        decision=verdict.decision,
        tier=verdict.tier,
    )


def advance_cursor(
    session: Session,
    bot_user_id: str,
    newest_id: str | None,
    gap: tuple[str | None, str | None] | None = None,
) -> None:
    """Move the cursor forward (never back) in the caller's transaction; `gap`, when given,
    replaces the unread range (since, until) (None, None) clears it."""
    cursor = session.get(ListenerCursor, bot_user_id, with_for_update=True)
    if cursor is None:
        cursor = ListenerCursor(bot_user_id=bot_user_id, newest_id=None, polls=0)
        session.add(cursor)
    if newest_id and (cursor.newest_id is None or int(newest_id) > int(cursor.newest_id)):
        cursor.newest_id = newest_id
    if gap is not None:
        cursor.gap_since_id, cursor.gap_until_id = gap
    cursor.polls = (cursor.polls or 0) + 1
    cursor.updated_at = utcnow()
