"""The review queue: replies of pre-moderated tiers wait here for a moderator.

A moderator claims an item (a conditional UPDATE, like the workers' claims) before acting
on it, so two moderators never work on the same reply; a claim lapses after
`review_claim_s`. Every action runs in the caller's transaction and writes its audit entry
there; what it hands on (a post task, a generate task) is returned so the caller sends it
after the commit. The dashboard never posts: approving hands the reply to the post worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from bot.errors import OperatorError
from bot.mentions.schema import Mention
from bot.metrics import REVIEW_DECISION_SECONDS
from bot.moderation import audit
from bot.replies.claims import refund_quota
from bot.replies.parts import set_parts, unthread
from bot.replies.schema import Reply, ReplyFlag
from bot.subscribers.tiers import add_override
from bot.vocab import AuditAction, MentionStatus, OverrideAction, Reason, ReplyStatus
from models.postprocess import ReplyPolicy, process_reply
from models.xlength import MAX_WEIGHTED_LENGTH, weighted_length


class ReviewRefused(OperatorError):
    """An action the moderator cannot take now (claimed by someone else, already decided,
    a text that does not fit): nothing was changed."""


@dataclass(frozen=True)
class Handoff:
    """What an action hands on once committed: a reply to post or a mention to generate."""

    reply_id: int
    mention_id: int
    priority: int | None
    changes: tuple[str, ...] = ()


@dataclass
class Reviewer:
    """Who acts, and how long their claims last."""

    name: str
    claim_s: float
    now: datetime

    @property
    def claim_until(self) -> datetime:
        """When a claim taken now lapses."""
        return self.now + timedelta(seconds=self.claim_s)


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming an item: held by me, or by whom until when."""

    held: bool
    holder: str | None = None
    until: datetime | None = None


def claim(s: Session, reply_id: int, who: Reviewer) -> Claim:
    """Take (or renew) the claim on a pending item unless another moderator holds it."""
    got = s.execute(
        update(Reply)
        .where(
            Reply.id == reply_id,
            Reply.status == ReplyStatus.PENDING_REVIEW,
            or_(
                Reply.claimed_by.is_(None),
                Reply.claimed_by == who.name,
                Reply.claimed_until < who.now,
            ),
        )
        .values(claimed_by=who.name, claimed_until=who.claim_until)
        .returning(Reply.id)
    ).first()
    if got is not None:
        return Claim(True, who.name, who.claim_until)
    row = s.execute(
        select(Reply.status, Reply.claimed_by, Reply.claimed_until).where(Reply.id == reply_id)
    ).first()
    if row is None or row.status != ReplyStatus.PENDING_REVIEW:
        return Claim(False)
    return Claim(False, row.claimed_by, row.claimed_until)


def claim_if_pending(s: Session, reply_id: int, who: Reviewer) -> Claim | None:
    """The claim a moderator gets by opening an item: taken when it waits for review, None
    when it is decided already (then it is only looked at)."""
    status = s.scalar(select(Reply.status).where(Reply.id == reply_id))
    return claim(s, reply_id, who) if status == ReplyStatus.PENDING_REVIEW else None


def release(s: Session, reply_id: int, who: Reviewer) -> None:
    """Give a claim back (the moderator moved on without deciding)."""
    s.execute(
        update(Reply)
        .where(Reply.id == reply_id, Reply.claimed_by == who.name)
        .values(claimed_by=None, claimed_until=None)
    )


def _hold(s: Session, reply_id: int, who: Reviewer) -> None:
    held = claim(s, reply_id, who)
    if held.held:
        return
    if held.holder is None:
        raise ReviewRefused("this reply is no longer waiting for review")
    raise ReviewRefused(
        "{holder} is reviewing this reply (their claim lasts until {until} UTC)",
        holder=held.holder,
        until=held.until.strftime("%H:%M:%S") if held.until else "?",
    )


def _decide(
    s: Session, reply_id: int, who: Reviewer, status: ReplyStatus, **values: object
) -> tuple[int, str, datetime]:
    """pending_review (claimed by `who`) → status; (mention id, text before, generated at)."""
    before = s.execute(select(Reply.text).where(Reply.id == reply_id)).scalar_one()
    row = s.execute(
        update(Reply)
        .where(
            Reply.id == reply_id,
            Reply.status == ReplyStatus.PENDING_REVIEW,
            Reply.claimed_by == who.name,
        )
        .values(
            status=status,
            decided_by=who.name,
            decided_at=who.now,
            claimed_by=None,
            claimed_until=None,
            **values,
        )
        .returning(Reply.mention_id, Reply.created_at)
    ).first()
    if row is None:
        raise ReviewRefused("this reply is no longer waiting for review")
    return row.mention_id, before, row.created_at


def _priority(s: Session, mention_id: int) -> int | None:
    return s.scalar(select(Mention.priority).where(Mention.id == mention_id))


def approve(s: Session, reply_id: int, who: Reviewer) -> Handoff:
    """Approve a pending reply as it is; the caller hands it to the post worker."""
    _hold(s, reply_id, who)
    mention_id, text, created = _decide(s, reply_id, who, ReplyStatus.APPROVED, approved_at=who.now)
    audit.record(
        s, who.name, AuditAction.APPROVE, reply_id=reply_id, mention_id=mention_id, after=text
    )
    REVIEW_DECISION_SECONDS.labels(action="approve").observe((who.now - created).total_seconds())
    return Handoff(reply_id, mention_id, _priority(s, mention_id))


