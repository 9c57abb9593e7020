"""`mentionbot sandbox --limit ENDPOINT=LIMIT[/WINDOW_S]`: what it accepts and how it says no."""

from __future__ import annotations

import re

import pytest

from bot.sandbox.limits import (
    DEFAULT_WINDOW_S,
    ENDPOINTS,
    RateLimit,
    default_limits,
    parse_limit,
    parse_limits,
)


def test_a_limit_with_and_without_its_window() -> None:
    assert parse_limit("create_tweet=300/900") == ("create_tweet", RateLimit(300, 900))
    assert parse_limit(" mentions=450 ") == ("mentions", RateLimit(450, DEFAULT_WINDOW_S))
    assert parse_limit("delete_tweet=0/1") == ("delete_tweet", RateLimit(0, 1))


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("create_tweet", "is not ENDPOINT=LIMIT[/WINDOW_S]"),
        ("create_tweet=", "is not ENDPOINT=LIMIT[/WINDOW_S]"),
        ("create_tweet=-1/900", "is not ENDPOINT=LIMIT[/WINDOW_S]"),
        ("create_tweet=3.5/900", "is not ENDPOINT=LIMIT[/WINDOW_S]"),
        ("create_tweet=300/", "is not ENDPOINT=LIMIT[/WINDOW_S]"),
        ("create_tweet=300/0", "the window must be at least 1 second"),
        ("tweets=300/900", "unknown endpoint 'tweets' (known: me, mentions, tweet_lookup,"),
    ],
)
def test_a_bad_limit_says_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)) as refused:
        parse_limit(spec)
    assert repr(spec) in str(refused.value)


def test_an_endpoint_given_twice_is_refused() -> None:
    assert parse_limits([]) == {}
    with pytest.raises(ValueError, match="the limit of 'mentions' is given twice"):
        parse_limits(["mentions=1/2", "mentions=3/4"])


def test_defaults_are_xs_figures_with_the_overrides_on_top() -> None:
    limits = default_limits({"create_tweet": RateLimit(300, 60), "mentions": 10})
    assert set(limits) == set(ENDPOINTS)
    assert limits["create_tweet"] == RateLimit(300, 60)
    assert limits["mentions"] == RateLimit(10, DEFAULT_WINDOW_S)
    assert limits["me"] == RateLimit(75, DEFAULT_WINDOW_S)
    with pytest.raises(ValueError, match="unknown endpoints in limits"):
        default_limits({"timeline": 5})
    with pytest.raises(ValueError, match="limit >= 0 and window_s >= 1"):
        RateLimit(1, 0)


def test_posting_daily_windows_parse_with_a_day_by_default() -> None:
    assert parse_limit("create_tweet_user_24h=5") == ("create_tweet_user_24h", RateLimit(5, 86_400))
    assert parse_limit("create_tweet_app_24h=7/60") == ("create_tweet_app_24h", RateLimit(7, 60))
