"""`mentionbot subscribers ...` through the real typer app, on the real Postgres test
database (committed, tables emptied around each test)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.operators import TIER_NAMES
from bot.db.base import utcnow
from bot.mentions.schema import Mention, PlatformUser
from bot.subscribers import quotas
from bot.subscribers.schema import TierOverride
from bot.subscribers.tiers import effective_tier
from bot.vocab import Decision, MentionStatus, Tier
from tests.fixtures.cli import Run, result_json
from tests.fixtures.factories.mentions import seen_user
from tests.fixtures.factories.replies import spent_reply

TIER_VALUES = [t.value for t in Tier]


def _overrides(db: sessionmaker[Session]) -> int:
    with db() as s:
        return int(s.scalar(select(func.count()).select_from(TierOverride)) or 0)


def _show(cli: Run, user: str) -> dict[str, Any]:
    return dict(result_json(cli("subscribers", "show", user, "--json")))


def test_help_names_every_tier() -> None:
    assert ", ".join(TIER_VALUES) == TIER_NAMES
    result = CliRunner().invoke(app, ["subscribers", "--help"])
    assert result.exit_code == 0
    for command in ("list", "show", "grant", "revoke", "block", "unblock"):
        assert command in result.stdout


def test_grant_until_a_date_then_expiry_back_to_the_platform_tier(
    cli: Run, committed_db: sessionmaker[Session]
) -> None:
    seen_user(committed_db, "1001", "alice", "Premium")
    day = (utcnow() + timedelta(days=30)).date()
    granted = result_json(
        cli(
            "subscribers",
            "grant",
            "@alice",
            "premium_plus",
            "--until",
            day.isoformat(),
            "--note",
            "launch trial",
            "--json",
        )
    )
    assert granted["effective_tier"] == "premium_plus"
    assert granted["user"] == "alice" and granted["platform_id"] == "1001"
    override = granted["override"]
    # A date means through that day (UTC): the grant ends at the next midnight.
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    assert datetime.fromisoformat(override["until"]) == midnight
    assert (override["action"], override["tier"], override["note"], override["actor"]) == (
        "grant",
        "premium_plus",
        "launch trial",
        "tester",
    )
    shown = _show(cli, "alice")
    assert (shown["platform_tier"], shown["effective_tier"]) == ("premium", "premium_plus")
    assert shown["override"]["id"] == override["id"]

    # A grant that runs out moments from now, timed for real.
    assert cli("subscribers", "revoke", "alice").exit_code == 0
    ends = utcnow() + timedelta(seconds=1.5)
    result_json(
        cli(
            "subscribers",
            "grant",
            "1001",
            "premium_plus",
            "--until",
            ends.isoformat(),
            "--note",
            "short",
            "--json",
        )
    )
    assert _show(cli, "alice")["effective_tier"] == "premium_plus"
    time.sleep(max(0.0, (ends - utcnow()).total_seconds()) + 0.1)
    shown = _show(cli, "alice")
    assert (shown["effective_tier"], shown["override"]) == ("premium", None)
    assert [h["status"] for h in shown["history"]] == ["revoked", "expired"]
    listed = result_json(cli("subscribers", "list", "--json"))
    assert listed[0]["effective_tier"] == "premium"


def test_an_override_that_just_expired_no_longer_counts(
    cli: Run, committed_db: sessionmaker[Session]
) -> None:
    uid = seen_user(committed_db, "1002", "bob", "Basic")
    with committed_db.begin() as s:
        s.add(
            TierOverride(
                user_id=uid,
                action="grant",
                tier="premium_plus",
                until=utcnow() - timedelta(seconds=1),
                note="ended a moment ago",
                actor="tester",
                created_at=utcnow() - timedelta(days=1),
            )
        )
    shown = _show(cli, "bob")
    assert (shown["effective_tier"], shown["override"]) == ("basic", None)
    assert shown["history"][0]["status"] == "expired"
    assert result_json(cli("subscribers", "list", "--json"))[0]["effective_tier"] == "basic"
    assert result_json(cli("subscribers", "list", "--tier", "premium_plus", "--json")) == []


def test_grant_for_days_and_revoke_ends_every_active_grant(
    cli: Run, committed_db: sessionmaker[Session]
) -> None:
    seen_user(committed_db, "1003", "carol")
    first = result_json(
        cli("subscribers", "grant", "carol", "premium", "--days", "7", "--note", "a", "--json")
    )
    until = datetime.fromisoformat(first["override"]["until"])
    assert abs(until - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
    second = result_json(
        cli("subscribers", "grant", "carol", "premium_plus", "--note", "for good", "--json")
    )
    assert second["override"]["until"] is None
    assert second["effective_tier"] == "premium_plus"  # the newest grant wins

    revoked = result_json(cli("subscribers", "revoke", "@carol", "--actor", "ops-anna", "--json"))
    assert (revoked["revoked"], revoked["effective_tier"]) == (2, "none")
    history = _show(cli, "carol")["history"]
    assert [(h["status"], h["revoked_by"]) for h in history] == [
        ("revoked", "ops-anna"),
        ("revoked", "ops-anna"),
    ]
    again = cli("subscribers", "revoke", "carol")
    assert again.exit_code == 0 and "ended 0 active grant(s)" in again.stdout
    assert _overrides(committed_db) == 2


def test_block_and_unblock(cli: Run, committed_db: sessionmaker[Session]) -> None:
    uid = seen_user(committed_db, "1004", "dave", "PremiumPlus")
    blocked = result_json(
        cli("subscribers", "block", "dave", "--note", "reply bot", "--days", "3", "--json")
    )
    assert blocked["effective_tier"] == "blocked"
    assert blocked["override"]["action"] == "block"
    with committed_db() as s:
        user = s.get(PlatformUser, uid)
        assert user is not None and effective_tier(s, user) == "blocked"
    assert [
        u["username"] for u in result_json(cli("subscribers", "list", "--blocked", "--json"))
    ] == ["dave"]
    shown = _show(cli, "dave")
    assert shown["policy"] is None
    assert shown["quota"]["hour"]["limit"] is None and shown["quota"]["day"]["limit"] is None

    text = cli("subscribers", "unblock", "dave")
    assert text.exit_code == 0, text.output
    assert "ended 1 active block(s) of @dave; effective tier now premium_plus" in text.stdout
    assert result_json(cli("subscribers", "list", "--blocked", "--json")) == []
    assert _show(cli, "dave")["effective_tier"] == "premium_plus"


def test_history_keeps_every_row(
    cli: Run, committed_db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps the table's cells at 80
    seen_user(committed_db, "1005", "erin")
    steps = [
        ("grant", "erin", "premium", "--note", "beta tester"),
        ("revoke", "erin"),
        ("block", "erin", "--note", "spam wave", "--actor", "mod-1"),
        ("unblock", "erin", "--actor", "mod-2"),
        ("grant", "erin", "premium_plus", "--note", "partner", "--until", "2099-01-01"),
    ]
    for step in steps:
        result = cli("subscribers", *step)
        assert result.exit_code == 0, result.output
    shown = _show(cli, "erin")
    assert [
        (h["action"], h["tier"], h["note"], h["actor"], h["status"], h["revoked_by"])
        for h in shown["history"]
    ] == [
        ("grant", "premium", "beta tester", "tester", "revoked", "tester"),
        ("block", None, "spam wave", "mod-1", "revoked", "mod-2"),
        ("grant", "premium_plus", "partner", "tester", "active", None),
    ]
    for h in shown["history"]:
        assert datetime.fromisoformat(h["created_at"]) <= utcnow()
    assert shown["effective_tier"] == "premium_plus"
    table = cli("subscribers", "show", "erin")
    assert table.exit_code == 0, table.output
    for word in ("Override history", "beta tester", "spam wave", "partner", "Quota", "Tokens"):
        assert word in table.stdout


def test_list_and_show_json_shapes_filters_and_quota_use(
    cli: Run, committed_db: sessionmaker[Session]
) -> None:
    ids = {
        name: seen_user(committed_db, pid, name, sub)
        for pid, name, sub in [
            ("2001", "pp", "PremiumPlus"),
            ("2002", "prem", "Premium"),
            ("2003", "free", None),
            ("2004", "odd", "Gold"),  # unknown to the code: none
            ("2005", "lifted", "Basic"),
        ]
    }
    with committed_db.begin() as s:
        for i in range(3):
            s.add(
                Mention(
                    platform_post_id=str(9000 + i),
                    author_id=ids["prem"],
                    text="@bot hi",
                    decision=Decision.NOT_SUBSCRIBED,
                    status=MentionStatus.IGNORED,
                )
            )
        now = utcnow()
        for _ in range(2):
            assert quotas.take(s, quotas.user_key(ids["prem"], "hour"), quotas.HOUR, 10, now)
        assert quotas.take(s, quotas.user_key(ids["prem"], "day"), quotas.DAY, 50, now)
    assert cli("subscribers", "grant", "lifted", "premium", "--note", "promo").exit_code == 0
    assert cli("subscribers", "block", "pp", "--note", "abuse").exit_code == 0

    rows = result_json(cli("subscribers", "list", "--json"))
    assert {r["username"] for r in rows} == set(ids)
    assert set(rows[0]) == {
        "id",
        "platform_id",
        "username",
        "display_name",
        "subscription_type",
        "platform_tier",
        "effective_tier",
        "override",
        "mentions",
        "first_seen",
        "last_seen",
    }
    by_name = {r["username"]: r for r in rows}
    assert {n: r["effective_tier"] for n, r in by_name.items()} == {
        "pp": "blocked",
        "prem": "premium",
        "free": "none",
        "odd": "none",
        "lifted": "premium",
    }
    assert by_name["prem"]["mentions"] == 3 and by_name["free"]["mentions"] == 0
    assert by_name["lifted"]["override"]["note"] == "promo"
    assert by_name["prem"]["override"] is None
    # The list's SQL and tiers.effective_tier agree on every user.
    for name in ids:
        assert _show(cli, name)["effective_tier"] == by_name[name]["effective_tier"]

    premium = result_json(cli("subscribers", "list", "--tier", "premium", "--json"))
    assert sorted(r["username"] for r in premium) == ["lifted", "prem"]
    none = result_json(cli("subscribers", "list", "--tier", "none", "--json"))
    assert sorted(r["username"] for r in none) == ["free", "odd"]
    assert len(result_json(cli("subscribers", "list", "--limit", "2", "--json"))) == 2
    # Most recently seen first.
    assert (
        result_json(cli("subscribers", "list", "--limit", "1", "--json"))[0]["username"] == "lifted"
    )

    shown = _show(cli, "PREM")  # usernames match case-insensitively, as on X
    assert set(shown) == set(rows[0]) | {"policy", "quota", "history", "tokens"}
    assert shown["quota"]["hour"]["used"] == 2 and shown["quota"]["hour"]["limit"] == 10
    assert shown["quota"]["day"]["used"] == 1 and shown["quota"]["day"]["limit"] == 50
    assert set(shown["quota"]["hour"]) == {"used", "limit", "window_start", "resets_at"}
    hour_start = datetime.fromisoformat(shown["quota"]["hour"]["window_start"])
    assert datetime.fromisoformat(shown["quota"]["hour"]["resets_at"]) - hour_start == timedelta(
        hours=1
    )
    assert shown["policy"]["tier"] == "premium" and shown["history"] == []

    table = cli("subscribers", "list")
    assert table.exit_code == 0, table.output
    assert "@prem" in table.stdout and "blocked" in table.stdout


def test_users_are_found_by_handle_name_or_platform_id(
    cli: Run, committed_db: sessionmaker[Session]
) -> None:
    seen_user(committed_db, "3001", "Frank")
    seen_user(committed_db, "3002", "12345")  # a username made of digits
    for ref in ("@Frank", "frank", "3001"):
        assert _show(cli, ref)["platform_id"] == "3001"
    assert _show(cli, "@12345")["platform_id"] == "3002"
    assert _show(cli, "12345")["platform_id"] == "3002"  # no such platform id: the username
    # X usernames change hands: two rows with one name is ambiguous, and says how to choose.
    seen_user(committed_db, "3003", "frank")
    result = cli("subscribers", "show", "frank")
    assert result.exit_code == 2
    assert "matches 2 users" in result.stderr and "3001" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grant", "@ghost", "premium", "--note", "x"], "has never seen them"),
        (["grant", "99999", "premium", "--note", "x"], "has never seen them"),
        (["grant", "gina", "gold", "--note", "x"], "unknown tier 'gold'"),
        (["grant", "gina", "blocked", "--note", "x"], "unknown tier 'blocked'"),
        (["grant", "gina", "premium", "--note", "x", "--until", "2020-01-01"], "in the past"),
        (
            ["grant", "gina", "premium", "--note", "x", "--until", "2020-01-01T10:00:00"],
            "in the past",
        ),
        (["grant", "gina", "premium", "--note", "x", "--until", "soon"], "is not a date"),
        (
            ["grant", "gina", "premium", "--note", "x", "--until", "2099-01-01", "--days", "3"],
            "not both",
        ),
        (["grant", "gina", "premium", "--note", "x", "--days", "0"], "at least 1"),
        (["grant", "gina", "premium", "--note", "   "], "--note must say why"),
        (["grant", "gina", "premium", "--note", "x", "--actor", "a" * 65], "at most 64"),
        (["grant", "gina", "premium", "--note", "x", "--actor", " "], "must not be empty"),
        (["grant", "blocked_one", "premium", "--note", "x"], "is blocked"),
        (["block", "@ghost", "--note", "x"], "has never seen them"),
        (["block", "gina", "--note", "x", "--until", "2020-01-01"], "in the past"),
        (["block", "gina", "--note", ""], "--note must say why"),
        (["revoke", "@ghost"], "has never seen them"),
        (["unblock", "@ghost"], "has never seen them"),
        (["show", "@ghost"], "has never seen them"),
        (["list", "--tier", "gold"], "unknown tier 'gold'"),
        (["list", "--blocked", "--tier", "premium"], "give one"),
        (["list", "--limit", "0"], "at least 1"),
    ],
)
def test_operator_errors_exit_2_and_write_nothing(
    cli: Run, committed_db: sessionmaker[Session], args: list[str], message: str
) -> None:
    seen_user(committed_db, "4001", "gina", "Premium")
    seen_user(committed_db, "4002", "blocked_one", "Premium")
    assert cli("subscribers", "block", "blocked_one", "--note", "abuse").exit_code == 0
    before = _overrides(committed_db)
    with committed_db() as s:
        users = s.scalar(select(func.count()).select_from(PlatformUser))
    result = cli("subscribers", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stdout == ""
    assert _overrides(committed_db) == before
    with committed_db() as s:
        assert s.scalar(select(func.count()).select_from(PlatformUser)) == users
        revoked = s.scalar(
            select(func.count())
            .select_from(TierOverride)
            .where(TierOverride.revoked_at.is_not(None))
        )
        assert revoked == 0


def test_grant_and_block_need_a_note(cli: Run, committed_db: sessionmaker[Session]) -> None:
    seen_user(committed_db, "5001", "hank")
    for args in (["grant", "hank", "premium"], ["block", "hank"]):
        result = cli("subscribers", *args)
        assert result.exit_code == 2
        assert "--note" in result.output
    assert _overrides(committed_db) == 0


def test_show_includes_the_tokens_of_the_users_replies(
    cli: Run, committed_db: sessionmaker[Session]
) -> None:
    now = utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    fay = seen_user(committed_db, "2101", "fay", "Premium")
    other = seen_user(committed_db, "2102", "gus", "Premium")
    with committed_db.begin() as s:
        spent_reply(s, fay, midnight, 1000, 200)  # today, at its first moment
        spent_reply(s, fay, midnight - timedelta(seconds=1), 300, 30)  # yesterday
        spent_reply(s, fay, midnight - timedelta(days=6), 20, 2)  # the 7th day back
        spent_reply(s, fay, midnight - timedelta(days=6, seconds=1), 9999, 9)  # too old
        spent_reply(s, other, midnight, 5000, 500)  # someone else's
    tokens = _show(cli, "fay")["tokens"]
    assert tokens == {
        "today": {
            "replies": 1,
            "prompt_tokens": 1000,
            "completion_tokens": 200,
            "total_tokens": 1200,
        },
        "last_7_days": {
            "replies": 3,
            "prompt_tokens": 1320,
            "completion_tokens": 232,
            "total_tokens": 1552,
        },
    }
    gus = _show(cli, "2102")["tokens"]["last_7_days"]
    assert gus["total_tokens"] == 5500  # by platform id
    table = cli("subscribers", "show", "fay")
    assert table.exit_code == 0, table.output
    for cell in ("Tokens spent on replies", "today", "last 7 days", "1,200", "1,552"):
        assert cell in table.stdout, cell
    assert "Quota" in table.stdout and "Override history" in table.stdout  # as before
