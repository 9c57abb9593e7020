"""The listener's ingest on real Postgres (rolled back): every decision recorded with its state
and counted in metrics, and the overlap re-read that must never decide a mention twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.mentions.gating import MAX_MENTION_CHARS, GatingRules
from bot.mentions.ingest import ingest, upsert_author
from bot.mentions.schema import Mention
from bot.platform.protocol import Author, Post
from bot.replies.claims import refund_quota
from bot.replies.schema import Reply
from bot.subscribers import quotas, tiers
from bot.vocab import Decision, MentionStatus, OverrideAction, Tier
from tests.fixtures.factories.mentions import BOT, new_author, new_post_id, new_posts, user_of
from tests.fixtures.factories.subscribers import force_policy, units_total


@pytest.fixture()
def s(db: sessionmaker[Session]) -> Iterator[Session]:
    """One session inside the test's rolled-back transaction."""
    with db() as session:
        yield session


def _metric(reason: str) -> float:
    return REGISTRY.get_sample_value("mentionbot_decisions_total", {"reason": reason}) or 0.0


def _one_mention_per_decision(
    s: Session,
) -> tuple[list[tuple[Post, str]], dict[str, Author], Author]:
    """Policies, authors and a page of mentions in which every decision comes up, each post
    with the decision it must get; and the author whose tier's token budget is spent."""
    # premium: one an hour (then quota_hour); premium_plus: one a day (then quota_day).
    force_policy(s, "premium", replies_per_hour=1, replies_per_day=100)
    force_policy(s, "premium_plus", replies_per_hour=100, replies_per_day=1)
    # basic: answered, with a daily token budget already spent today (token_budget).
    force_policy(s, "basic", answered=True, daily_token_budget=500)
    quotas.add_tier_tokens(s, Tier.BASIC, 500, utcnow())
    spender = new_author("Basic")
    prem, plus, free = new_author("Premium"), new_author("PremiumPlus"), new_author(None, "freebie")
    blocked, spammer, looper = new_author("Premium"), new_author("Premium"), new_author("Premium")
    t1, t2, t3, t4 = (new_author("PremiumPlus") for _ in range(4))
    tiers.add_override(s, upsert_author(s, blocked), OverrideAction.BLOCK, "abuse", "test")
    authors = {a.platform_id: a for a in (prem, plus, free, blocked, spammer, looper)}
    authors.update({a.platform_id: a for a in (t1, t2, t3, t4, spender)})
    expected: list[tuple[Post, str]] = []

    def post(
        author_id: str, reason: str, text: str = "@mentionbot hi?", conv: str = "", **extra: Any
    ) -> None:
        expected.append(
            (
                Post(
                    new_post_id(), text, author_id=author_id, conversation_id=conv or None, **extra
                ),
                reason,
            )
        )

    post(prem.platform_id, "accepted")
    post(prem.platform_id, "quota_hour")
    post(plus.platform_id, "accepted")
    post(plus.platform_id, "quota_day")
    post(free.platform_id, "upsell")
    post(free.platform_id, "not_subscribed")
    post(BOT, "own_post")
    post(blocked.platform_id, "blocked")
    post(spammer.platform_id, "spam", " ".join(f"@user{i}" for i in range(6)) + " look")
    post("4242", "unknown_author")  # no user object expanded for this author
    post(spammer.platform_id, "empty", "  \n ")
    post(spammer.platform_id, "too_long", "x" * (MAX_MENTION_CHARS + 1))
    for t in (t1, t2, t3):
        post(t.platform_id, "accepted", conv="c-thread")
    post(t4.platform_id, "thread_cap", conv="c-thread")
    post(spender.platform_id, "token_budget")
    post(prem.platform_id, "repost", "RT @x: @mentionbot hi?", repost_of=new_post_id())
    # A reply in a conversation only mentioned users may join, whose first post is not ours.
    post(
        prem.platform_id,
        "replies_restricted",
        conv="c-closed",
        in_reply_to_post_id="c-closed",
        reply_settings="mentionedUsers",
    )
    # An edit of the first mention (accepted above): its chain is answered already.
    post(prem.platform_id, "edited_after_reply", edit_root=expected[0][0].id)
    # loop_max_per_minute=2: the third mention within a minute in one conversation cools down.
    post(looper.platform_id, "accepted", conv="c-loop")
    post(looper.platform_id, "quota_hour", conv="c-loop")
    post(looper.platform_id, "loop", conv="c-loop")
    return expected, authors, spender


