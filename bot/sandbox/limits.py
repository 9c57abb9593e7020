"""The sandbox's rate limits: X's figures per endpoint, and the ENDPOINT=LIMIT/WINDOW_S form
`mentionbot sandbox --limit` takes to replace them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_WINDOW_S = 900
DAY_S = 86_400
# Per user and 15 minutes unless said otherwise: docs.x.com's figures for the pay-per-use
# API (mentions 300 per user, 450 per app; posting 100 per user), the recordings' for the
# rest (tests/data/x-api-recordings).
DEFAULT_LIMITS: Mapping[str, int] = {
    "me": 75,
    "mentions": 300,
    "tweet_lookup": 300,
    "user_tweets": 1500,
    "create_tweet": 100,
    "delete_tweet": 50,
}
# Posting also counts against two 24-hour windows, reported in X's x-user-limit-24hour-*
# and x-app-limit-24hour-* headers: 10,000 posts a day per app (docs.x.com) and 2,400 per
# account (X's long-standing daily cap on an account's posts).
DAILY_LIMITS: Mapping[str, tuple[tuple[str, str, int], ...]] = {
    "create_tweet": (
        ("create_tweet_user_24h", "user", 2400),
        ("create_tweet_app_24h", "app", 10_000),
    ),
}
DAILY_WINDOWS: Mapping[str, tuple[str, int]] = {
    name: (scope, limit) for windows in DAILY_LIMITS.values() for name, scope, limit in windows
}
ENDPOINTS: tuple[str, ...] = (*DEFAULT_LIMITS, *DAILY_WINDOWS)
_SPEC = re.compile(r"(?P<endpoint>[a-z0-9_]+)=(?P<limit>[0-9]+)(?:/(?P<window>[0-9]+))?")


@dataclass(frozen=True)
class RateLimit:
    """A request budget per window."""

    limit: int
    window_s: int

    def __post_init__(self) -> None:
        if self.limit < 0 or self.window_s < 1:
            raise ValueError(
                f"a rate limit needs limit >= 0 and window_s >= 1, not {self.limit}/{self.window_s}"
            )


def default_limits(overrides: Mapping[str, int | RateLimit] | None = None) -> dict[str, RateLimit]:
    """X's limits per endpoint, with `overrides` (a bare count keeps the 15-minute window)."""
    unknown = set(overrides or {}) - set(ENDPOINTS)
    if unknown:
        raise ValueError(
            f"unknown endpoints in limits: {sorted(unknown)} (known: {', '.join(ENDPOINTS)})"
        )
    limits = {name: RateLimit(n, DEFAULT_WINDOW_S) for name, n in DEFAULT_LIMITS.items()}
    limits.update({name: RateLimit(n, DAY_S) for name, (_, n) in DAILY_WINDOWS.items()})
    for name, value in (overrides or {}).items():
        limits[name] = value if isinstance(value, RateLimit) else RateLimit(value, DEFAULT_WINDOW_S)
    return limits


def parse_limit(spec: str) -> tuple[str, RateLimit]:
    """Parse ENDPOINT=LIMIT[/WINDOW_S], e.g. create_tweet=300/900; ValueError says what is wrong."""
    found = _SPEC.fullmatch(spec.strip())
    if found is None:
        raise ValueError(f"{spec!r} is not ENDPOINT=LIMIT[/WINDOW_S] (e.g. create_tweet=300/900)")
    endpoint = found["endpoint"]
    if endpoint not in ENDPOINTS:
        raise ValueError(f"{spec!r}: unknown endpoint {endpoint!r} (known: {', '.join(ENDPOINTS)})")
    default_window = DAY_S if endpoint in DAILY_WINDOWS else DEFAULT_WINDOW_S
    window = int(found["window"]) if found["window"] is not None else default_window
    if window < 1:
        raise ValueError(f"{spec!r}: the window must be at least 1 second")
    return endpoint, RateLimit(int(found["limit"]), window)


def parse_limits(specs: Iterable[str]) -> dict[str, RateLimit]:
    """Parse several ENDPOINT=LIMIT[/WINDOW_S]; an endpoint named twice is an error."""
    limits: dict[str, RateLimit] = {}
    for spec in specs:
        endpoint, limit = parse_limit(spec)
        if endpoint in limits:
            raise ValueError(f"{spec!r}: the limit of {endpoint!r} is given twice")
        limits[endpoint] = limit
    return limits
