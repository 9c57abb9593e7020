"""Tokens on the dashboard over real HTTP: the stats page's tokens per tier per day and the
budgets' use today, and the daily token budget on the tiers page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.db.engine import transaction
from bot.subscribers import quotas
from bot.subscribers.schema import TierPolicy
from bot.vocab import Tier
from tests.fixtures.dashboard import SignIn
from tests.fixtures.factories.mentions import seen_user
from tests.fixtures.factories.replies import spent_reply
from tests.fixtures.factories.subscribers import force_policy


@pytest.fixture()
def policies_kept(committed_db: sessionmaker[Session]) -> Iterator[None]:
    """The tier policies a test changes are put back afterwards (they are seeded, not
    emptied with the other tables)."""
    with committed_db() as s:
        saved = [
            {c.name: getattr(p, c.name) for c in TierPolicy.__table__.columns}
            for p in s.scalars(select(TierPolicy))
        ]
    yield
    with committed_db.begin() as s:
        for values in saved:
            s.merge(TierPolicy(**values))


def test_stats_show_tokens_per_tier_per_day_and_budget_use(
    sign_in: SignIn, committed_db: sessionmaker[Session], policies_kept: None
) -> None:
    now = utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    alice = seen_user(committed_db, "4001", "alice", "Premium")
    bob = seen_user(committed_db, "4002", "bob", "PremiumPlus")
    with transaction(committed_db) as s:
        spent_reply(s, alice, today, 12_000, 345)
        spent_reply(s, alice, today + timedelta(seconds=1), 1000, 55)
        spent_reply(s, bob, today - timedelta(days=1), 7000, 700, tier="premium_plus")
        spent_reply(s, bob, today - timedelta(days=9), 99_999, 1, tier="premium_plus")  # too old
        force_policy(s, "premium", daily_token_budget=20_000)
        quotas.add_tier_tokens(s, Tier.PREMIUM, 13_400, now)
    page = sign_in("bob").get("/stats")
    assert page.status_code == 200
    html = page.text
    start = html.index('id="tokens"')
    section = html[start : html.index("</section>", start)]
    assert "Tokens per tier per day" in section and "<svg" in section
    assert "<script" not in section and "style=" not in section  # CSP: no inline anything
    day, yesterday = today.date().isoformat(), (today - timedelta(days=1)).date().isoformat()
    row = section[section.index(f"<td>{day}</td>") :]
    row = row[: row.index("</tr>")]
    # premium_plus first, then premium; all tiers; replies.
    cells = [c.split(">")[-1] for c in row.split("</td>")[1:-1]]
    assert cells == ["0", "13,400", "13,400", "2"]
    earlier = section[section.index(f"<td>{yesterday}</td>") :]
    earlier = earlier[: earlier.index("</tr>")]
    assert [c.split(">")[-1] for c in earlier.split("</td>")[1:-1]] == ["7,700", "0", "7,700", "1"]
    assert "99,999" not in section and "100,000" not in section
    assert section.count("<tr><td>") == 7 + 1  # every day of the week, and one budget
    assert "Daily token budgets today" in section
    budget = section[section.index("<td>premium</td>") :]
    assert [c.split(">")[-1] for c in budget[: budget.index("</tr>")].split("</td>")[1:-1]] == [
        "20,000",
        "13,400",
        "6,600",
    ]


def test_stats_without_tokens_say_so(sign_in: SignIn) -> None:
    html = sign_in("bob").get("/stats").text
    assert "No replies spent tokens in these days." in html
    assert "Daily token budgets today" not in html  # no tier has a budget


def test_an_admin_sets_a_tiers_daily_token_budget_on_the_tiers_page(
    sign_in: SignIn, committed_db: sessionmaker[Session], policies_kept: None
) -> None:
    alice = sign_in("alice")
    form = {"answered": "on", "moderation": "post", "daily_token_budget": "250000"}
    assert alice.post("/tiers/premium", data=form).status_code == 303
    with committed_db() as s:
        row = s.get(TierPolicy, "premium")
        assert row is not None and row.daily_token_budget == 250_000
    page = alice.get("/tiers").text
    assert 'name="daily_token_budget" value="250000"' in page
    bad = alice.post("/tiers/premium", data={**form, "daily_token_budget": "-5"})
    assert bad.status_code == 303
    with committed_db() as s:
        row = s.get(TierPolicy, "premium")
        assert row is not None and row.daily_token_budget == 250_000  # refused, unchanged