def test_every_decision_is_produced_and_recorded(s: Session) -> None:
    expected, authors, spender = _one_mention_per_decision(s)
    before = {r: _metric(r) for r in Decision}

    result = ingest(s, [p for p, _ in expected], authors, BOT, GatingRules(loop_max_per_minute=2))

    stored = {
        row.platform_post_id: row
        for row in s.execute(
            select(Mention.platform_post_id, Mention.decision, Mention.reason, Mention.status)
        )
    }
    assert {p.id: stored[p.id].decision for p, _ in expected} == {p.id: r for p, r in expected}
    assert {stored[p.id].reason for p, _ in expected} == {None}  # nothing failed
    assert {r for _, r in expected} == set(Decision)
    for p, reason in expected:
        status = stored[p.id].status
        if reason == "accepted":
            assert status == MentionStatus.QUEUED
        elif reason == "upsell":
            assert status == MentionStatus.ANSWERED
        else:
            assert status == MentionStatus.IGNORED, reason
    assert result.new == len(expected)
    assert len(result.accepted) == sum(r == "accepted" for _, r in expected) == 6
    assert len(result.upsells) == 1
    assert units_total(s, user_of(s, spender).id, "hour") == 0  # no unit for token_budget
    upsell = s.scalars(select(Reply).where(Reply.id == result.upsells[0])).one()
    assert "freebie" in upsell.text and upsell.model == "upsell"
    # The upsell post goes out at its tier's priority, like every other send.
    tier = s.scalar(select(Mention.tier).where(Mention.id == upsell.mention_id))
    assert isinstance(tier, Tier)
    assert result.upsell_priorities == {upsell.id: tiers.policies(s)[tier].priority}
    # Counted in metrics, once per recorded decision.
    counts = {r: sum(1 for _, e in expected if e == r) for r in Decision}
    assert {r: _metric(r) - before[r] for r in Decision} == counts


def test_a_stored_mention_is_not_decided_again(s: Session) -> None:
    force_policy(s, "premium", replies_per_hour=3, replies_per_day=100)
    prem = new_author("Premium")
    authors = {prem.platform_id: prem}
    p1, p2, p3, p4, p5 = new_posts(prem, 5)
    first = ingest(s, [p1, p2], authors, BOT)
    assert (first.new, len(first.accepted)) == (2, 2)
    uid = user_of(s, prem).id
    assert (units_total(s, uid, "hour"), units_total(s, uid, "day")) == (2, 2)
    again = ingest(s, [p1, p2, p3, p4], authors, BOT)
    assert (again.fetched, again.new, len(again.accepted), again.ignored) == (4, 2, 1, 1)
    assert (units_total(s, uid, "hour"), units_total(s, uid, "day")) == (3, 3)
    # The overlap once more: nothing new, nothing taken, the stored decisions stand.
    third = ingest(s, [p2, p3, p4], authors, BOT)
    assert (third.new, third.accepted) == (0, [])
    assert (units_total(s, uid, "hour"), units_total(s, uid, "day")) == (3, 3)
    rows = s.execute(
        select(Mention.platform_post_id, Mention.decision).where(Mention.author_id == uid)
    ).tuples()
    decisions = {post_id: decision for post_id, decision in rows}
    assert decisions == {
        p1.id: "accepted",
        p2.id: "accepted",
        p3.id: "accepted",
        p4.id: "quota_hour",
    }
    # The same post twice in one batch (as when another listener stored it first): the
    # duplicate is decided, but its decision and its unit are rolled back with the insert.
    for post in (p1, p2):
        mention_id = s.scalar(select(Mention.id).where(Mention.platform_post_id == post.id))
        assert mention_id is not None and refund_quota(s, mention_id)
    twice = ingest(s, [p5, p5], authors, BOT)
    assert (twice.new, len(twice.accepted)) == (1, 1)
    assert (units_total(s, uid, "hour"), units_total(s, uid, "day")) == (2, 2)
