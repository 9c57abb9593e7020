"""decide() on real Postgres, every test rolled back: each decision, tiers as the gate sees
them, upsell periods, the per-conversation cap and loop cool-downs.

The clock is always passed in (`now`), so window boundaries, override expiry, upsell periods
and loop cool-downs are exact; the `ingest` tests decide a whole batch with one `now`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.mentions.gating import GatingRules, decide, written_text
from bot.mentions.ingest import upsert_author
from bot.mentions.schema import Mention, PlatformUser
from bot.platform.protocol import Post
from bot.subscribers import quotas, tiers
from bot.subscribers.schema import TierOverride
from bot.vocab import Decision, MentionStatus, OverrideAction, Tier
from tests.fixtures.factories.mentions import BOT, NOW, Gate, new_author, new_post_id, user_of
from tests.fixtures.factories.subscribers import force_policy, units_total, units_used


@pytest.fixture()
def s(db: sessionmaker[Session]) -> Iterator[Session]:
    """One session inside the test's rolled-back transaction."""
    with db() as session:
        yield session


def test_decisions_record_the_tier_and_priority(s: Session) -> None:
    gate = Gate(s)
    plus, prem = gate(new_author("PremiumPlus")), gate(new_author("Premium"))
    assert (plus.accepted, plus.tier, plus.priority) == (True, "premium_plus", 0)
    assert (prem.accepted, prem.tier, prem.priority) == (True, "premium", 3)
    assert plus.quota_taken and prem.quota_taken
    stored = s.execute(select(Mention.priority).where(Mention.id == gate.last_id)).scalar_one()
    assert stored == 3


@pytest.mark.parametrize(
    ("subscription_type", "tier", "decision"),
    [
        ("PremiumPlus", "premium_plus", "accepted"),
        ("Premium", "premium", "accepted"),
        ("Basic", "basic", "upsell"),
        ("None", "none", "upsell"),
        (None, "none", "upsell"),
        ("Gold", "none", "upsell"),
    ],
)
def test_subscription_type_maps_to_a_tier(
    s: Session, subscription_type: str | None, tier: str, decision: str
) -> None:
    assert tiers.tier_from_subscription(subscription_type) == tier
    verdict = Gate(s)(new_author(subscription_type))
    assert (verdict.tier, verdict.decision) == (tier, decision)


def test_a_grant_with_expiry_holds_until_its_end_then_the_platform_tier_is_back(
    s: Session,
) -> None:
    gate = Gate(s)
    free = new_author(None)
    uid = upsert_author(s, free)
    until = NOW + timedelta(days=1)
    tiers.add_override(s, uid, OverrideAction.GRANT, "trial", "ops", tier="premium", until=until)
    assert tiers.effective_tier(s, user_of(s, free), NOW) == "premium"
    assert gate(free, now=NOW).decision == "accepted"
    last = gate(free, now=until - timedelta(seconds=1))
    assert (last.decision, last.tier) == ("accepted", "premium")
    expired = gate(free, now=until)
    assert (expired.decision, expired.tier) == ("upsell", "none")
    assert gate(free, now=until + timedelta(hours=1)).decision == "not_subscribed"

    # A grant upgrades a paying user too; the newest active override wins; revoking ends it.
    prem = new_author("Premium")
    pid = upsert_author(s, prem)
    tiers.add_override(
        s, pid, OverrideAction.GRANT, "partner", "ops", tier="premium_plus", until=None
    )
    assert (gate(prem).tier, gate(prem).priority) == ("premium_plus", 0)
    assert tiers.revoke(s, pid, OverrideAction.GRANT, actor="ops") == 1
    assert gate(prem).tier == "premium"
    # History is kept: the grant is still there, marked revoked by whom.
    rows = s.scalars(select(TierOverride).where(TierOverride.user_id == pid)).all()
    assert [(r.action, r.tier, r.revoked_by) for r in rows] == [("grant", "premium_plus", "ops")]
    with pytest.raises(ValueError, match="unknown tier"):
        tiers.add_override(s, pid, OverrideAction.GRANT, "", "ops", tier="gold", until=None)


def test_block_and_unblock(s: Session) -> None:
    gate = Gate(s)
    prem = new_author("Premium")
    uid = upsert_author(s, prem)
    tiers.add_override(s, uid, OverrideAction.BLOCK, "harassment", "ops")
    blocked = gate(prem)
    assert (blocked.accepted, blocked.decision, blocked.tier) == (False, "blocked", "blocked")
    assert units_used(s, uid, "hour", NOW) == 0  # a blocked mention takes no quota
    assert tiers.revoke(s, uid, OverrideAction.BLOCK, actor="ops") == 1
    assert gate(prem).decision == "accepted"
    assert tiers.revoke(s, uid, OverrideAction.BLOCK, actor="ops") == 0

    # A block with an end date lapses by itself.
    tiers.add_override(
        s, uid, OverrideAction.BLOCK, "cool off", "ops", until=NOW + timedelta(hours=2)
    )
    assert gate(prem, now=NOW + timedelta(hours=1)).decision == "blocked"
    assert gate(prem, now=NOW + timedelta(hours=2)).decision == "accepted"


