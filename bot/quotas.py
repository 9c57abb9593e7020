"""Fixed-window rate counters in the database, atomic under any number of workers.

A window is `window_s` long and aligned to the Unix epoch (an "hour" is 14:00-15:00 UTC, a
"day" is midnight to midnight UTC). Taking a unit is one guarded upsert: the row lock that
INSERT ... ON CONFLICT DO UPDATE ... WHERE takes makes concurrent takers wait and then see
the new count, so no more than `limit` units are ever handed out in a window. Postgres and
SQLite (3.35+) run the same statement.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.schema import RateCounter
from bot.sql import insert_for

HOUR = 3600
DAY = 86400


def window_start(now: datetime, window_s: int) -> datetime:
    """The start of the fixed window that contains `now`."""
    ts = int(now.timestamp())
    return datetime.fromtimestamp(ts - ts % window_s, UTC)


def take(session: Session, key: str, window_s: int, limit: int, now: datetime) -> bool:
    """Take one unit of `key`'s budget in the current window, if any is left."""
    if limit <= 0:
        return False
    start = window_start(now, window_s)
    stmt = insert_for(session, RateCounter).values(key=key, window_start=start, used=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key", "window_start"],
        set_={"used": RateCounter.used + 1},
        where=RateCounter.used < limit,
    ).returning(RateCounter.used)
    return session.execute(stmt).scalar_one_or_none() is not None


def give_back(session: Session, key: str, window_s: int, taken_at: datetime) -> None:
    """Return one unit taken at `taken_at` (a no-op once the count is zero)."""
    start = window_start(taken_at, window_s)
    session.execute(
        update(RateCounter)
        .where(RateCounter.key == key, RateCounter.window_start == start, RateCounter.used > 0)
        .values(used=RateCounter.used - 1)
    )


def used(session: Session, key: str, window_s: int, now: datetime) -> int:
    """Units used in the current window."""
    row = session.get(RateCounter, (key, window_start(now, window_s)))
    return row.used if row else 0


def user_key(user_id: int, window: str) -> str:
    """The counter key of a user's hourly or daily reply quota."""
    return f"user:{user_id}:{window}"


def refund(session: Session, mention_id: int) -> bool:
    """Give back the quota unit a mention took (the system failed it, not the user).

    The row lock and the guarded clear of `quota_at` make a second refund a no-op.
    """
    from bot.schema import Mention

    row = session.execute(
        select(Mention.author_id, Mention.quota_at)
        .where(Mention.id == mention_id)
        .with_for_update()
    ).first()
    if row is None or row.quota_at is None:
        return False
    cleared = session.execute(
        update(Mention)
        .where(Mention.id == mention_id, Mention.quota_at.is_not(None))
        .values(quota_at=None)
    )
    if not cleared.rowcount:  # type: ignore[attr-defined]
        return False
    taken_at = row.quota_at if row.quota_at.tzinfo else row.quota_at.replace(tzinfo=UTC)
    give_back(session, user_key(row.author_id, "hour"), HOUR, taken_at)
    give_back(session, user_key(row.author_id, "day"), DAY, taken_at)
    return True
