"""X post ids are Snowflakes: the top bits are milliseconds since X's epoch (docs/design.md §4)."""

from __future__ import annotations

from datetime import UTC, datetime

EPOCH_MS = 1288834974657
SEQUENCE_BITS = 22


def snowflake(ms: int, seq: int = 0) -> int:
    """The post id for a Unix time in milliseconds and a sequence number."""
    return ((ms - EPOCH_MS) << SEQUENCE_BITS) | seq


def snowflake_ms(post_id: str | int) -> int:
    """The Unix time in milliseconds encoded in a post id."""
    return (int(post_id) >> SEQUENCE_BITS) + EPOCH_MS


def snowflake_time(post_id: str | int) -> datetime:
    """When a post with this id was created."""
    return datetime.fromtimestamp(snowflake_ms(post_id) / 1000, UTC)


def snowflake_at(moment: datetime) -> str:
    """The smallest post id that could have been created at `moment`."""
    ms = int(moment.timestamp() * 1000)
    return str(snowflake(max(ms, EPOCH_MS)))
