"""Fixed-window rate counters in the database, atomic under any number of workers.

A window is `window_s` long and aligned to the Unix epoch (an "hour" is 14:00-15:00 UTC, a
"day" is midnight to midnight UTC). Taking a unit is one guarded upsert: the row lock that
INSERT ... ON CONFLICT DO UPDATE ... WHERE takes makes concurrent takers wait and then see
the new count, so no more than `limit` units are ever handed out in a window. Postgres and
SQLite (3.35+) run the same statement.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, bindparam, select, text, update
from sqlalchemy.orm import Session

from bot.schema import RateCounter

HOUR = 3600
DAY = 86400


def window_start(now: datetime, window_s: int) -> datetime:
    """The start of the fixed window that contains `now`."""
    ts = int(now.timestamp())
    return datetime.fromtimestamp(ts - ts % window_s, UTC)


# Written out once: SQLAlchemy does not cache INSERT ... ON CONFLICT constructs, and
# rebuilding this one twice per decision was a third of the gating CPU. Postgres and
# SQLite (3.35+) both accept it as is.
_TAKE = text(
    "INSERT INTO rate_counters (key, window_start, used) VALUES (:key, :start, 1) "
    "ON CONFLICT (key, window_start) DO UPDATE SET used = rate_counters.used + 1 "
    "WHERE rate_counters.used < :limit RETURNING used"
).bindparams(bindparam("start", type_=DateTime(timezone=True)))


def take(session: Session, key: str, window_s: int, limit: int, now: datetime) -> bool:
    """Take one unit of `key`'s budget in the current window, if any is left."""
    if limit <= 0:
        return False
    start = window_start(now, window_s)
    row = session.execute(_TAKE, {"key": key, "start": start, "limit": limit}).first()
    return row is not None


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