def test_an_answered_tier_with_no_budget_is_quota_hour(s: Session) -> None:
    force_policy(s, "premium", replies_per_hour=0)
    assert Gate(s)(new_author("Premium")).decision == "quota_hour"


def test_the_upsell_is_sent_at_most_once_per_period(s: Session) -> None:
    force_policy(s, "none", upsell_every_days=30)
    gate, free = Gate(s), new_author(None)
    times = [
        NOW,
        NOW + timedelta(hours=1),
        NOW + timedelta(days=29, hours=23),
        NOW + timedelta(days=30, seconds=1),
        NOW + timedelta(days=31),
    ]
    assert gate.decisions(free, times) == [
        "upsell",
        "not_subscribed",
        "not_subscribed",
        "upsell",
        "not_subscribed",
    ]
    uid = user_of(s, free).id
    assert units_total(s, uid, "hour") == 0  # unanswered tiers take no quota
    # Basic is not answered either; a shorter period; no text means no upsell at all.
    force_policy(s, "basic", upsell_every_days=7)
    basic = new_author("Basic")
    week = [NOW, NOW + timedelta(days=6), NOW + timedelta(days=7, seconds=1)]
    assert gate.decisions(basic, week) == ["upsell", "not_subscribed", "upsell"]
    force_policy(s, "none", upsell_text=None)
    assert gate(new_author(None)).decision == "not_subscribed"


def test_upsell_period_is_per_user(s: Session) -> None:
    gate = Gate(s)
    assert [gate(new_author(None)).decision for _ in range(3)] == ["upsell"] * 3


def test_conversation_cap_defaults_to_three(s: Session) -> None:
    assert GatingRules().thread_cap == 3
    gate = Gate(s)
    users = [new_author("Premium") for _ in range(5)]
    decisions = [gate(u, conversation="c1").decision for u in users[:4]]
    assert decisions == ["accepted", "accepted", "accepted", "thread_cap"]
    assert units_total(s, user_of(s, users[3]).id, "hour") == 0  # no quota for a capped one
    assert gate(users[3], conversation="c2").decision == "accepted"
    # A failed mention got no reply: it no longer counts against the thread.
    first = s.scalar(
        select(Mention.id).where(Mention.conversation_id == "c1").order_by(Mention.id).limit(1)
    )
    s.execute(update(Mention).where(Mention.id == first).values(status=MentionStatus.FAILED))
    assert gate(users[4], conversation="c1").decision == "accepted"
    assert gate(users[4], conversation="c1").decision == "thread_cap"
    # Answered mentions (their decision stays "accepted") still count.
    s.execute(
        update(Mention)
        .where(Mention.conversation_id == "c1", Mention.status == MentionStatus.QUEUED)
        .values(status=MentionStatus.ANSWERED)
    )
    assert gate(new_author("Premium"), conversation="c1").decision == "thread_cap"
    assert Gate(s, GatingRules(thread_cap=10))(users[0], conversation="c1").decision == "accepted"


def test_loop_cools_the_account_down(s: Session) -> None:
    rules = GatingRules(loop_max_per_minute=3, loop_cooldown_s=600, thread_cap=100)
    gate, bot2 = Gate(s, rules), new_author("Premium")
    burst = [NOW + timedelta(seconds=10 * i) for i in range(4)]
    assert gate.decisions(bot2, burst, conversation="c-loop") == ["accepted"] * 3 + ["loop"]
    until = burst[3] + timedelta(seconds=600)
    assert (
        s.scalar(
            select(PlatformUser.cooldown_until).where(PlatformUser.platform_id == bot2.platform_id)
        )
        == until
    )
    # Cooled down everywhere, not just in that conversation, until cooldown_until.
    assert gate(bot2, now=NOW + timedelta(minutes=5), conversation="c-other").decision == "loop"
    assert gate(bot2, now=until - timedelta(seconds=1)).decision == "loop"
    # Another account in the same conversation is not affected.
    assert gate(new_author("Premium"), now=burst[3], conversation="c-loop").decision == "accepted"
    assert gate(bot2, now=until, conversation="c-loop").decision == "accepted"


def test_mentions_spread_out_do_not_count_as_a_loop(s: Session) -> None:
    rules = GatingRules(loop_max_per_minute=2, thread_cap=100)
    gate, user = Gate(s, rules), new_author("PremiumPlus")
    spaced = [NOW + timedelta(seconds=30 * i) for i in range(6)]
    assert gate.decisions(user, spaced, conversation="c-slow") == ["accepted"] * 6
    # Without a conversation there is nothing to count.
    assert gate.decisions(user, [NOW] * 4) == ["accepted"] * 4


