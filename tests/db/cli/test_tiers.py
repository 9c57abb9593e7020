"""`mentionbot tiers ...` through the real typer app, on the real Postgres test database
(committed, tables emptied around each test)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.subscribers.schema import TierPolicy
from bot.subscribers.tiers import set_policy
from bot.vocab import Tier
from tests.fixtures.cli import Run, result_json

TIER_VALUES = [t.value for t in Tier]

GROK_DEFAULTS = {
    "premium_plus": (True, 50, 300, 0, "post"),
    "premium": (True, 10, 50, 3, "post"),
    "basic": (False, 0, 0, 6, "pre"),
    "none": (False, 0, 0, 9, "pre"),
}


def _policies(db: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with db() as s:
        rows = s.scalars(select(TierPolicy).order_by(TierPolicy.tier))
        columns = [c.name for c in TierPolicy.__table__.columns if c.name != "updated_at"]
        return [tuple(getattr(p, c) for c in columns) for p in rows]


def test_tiers_show_lists_the_four_tiers_with_the_grok_defaults(cli: Run) -> None:
    rows = result_json(cli("tiers", "show", "--json"))
    assert [r["tier"] for r in rows] == ["premium_plus", "premium", "basic", "none"]
    for r in rows:
        answered, per_hour, per_day, priority, moderation = GROK_DEFAULTS[r["tier"]]
        assert (r["answered"], r["replies_per_hour"], r["replies_per_day"]) == (
            answered,
            per_hour,
            per_day,
        )
        assert (r["priority"], r["moderation"]) == (priority, moderation)
        assert set(r) == {
            "tier",
            "answered",
            "replies_per_hour",
            "replies_per_day",
            "max_output_tokens",
            "priority",
            "moderation",
            "upsell_text",
            "upsell_every_days",
            "daily_token_budget",
        }
        assert r["daily_token_budget"] == 0  # no budget until an operator sets one
        if not answered:
            assert r["upsell_text"] and r["upsell_every_days"] == 30
        else:
            assert r["upsell_text"] is None
    table = cli("tiers", "show")
    assert table.exit_code == 0, table.output
    for tier in TIER_VALUES:
        assert tier in table.stdout
    assert "upsell (basic): Thanks for the mention" in table.stdout
    assert "no budget" in table.stdout


def test_tiers_set_changes_only_what_is_given_and_persists(
    cli: Run, committed_db: sessionmaker[Session]
) -> None:
    before = {r["tier"]: r for r in result_json(cli("tiers", "show", "--json"))}
    new = result_json(
        cli(
            "tiers",
            "set",
            "premium",
            "--per-hour",
            "20",
            "--per-day",
            "120",
            "--max-tokens",
            "200",
            "--priority",
            "2",
            "--moderation",
            "pre",
            "--json",
        )
    )
    assert new == {
        **before["premium"],
        "replies_per_hour": 20,
        "replies_per_day": 120,
        "max_output_tokens": 200,
        "priority": 2,
        "moderation": "pre",
    }
    after = {r["tier"]: r for r in result_json(cli("tiers", "show", "--json"))}
    assert after["premium"] == new
    assert {t: after[t] for t in after if t != "premium"} == {
        t: before[t] for t in before if t != "premium"
    }

    basic = result_json(
        cli(
            "tiers",
            "set",
            "basic",
            "--answered",
            "--upsell",
            "Hi {username}, subscribe!",
            "--upsell-days",
            "7",
            "--json",
        )
    )
    assert (basic["answered"], basic["upsell_text"], basic["upsell_every_days"]) == (
        True,
        "Hi {username}, subscribe!",
        7,
    )
    assert (
        result_json(cli("tiers", "set", "basic", "--no-upsell", "--not-answered", "--json"))[
            "upsell_text"
        ]
        is None
    )
    with committed_db() as s:
        row = s.get(TierPolicy, "basic")
        assert row is not None and row.upsell_text is None and row.answered is False
    table = cli("tiers", "set", "none", "--per-hour", "0")
    assert table.exit_code == 0 and "none" in table.stdout


def test_tiers_set_token_budget_is_shown_and_zero_removes_it(
    cli: Run, committed_db: sessionmaker[Session]
) -> None:
    table = cli("tiers", "set", "premium", "--token-budget", "2500000")
    assert table.exit_code == 0, table.output
    assert "token budget per day" in table.stdout and "2,500,000" in table.stdout
    with committed_db() as s:
        row = s.get(TierPolicy, "premium")
        assert row is not None and row.daily_token_budget == 2_500_000
    shown = {r["tier"]: r for r in result_json(cli("tiers", "show", "--json"))}
    assert shown["premium"]["daily_token_budget"] == 2_500_000
    assert shown["premium_plus"]["daily_token_budget"] == 0  # only the tier given
    off = result_json(cli("tiers", "set", "premium", "--token-budget", "0", "--json"))
    assert off["daily_token_budget"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gold", "--per-hour", "1"], "unknown tier 'gold'"),
        (["premium", "--priority", "10"], "priority must be between 0 and 9"),
        (["premium", "--priority", "-1"], "priority must be between 0 and 9"),
        (["premium", "--per-hour", "-1"], "replies_per_hour must be between 0"),
        (["premium", "--per-day", str(2**31)], "replies_per_day must be between 0"),
        (["premium", "--max-tokens", "0"], "max_output_tokens must be between 1"),
        (["none", "--upsell-days", "-3"], "upsell_every_days must be between 0"),
        (["premium", "--token-budget", "-1"], "daily_token_budget must be between 0"),
        (["premium", "--token-budget", str(2**31)], "daily_token_budget must be between 0"),
        (["premium", "--moderation", "later"], "moderation must be one of pre, post, auto"),
        (["none", "--upsell", "   "], "upsell text must not be empty"),
        (["none", "--upsell", "x" * 270 + " {username}"], "must fit one post"),
        (["none", "--upsell", "hi", "--no-upsell"], "not both"),
        (["premium"], "nothing to change"),
        # Every value is checked before any is written.
        (["premium", "--per-hour", "99", "--moderation", "later"], "moderation must be"),
    ],
)
def test_tiers_set_refuses_bad_values_and_writes_nothing(
    cli: Run, committed_db: sessionmaker[Session], args: list[str], message: str
) -> None:
    before = _policies(committed_db)
    result = cli("tiers", "set", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""
    assert _policies(committed_db) == before


def test_set_policy_checks_types(committed_db: sessionmaker[Session]) -> None:
    with committed_db() as s:
        cases: list[tuple[dict[str, object], str]] = [
            ({"priority": True}, "whole number"),
            ({"replies_per_hour": "5"}, "whole number"),
            ({"answered": 1}, "true or false"),
            ({"colour": "red"}, "unknown policy field"),
        ]
        for changes, message in cases:
            with pytest.raises(ValueError, match=message):
                set_policy(s, "premium", **changes)
        s.rollback()