def edit_and_approve(
    s: Session, reply_id: int, who: Reviewer, text: str, rules: ReplyPolicy
) -> Handoff:
    """Approve a moderator's text: it must fit one post (or the thread's posts), then the
    output rules apply to it as to the model's (links off the allowlist and surplus
    @mentions go; a thread is split and numbered again)."""
    text = unthread(text) if rules.max_posts > 1 else text
    length = weighted_length(text.strip())
    limit = MAX_WEIGHTED_LENGTH * rules.max_posts
    if length > limit:
        raise ReviewRefused(
            "the reply is {n} weighted characters; X allows {limit}", n=length, limit=limit
        )
    processed = process_reply(text, rules)
    if not processed.posts:
        raise ReviewRefused(
            "nothing is left to post after the output rules ({why})", why=processed.reason
        )
    _hold(s, reply_id, who)
    new = set_parts(s, reply_id, processed.posts)
    mention_id, before, created = _decide(
        s, reply_id, who, ReplyStatus.APPROVED, approved_at=who.now, text=new
    )
    audit.record(
        s,
        who.name,
        AuditAction.EDIT,
        reply_id=reply_id,
        mention_id=mention_id,
        before=before,
        after=new,
        detail=", ".join(processed.changes) or None,
    )
    REVIEW_DECISION_SECONDS.labels(action="edit").observe((who.now - created).total_seconds())
    return Handoff(reply_id, mention_id, _priority(s, mention_id), processed.changes)


def reject(s: Session, reply_id: int, who: Reviewer, note: str) -> None:
    """Reject a pending reply, `note` saying why; the user's quota unit goes back."""
    why = note.strip()
    if not why:
        raise ReviewRefused("{reason} must say why (it is kept in the audit log)")
    _hold(s, reply_id, who)
    mention_id, text, created = _decide(
        s, reply_id, who, ReplyStatus.REJECTED, reason=Reason.MODERATOR_REJECTED, detail=why[:500]
    )
    refund_quota(s, mention_id)
    audit.record(
        s,
        who.name,
        AuditAction.REJECT,
        reply_id=reply_id,
        mention_id=mention_id,
        before=text,
        note=why,
    )
    REVIEW_DECISION_SECONDS.labels(action="reject").observe((who.now - created).total_seconds())


def regenerate(s: Session, reply_id: int, who: Reviewer) -> Handoff:
    """Throw the reply away and queue its mention for the model again (the old text stays in
    the audit log); the caller sends the generate task. The quota unit stays taken."""
    _hold(s, reply_id, who)
    row = s.execute(
        select(Reply.text, Reply.mention_id).where(
            Reply.id == reply_id,
            Reply.status == ReplyStatus.PENDING_REVIEW,
            Reply.claimed_by == who.name,
        )
    ).first()
    if row is None:
        raise ReviewRefused("this reply is no longer waiting for review")
    s.execute(delete(ReplyFlag).where(ReplyFlag.reply_id == reply_id))
    s.execute(delete(Reply).where(Reply.id == reply_id))
    s.execute(
        update(Mention)
        .where(Mention.id == row.mention_id, Mention.status == MentionStatus.ANSWERED)
        .values(status=MentionStatus.QUEUED, queued_at=who.now)
    )
    audit.record(
        s,
        who.name,
        AuditAction.REGENERATE,
        reply_id=reply_id,
        mention_id=row.mention_id,
        before=row.text,
    )
    return Handoff(reply_id, row.mention_id, _priority(s, row.mention_id))


def block_author(s: Session, reply_id: int, who: Reviewer, note: str) -> None:
    """Block the mention's author (the bot ignores them from now on) and reject the reply."""
    why = note.strip() or "blocked from the review queue"
    author = s.scalar(
        select(Mention.author_id)
        .join(Reply, Reply.mention_id == Mention.id)
        .where(Reply.id == reply_id)
    )
    if author is None:
        raise ReviewRefused("no such reply")
    _hold(s, reply_id, who)
    add_override(s, author, OverrideAction.BLOCK, why, who.name)
    audit.record(s, who.name, AuditAction.BLOCK, reply_id=reply_id, user_id=author, note=why)
    reject(s, reply_id, who, f"author blocked: {why}")


ACTIONS = ("approve", "reject")


@dataclass
class BulkResult:
    """What a bulk action did: the handoffs of the items done, and why the others were not."""

    done: list[Handoff] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def bulk(
    s: Session, reply_ids: list[int], action: str, who: Reviewer, note: str = ""
) -> BulkResult:
    """Approve or reject several items; each one claimed and decided on its own (an item
    another moderator holds is left to them and reported)."""
    if action not in ACTIONS:
        raise ReviewRefused("{action} must be approve or reject")
    if action == "reject" and not note.strip():
        raise ReviewRefused("{reason} must say why (it is kept in the audit log)")
    result = BulkResult()
    for reply_id in dict.fromkeys(reply_ids):
        savepoint = s.begin_nested()
        try:
            if action == "approve":
                result.done.append(approve(s, reply_id, who))
            else:
                reject(s, reply_id, who, note)
                result.done.append(Handoff(reply_id, 0, None))
        except ReviewRefused as exc:
            savepoint.rollback()
            result.refused[reply_id] = exc.render()
            continue
        savepoint.commit()
    return result


def pending_and_unclaimed(now: datetime) -> object:
    """The SQL condition of an item nobody holds (for counting what is free to take)."""
    return and_(
        Reply.status == ReplyStatus.PENDING_REVIEW,
        or_(Reply.claimed_by.is_(None), Reply.claimed_until < now),
    )
