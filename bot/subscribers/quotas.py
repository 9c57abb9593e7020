"""Fixed-window rate counters in the database, atomic under any number of workers.

A window is `window_s` long and aligned to the Unix epoch (an "hour" is 14:00-15:00 UTC, a
"day" is midnight to midnight UTC). Taking a unit is one guarded upsert: the row lock that
INSERT ... ON CONFLICT DO UPDATE ... WHERE takes makes concurrent takers wait and then see
the new count, so no more than `limit` units are ever handed out in a window. Postgres and
SQLite (3.35+) run the same statement.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from bot.db.base import UTCDateTime
from bot.subscribers.schema import RateCounter
from bot.vocab import Tier

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
).bindparams(bindparam("start", type_=UTCDateTime()))


def take(session: Session, key: str, window_s: int, limit: int, now: datetime) -> bool:
    """Take one unit of `key`'s budget in the current window, if any is left."""
    if limit <= 0:
        return False
    start = window_start(now, window_s)
    row = session.execute(_TAKE, {"key": key, "start": start, "limit": limit}).first()
    return row is not None


def used_many(
    session: Session, keys: Collection[str], window_s: int, now: datetime
) -> dict[str, int]:
    """Units used in the current window, for each of these keys that has a counter."""
    if not keys:
        return {}
    rows = session.execute(
        select(RateCounter.key, RateCounter.used).where(
            RateCounter.key.in_(keys), RateCounter.window_start == window_start(now, window_s)
        )
    )
    return {key: int(used) for key, used in rows.tuples()}


def lock_many(
    session: Session, keys: Collection[str], windows_s: Collection[int], now: datetime
) -> None:
    """Lock these keys' counters in their current windows until commit, in key order (the
    order take_many writes in, so two takers never wait on each other in a circle). For a
    taker that lost the race once: it reads again under the lock, and its guard holds."""
    if not keys:
        return
    starts = [window_start(now, w) for w in windows_s]
    session.execute(
        select(RateCounter.key)
        .where(RateCounter.key.in_(keys), RateCounter.window_start.in_(starts))
        .order_by(RateCounter.key, RateCounter.window_start)
        .with_for_update()
    )


@dataclass(frozen=True)
class Units:
    """`n` units of `key`'s budget of `limit` in the window of `window_s` that holds now."""

    key: str
    window_s: int
    n: int
    limit: int


# The guarded take of take_many, written once, from a row source `v` (key, window_start,
# n, lim) that differs by dialect.
_TAKE_MANY = (
    "INSERT INTO rate_counters (key, window_start, used) "
    "SELECT key, window_start, n FROM v WHERE n <= lim "
    "ON CONFLICT (key, window_start) DO UPDATE SET used = rate_counters.used + excluded.used "
    "WHERE rate_counters.used + excluded.used <= (SELECT lim FROM v "
    "WHERE v.key = excluded.key AND v.window_start = excluded.window_start) "
    "RETURNING key"
)
# Postgres: four array parameters, whatever the page's size (a VALUES list of 200 rows was
# 800 parameters to bind and a new statement to compile on every page).
_PG_ROWS = (
    "WITH v (key, window_start, n, lim) AS (SELECT * FROM unnest(CAST(:keys AS text[]), "
    "CAST(:starts AS timestamptz[]), CAST(:ns AS integer[]), CAST(:lims AS integer[]))) "
)
_TAKE_MANY_PG = text(_PG_ROWS + _TAKE_MANY)