def test_mass_tagging_counts_only_the_handles_the_author_wrote(s: Session) -> None:
    assert GatingRules().spam_max_mentions == 5
    author = new_author("PremiumPlus")
    row = user_of(s, author)
    thread = "@p0 @p1 @p2 @p3 @p4 @p5 "  # the handles X put before a reply in a busy thread

    def decision(text: str, **fields: Any) -> Decision:
        post = Post(new_post_id(), text, author_id=author.platform_id, **fields)
        return decide(s, post, author, row, BOT, GatingRules(), tiers.policies(s), NOW).decision

    asked = thread + "@mentionbot is this true?"
    assert decision(asked, in_reply_to_post_id="1", display_start=len(thread)) == "accepted"
    # Without display_text_range, a reply's leading run of handles is X's, not the author's.
    assert decision(asked, in_reply_to_post_id="1") == "accepted"
    # Not a reply, or X says the author wrote them: every handle counts.
    assert decision(asked) == "spam"
    assert decision(asked, in_reply_to_post_id="1", display_start=0) == "spam"
    tagged = thread + "@mentionbot look @a @b @c @d @e"
    assert decision(tagged, in_reply_to_post_id="1", display_start=len(thread)) == "spam"
    # The fallback cannot tell a handle the author put first from X's: six more after it.
    assert decision(tagged, in_reply_to_post_id="1") == "accepted"
    assert decision(tagged + " @f", in_reply_to_post_id="1") == "spam"
    five = thread + "@mentionbot look @a @b @c @d"
    assert decision(five, in_reply_to_post_id="1", display_start=len(thread)) == "accepted"


def test_written_text_is_what_follows_the_threads_handles() -> None:
    reply = "@bob @carol 🥁 @dave hi"
    assert (
        written_text(Post("1", reply, in_reply_to_post_id="0", display_start=12)) == "🥁 @dave hi"
    )
    assert written_text(Post("1", reply, in_reply_to_post_id="0")) == "🥁 @dave hi"
    assert written_text(Post("1", reply)) == reply
    assert written_text(Post("1", "@bob @carol", in_reply_to_post_id="0")) == ""


@pytest.mark.parametrize(
    "text", ["@mentionbot", "@mentionbot @someone", "@mentionbot \u200b\u202e "]
)
def test_a_post_that_is_only_handles_asks_nothing(s: Session, text: str) -> None:
    gate = Gate(s)
    verdict = gate(new_author("Premium"), text=text)
    assert (verdict.accepted, verdict.decision, verdict.quota_taken) == (False, "empty", False)


def test_a_bare_mention_under_a_post_asks_about_that_post(s: Session) -> None:
    # "@grok" alone under a post is a question about the post: the thread carries it.
    verdict = Gate(s)(new_author("Premium"), text="@mentionbot", in_reply_to=new_post_id())
    assert verdict.accepted


def test_a_tier_out_of_tokens_is_ignored_and_takes_no_quota_unit(s: Session) -> None:
    force_policy(s, "premium", daily_token_budget=1000)
    gate, prem = Gate(s), new_author("Premium")
    uid = user_of(s, prem).id
    quotas.add_tier_tokens(s, Tier.PREMIUM, 999, NOW)
    assert gate(prem).decision == "accepted"  # one token left is not spent
    assert units_used(s, uid, "hour", NOW) == 1
    quotas.add_tier_tokens(s, Tier.PREMIUM, 1, NOW)
    out = gate(prem)
    assert (out.accepted, out.decision, out.tier, out.quota_taken) == (
        False,
        "token_budget",
        "premium",
        False,
    )
    stored = s.execute(
        select(Mention.status, Mention.quota_at).where(Mention.id == gate.last_id)
    ).one()
    assert (stored.status, stored.quota_at) == (MentionStatus.IGNORED, None)
    assert (units_used(s, uid, "hour", NOW), units_used(s, uid, "day", NOW)) == (1, 1)
    # Per tier: premium_plus has no budget and goes on; premium's next UTC day starts at 0.
    assert gate(new_author("PremiumPlus")).decision == "accepted"
    midnight = NOW.replace(hour=0, minute=0) + timedelta(days=1)
    assert gate(prem, now=midnight - timedelta(seconds=1)).decision == "token_budget"
    assert gate(prem, now=midnight).decision == "accepted"
    # Raising the budget (or removing it: 0) lets today's mentions through again.
    force_policy(s, "premium", daily_token_budget=0)
    assert gate(prem).decision == "accepted"


def test_no_budget_means_no_extra_query_in_decide(s: Session) -> None:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def queries(budget: int) -> list[str]:
        force_policy(s, "premium", daily_token_budget=budget)
        account = new_author("Premium")
        row = user_of(s, account)
        post = Post(new_post_id(), "@mentionbot hi?", author_id=account.platform_id)
        policies = tiers.policies(s)
        statements.clear()
        event.listen(s.connection(), "before_cursor_execute", seen)
        try:
            decision = decide(s, post, account, row, BOT, GatingRules(), policies, NOW)
        finally:
            event.remove(s.connection(), "before_cursor_execute", seen)
        assert decision.decision == "accepted"
        return list(statements)

    without, with_budget = queries(0), queries(10**6)
    assert not any("rate_counters.used" in q and "SELECT" in q for q in without)
    assert len(with_budget) == len(without) + 1
    assert "rate_counters" in "".join(set(with_budget) - set(without))
