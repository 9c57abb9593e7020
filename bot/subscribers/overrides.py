"""What an operator changes about subscribers: grants of a tier and blocks (overrides), each
until a moment or for good, and ending them.

The CLI (`mentionbot subscribers grant|block|unblock|revoke`) and the dashboard call these
inside one transaction per request; a request the operator has to fix raises OperatorError
before anything is written (see `service`). The history records who acted and why.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.errors import OperatorError
from bot.mentions.schema import PlatformUser
from bot.subscribers.service import OverrideView, checked_tier, find_user
from bot.subscribers.tiers import active_override, add_override, revoke
from bot.vocab import OverrideAction

ACTOR_MAX = 64  # tier_overrides.actor is VARCHAR(64)


def default_actor() -> str:
    """Who the history records when no actor is given: $USER, else `operator`."""
    return (os.environ.get("USER") or "").strip() or "operator"


def parse_until(until: str | None, days: int | None, now: datetime) -> datetime | None:
    """`until` (a date: through the end of that day, UTC; or an ISO time) or `days` from now.

    None means for good. A moment that is not in the future is refused.
    """
    if until is not None and days is not None:
        raise OperatorError("give {until} or {days}, not both")
    if days is not None:
        if days < 1:
            raise OperatorError("{days} must be at least 1")
        return now + timedelta(days=days)
    if until is None:
        return None
    text = until.strip()
    moment: datetime
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise OperatorError(
                "{until} {value} is not a date (2026-12-31) or an ISO time "
                "(2026-12-31T18:00:00+00:00)",
                value=repr(until),
            ) from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    else:
        # A date means through that whole day (UTC): the override ends at the next midnight.
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    if moment <= now:
        raise OperatorError(
            "{until} {value} is in the past ({when})", value=repr(until), when=moment.isoformat()
        )
    return moment


def _checked_note(note: str) -> str:
    text = note.strip()
    if not text:
        raise OperatorError("{note} must say why (it is kept in the history)")
    return text


def _checked_actor(actor: str | None) -> str:
    name = (actor if actor is not None else default_actor()).strip()
    if not name:
        raise OperatorError("{actor} must not be empty")
    if len(name) > ACTOR_MAX:
        raise OperatorError("{actor} must be at most {n} characters", n=ACTOR_MAX)
    return name


def override_user(
    session: Session,
    ref: str,
    action: OverrideAction,
    *,
    tier: str | None = None,
    until: datetime | None,
    note: str,
    actor: str | None,
    now: datetime | None = None,
) -> tuple[PlatformUser, OverrideView]:
    """Grant a tier to (or block) a user the bot has seen, until a moment or for good.

    A grant is refused while the user is blocked: the newer grant would silently lift the
    block, so the operator unblocks first.
    """
    now = now or utcnow()
    if action == OverrideAction.GRANT and tier is None:
        raise OperatorError("a grant needs a {tier}")
    granted = checked_tier(tier) if action == OverrideAction.GRANT and tier else None
    text, who = _checked_note(note), _checked_actor(actor)
    if until is not None and until <= now:
        raise OperatorError("{until} {when} is in the past", when=until.isoformat())
    user = find_user(session, ref)
    current = active_override(session, user.id, now)
    if granted is not None and current is not None and current.action == OverrideAction.BLOCK:
        raise OperatorError(
            "@{user} is blocked (override #{id}); unblock them first",
            user=user.username,
            id=current.id,
        )
    row = add_override(session, user.id, action, text, who, tier=granted, until=until)
    return user, OverrideView.of(row)


def end_overrides(
    session: Session, ref: str, action: OverrideAction, actor: str | None
) -> tuple[PlatformUser, int]:
    """Revoke a user's active grants or blocks; returns how many ended."""
    who = _checked_actor(actor)
    user = find_user(session, ref)
    return user, revoke(session, user.id, action, who)
