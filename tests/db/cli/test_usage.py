"""`mentionbot usage` through the real typer app on the real Postgres test database
(committed, tables emptied around each test): the table, the JSON document, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.vocab import ReplyStatus
from tests.fixtures.cli import Run, result_json
from tests.fixtures.factories.mentions import seen_user
from tests.fixtures.factories.replies import spent_reply

DAY1 = datetime(2031, 3, 10, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


@pytest.fixture()
def seeded(committed_db: sessionmaker[Session]) -> dict[str, int]:
    """alice (premium) and bob (premium_plus) with replies on two UTC days."""
    alice = seen_user(committed_db, "3001", "alice", "Premium")
    bob = seen_user(committed_db, "3002", "bob", "PremiumPlus")
    with committed_db.begin() as s:
        spent_reply(s, alice, DAY1 + timedelta(hours=9), 1200, 80)
        spent_reply(s, alice, DAY1 + timedelta(hours=10), 800, 20, status=ReplyStatus.REJECTED)
        spent_reply(s, bob, DAY1 + timedelta(hours=11), 500, 50, tier="premium_plus")
        spent_reply(s, bob, DAY2 + timedelta(hours=1), 40, 4, tier="premium_plus")
    return {"alice": alice, "bob": bob}


def test_usage_by_tier_as_json(cli: Run, seeded: dict[str, int]) -> None:
    document = result_json(cli("usage", "--since", "2031-03-10", "--json"))
    assert document["by"] == "tier"
    assert (document["since"], document["until"]) == ("2031-03-10", None)
    assert [(r["day"], r["tier"], r["replies"], r["total_tokens"]) for r in document["rows"]] == [
        ("2031-03-10", "premium", 2, 2100),
        ("2031-03-10", "premium_plus", 1, 550),
        ("2031-03-11", "premium_plus", 1, 44),
    ]
    assert document["rows"][0]["prompt_tokens"] == 2000
    assert document["rows"][0]["completion_tokens"] == 100
    assert document["total"] == {
        "replies": 4,
        "prompt_tokens": 2540,
        "completion_tokens": 154,
        "total_tokens": 2694,
    }
    one_day = result_json(cli("usage", "--since", "2031-03-11", "--until", "2031-03-11", "--json"))
    assert [r["tier"] for r in one_day["rows"]] == ["premium_plus"]
    assert one_day["until"] == "2031-03-11" and one_day["total"]["total_tokens"] == 44


def test_usage_by_user_as_json(cli: Run, seeded: dict[str, int]) -> None:
    document = result_json(
        cli("usage", "--by", "user", "--since", "2031-03-10", "--until", "2031-03-10", "--json")
    )
    assert document["by"] == "user"
    assert [
        (r["username"], r["user_id"], r["platform_id"], r["total_tokens"]) for r in document["rows"]
    ] == [
        ("alice", seeded["alice"], "3001", 2100),
        ("bob", seeded["bob"], "3002", 550),
    ]
    assert document["total"]["replies"] == 3


def test_usage_as_a_table(cli: Run, seeded: dict[str, int]) -> None:
    by_tier = cli("usage", "--since", "2031-03-10")
    assert by_tier.exit_code == 0, by_tier.output
    out = by_tier.stdout
    assert "Tokens by tier and UTC day, from 2031-03-10" in out
    for cell in ("2031-03-10", "2031-03-11", "premium_plus", "2,100", "2,000", "2,694", "total"):
        assert cell in out, cell
    by_user = cli("usage", "--by", "user", "--since", "2031-03-11")
    assert by_user.exit_code == 0, by_user.output
    assert "@bob" in by_user.stdout and "@alice" not in by_user.stdout
    empty = cli("usage", "--since", "2031-04-01")
    assert empty.exit_code == 0 and "no replies spent tokens" in empty.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2031-13-01"], "is not a date"),
        (["--since", "yesterday"], "is not a date"),
        (["--since", "2031-03-10", "--until", "03/11/2031"], "is not a date"),
        (["--since", "2031-03-10", "--until", "2031-03-09"], "is before --since"),
        (["--since", "2031-03-10", "--by", "team"], "is not one of 'tier', 'user'"),
        ([], "Missing option '--since'"),
    ],
)
def test_usage_refuses_bad_input_with_a_usage_error(
    cli: Run, args: list[str], message: str
) -> None:
    result = cli("usage", *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert result.stdout == "" or "Usage:" in result.stdout