def take_many(session: Session, wants: Sequence[Units], now: datetime) -> bool:
    """Take every one of `wants` in one guarded statement, or report that one did not fit.

    The page gate (bot/mentions/page.py) counts its units in memory from counters it read
    without a lock; this statement is the guard that no count ever passes its limit even
    when another listener took units meanwhile: a want that does not fit is neither
    inserted nor updated, and False then tells the caller to roll its savepoint back and
    decide again. Keys in sorted order, so two takers lock shared rows in the same order.
    """
    if not wants:
        return True
    ordered = sorted(wants, key=lambda w: (w.key, w.window_s))
    starts = [window_start(now, w.window_s) for w in ordered]
    if session.get_bind().dialect.name == "postgresql":
        params = {
            "keys": [w.key for w in ordered],
            "starts": starts,
            "ns": [w.n for w in ordered],
            "lims": [w.limit for w in ordered],
        }
        return len(session.execute(_TAKE_MANY_PG, params).all()) == len(wants)
    rows, values = [], {}  # SQLite (the demo): a VALUES list
    for i, (want, start) in enumerate(zip(ordered, starts, strict=True)):
        rows.append(f"(:k{i}, :s{i}, :n{i}, :l{i})")
        values.update({f"k{i}": want.key, f"s{i}": start, f"n{i}": want.n, f"l{i}": want.limit})
    # Only numbered placeholders are formatted in; every value is a bound parameter.
    stmt = text(
        f"WITH v (key, window_start, n, lim) AS (VALUES {', '.join(rows)}) " + _TAKE_MANY
    ).bindparams(*(bindparam(f"s{i}", type_=UTCDateTime()) for i in range(len(rows))))
    return len(session.execute(stmt, values).all()) == len(wants)


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


def take_reply_quota(
    session: Session, user_id: int, per_hour: int, per_day: int, now: datetime
) -> str | None:
    """Take one unit of a user's hourly and daily reply quota, both or neither.

    Returns None when taken, else the window that ran out ("hour" or "day").
    """
    if not take(session, user_key(user_id, "hour"), HOUR, per_hour, now):
        return "hour"
    if not take(session, user_key(user_id, "day"), DAY, per_day, now):
        give_back(session, user_key(user_id, "hour"), HOUR, now)
        return "day"
    return None


def give_back_reply_quota(session: Session, user_id: int, taken_at: datetime) -> None:
    """Return the unit take_reply_quota took at `taken_at`, to the windows it came from."""
    give_back(session, user_key(user_id, "hour"), HOUR, taken_at)
    give_back(session, user_key(user_id, "day"), DAY, taken_at)


# The counter is a 32-bit INTEGER: a busy tier's day saturates at its top instead of failing.
_COUNT_MAX = 2**31 - 1
# One statement, so concurrent workers each add their share (the row lock serializes the
# updates; none is lost). Postgres and SQLite (3.35+) both accept it as is.
_ADD = text(
    "INSERT INTO rate_counters (key, window_start, used) VALUES (:key, :start, :n) "
    "ON CONFLICT (key, window_start) DO UPDATE SET used = CASE "
    "WHEN rate_counters.used > :top - :n THEN :top ELSE rate_counters.used + :n END"
).bindparams(bindparam("start", type_=UTCDateTime()))


def add(session: Session, key: str, window_s: int, n: int, now: datetime) -> None:
    """Add `n` units to `key`'s count in the current window (no limit: it records use)."""
    start = window_start(now, window_s)
    session.execute(_ADD, {"key": key, "start": start, "n": n, "top": _COUNT_MAX})


def tier_tokens_key(tier: Tier) -> str:
    """The counter key of the tokens a tier spent (its daily token budget)."""
    return f"tier:{tier}:tokens"


def tier_tokens_used(session: Session, tier: Tier, now: datetime) -> int:
    """Tokens the tier spent today (UTC), read from the database, never the identity map."""
    value = session.scalar(
        select(RateCounter.used).where(
            RateCounter.key == tier_tokens_key(tier),
            RateCounter.window_start == window_start(now, DAY),
        )
    )
    return int(value or 0)


def token_budget_spent(session: Session, tier: Tier, budget: int, now: datetime) -> bool:
    """Whether a tier with a daily token budget has spent it today (0: no budget, no query)."""
    return budget > 0 and tier_tokens_used(session, tier, now) >= budget


def add_tier_tokens(session: Session, tier: Tier, tokens: int, now: datetime) -> None:
    """Count a generation's tokens against its tier's day (one atomic upsert)."""
    if tokens > 0:
        add(session, tier_tokens_key(tier), DAY, tokens, now)
