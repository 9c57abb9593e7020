"""decide(), tiers and the quota counters on real Postgres, every test rolled back.

The clock is always passed in (`now`), so window boundaries, override expiry, upsell periods
and loop cool-downs are exact; only the `ingest` tests use the listener's own clock, and they
decide a whole batch with one `now`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import quotas, tiers
from bot.gating import MAX_MENTION_CHARS, REASONS, Decision, GatingRules, decide
from bot.listener import _insert_mention, ingest, upsert_author
from bot.platform import Author, Post
from bot.replies import fail_mention, fail_reply
from bot.schema import (
    Mention,
    MentionStatus,
    PlatformUser,
    RateCounter,
    Reply,
    ReplyStatus,
    TierOverride,
    TierPolicy,
)
from bot.tiers import policies

BOT = "1000"
NOW = datetime(2031, 3, 10, 10, 30, tzinfo=UTC)
_post_ids = itertools.count(1)
_user_ids = itertools.count(1)


def _post_id() -> str:
    return str(10**15 + next(_post_ids))


@pytest.fixture()
def s(db: sessionmaker[Session]) -> Iterator[Session]:
    """One session inside the test's rolled-back transaction."""
    with db() as session:
        yield session


def _author(sub: str | None = "Premium", name: str | None = None) -> Author:
    n = next(_user_ids)
    return Author(
        platform_id=str(7_000_000 + n), username=name or f"user{n}", subscription_type=sub
    )


def _set_policy(s: Session, tier: str, **values: Any) -> None:
    s.execute(update(TierPolicy).where(TierPolicy.tier == tier).values(**values))


def _user(s: Session, author: Author) -> PlatformUser:
    uid = upsert_author(s, author)
    user = s.get(PlatformUser, uid, populate_existing=True)
    assert user is not None
    return user


class Gate:
    """Decides and records mentions the way the listener does, with an explicit clock."""

    def __init__(self, s: Session, rules: GatingRules | None = None) -> None:
        self.s = s
        self.rules = rules or GatingRules()
        self.last_id = 0

    def __call__(
        self,
        author: Author,
        now: datetime = NOW,
        text: str = "@mentionbot what is the weather like?",
        conversation: str | None = None,
    ) -> Decision:
        post = Post(
            id=_post_id(), text=text, author_id=author.platform_id, conversation_id=conversation
        )
        user = _user(self.s, author)
        decision = decide(self.s, post, author, user, BOT, self.rules, policies(self.s), now)
        mention_id = _insert_mention(self.s, post, user.id, decision, now)
        assert mention_id is not None
        self.last_id = mention_id
        stored = self.s.execute(
            select(Mention.reason, Mention.tier, Mention.quota_at).where(Mention.id == mention_id)
        ).one()
        assert stored.reason == decision.reason and stored.tier == decision.tier
        assert (stored.quota_at is not None) == decision.quota_taken
        return decision

    def reasons(self, author: Author, times: list[datetime], **kw: Any) -> list[str]:
        return [self(author, now=t, **kw).reason for t in times]


def _used(s: Session, user_id: int, window: str, now: datetime) -> int:
    """A user's counter in the window holding `now` (read fresh, not from the identity map)."""
    window_s = quotas.HOUR if window == "hour" else quotas.DAY
    used = s.scalar(
        select(RateCounter.used).where(
            RateCounter.key == quotas.user_key(user_id, window),
            RateCounter.window_start == quotas.window_start(now, window_s),
        )
    )
    return int(used or 0)


def _total_used(s: Session, user_id: int, window: str) -> int:
    total = s.scalar(
        select(func.sum(RateCounter.used)).where(
            RateCounter.key == quotas.user_key(user_id, window)
        )
    )
    return int(total or 0)


def _metric(reason: str) -> float:
    return REGISTRY.get_sample_value("mentionbot_decisions_total", {"reason": reason}) or 0.0


# ---------------------------------------------------------------------------------------------
# every reason code, produced and recorded by the listener's ingest


def test_every_reason_code_is_produced_and_recorded(s: Session) -> None:
    # premium: one an hour (then quota_hour); premium_plus: one a day (then quota_day).
    _set_policy(s, "premium", replies_per_hour=1, replies_per_day=100)
    _set_policy(s, "premium_plus", replies_per_hour=100, replies_per_day=1)
    prem, plus, free = _author("Premium"), _author("PremiumPlus"), _author(None, "freebie")
    blocked, spammer, looper = _author("Premium"), _author("Premium"), _author("Premium")
    t1, t2, t3, t4 = (_author("PremiumPlus") for _ in range(4))
    tiers.block(s, upsert_author(s, blocked), note="abuse", actor="test")
    authors = {a.platform_id: a for a in (prem, plus, free, blocked, spammer, looper)}
    authors.update({a.platform_id: a for a in (t1, t2, t3, t4)})
    expected: list[tuple[Post, str]] = []

    def post(author_id: str, reason: str, text: str = "@mentionbot hi?", conv: str = "") -> None:
        expected.append(
            (Post(_post_id(), text, author_id=author_id, conversation_id=conv or None), reason)
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
    # loop_max_per_minute=2: the third mention within a minute in one conversation cools down.
    post(looper.platform_id, "accepted", conv="c-loop")
    post(looper.platform_id, "quota_hour", conv="c-loop")
    post(looper.platform_id, "loop", conv="c-loop")
    before = {r: _metric(r) for r in REASONS}

    result = ingest(s, [p for p, _ in expected], authors, BOT, GatingRules(loop_max_per_minute=2))

    stored = {
        row.platform_post_id: row
        for row in s.execute(select(Mention.platform_post_id, Mention.reason, Mention.status))
    }
    assert {p.id: stored[p.id].reason for p, _ in expected} == {p.id: r for p, r in expected}
    assert {r for _, r in expected} == set(REASONS)
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
    upsell = s.scalars(select(Reply).where(Reply.id == result.upsells[0])).one()
    assert "freebie" in upsell.text and upsell.model == "upsell"
    # Counted in metrics, once per recorded decision.
    counts = {r: sum(1 for _, e in expected if e == r) for r in REASONS}
    assert {r: _metric(r) - before[r] for r in REASONS} == counts


def test_decisions_record_the_tier_and_priority(s: Session) -> None:
    gate = Gate(s)
    plus, prem = gate(_author("PremiumPlus")), gate(_author("Premium"))
    assert (plus.accepted, plus.tier, plus.priority) == (True, "premium_plus", 0)
    assert (prem.accepted, prem.tier, prem.priority) == (True, "premium", 3)
    assert plus.quota_taken and prem.quota_taken
    stored = s.execute(select(Mention.priority).where(Mention.id == gate.last_id)).scalar_one()
    assert stored == 3


# ---------------------------------------------------------------------------------------------
# tiers: X's subscription_type and operator overrides


@pytest.mark.parametrize(
    ("subscription_type", "tier", "reason"),
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
    s: Session, subscription_type: str | None, tier: str, reason: str
) -> None:
    assert tiers.tier_from_subscription(subscription_type) == tier
    decision = Gate(s)(_author(subscription_type))
    assert (decision.tier, decision.reason) == (tier, reason)


class _Log:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.warnings.append((event, kw))


def test_unknown_subscription_type_is_none_and_logged_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = _Log()
    monkeypatch.setattr(tiers, "log", log)
    monkeypatch.setattr(tiers, "_warned", set())
    for _ in range(3):
        assert tiers.tier_from_subscription("Gold") == "none"
    assert tiers.tier_from_subscription("Diamond") == "none"
    assert tiers.tier_from_subscription("Premium") == "premium"
    assert [kw["value"] for _, kw in log.warnings] == ["Gold", "Diamond"]
    assert {event for event, _ in log.warnings} == {"tiers.unknown_subscription_type"}


def test_a_grant_with_expiry_holds_until_its_end_then_the_platform_tier_is_back(
    s: Session,
) -> None:
    gate = Gate(s)
    free = _author(None)
    uid = upsert_author(s, free)
    until = NOW + timedelta(days=1)
    tiers.grant(s, uid, "premium", until, note="trial", actor="ops")
    assert tiers.effective_tier(s, _user(s, free), NOW) == "premium"
    assert gate(free, now=NOW).reason == "accepted"
    last = gate(free, now=until - timedelta(seconds=1))
    assert (last.reason, last.tier) == ("accepted", "premium")
    expired = gate(free, now=until)
    assert (expired.reason, expired.tier) == ("upsell", "none")
    assert gate(free, now=until + timedelta(hours=1)).reason == "not_subscribed"

    # A grant upgrades a paying user too; the newest active override wins; revoking ends it.
    prem = _author("Premium")
    pid = upsert_author(s, prem)
    tiers.grant(s, pid, "premium_plus", None, note="partner", actor="ops")
    assert (gate(prem).tier, gate(prem).priority) == ("premium_plus", 0)
    assert tiers.revoke(s, pid, "grant", actor="ops") == 1
    assert gate(prem).tier == "premium"
    # History is kept: the grant is still there, marked revoked by whom.
    rows = s.scalars(select(TierOverride).where(TierOverride.user_id == pid)).all()
    assert [(r.action, r.tier, r.revoked_by) for r in rows] == [("grant", "premium_plus", "ops")]
    with pytest.raises(ValueError, match="unknown tier"):
        tiers.grant(s, pid, "gold", None, note="", actor="ops")


def test_block_and_unblock(s: Session) -> None:
    gate = Gate(s)
    prem = _author("Premium")
    uid = upsert_author(s, prem)
    tiers.block(s, uid, note="harassment", actor="ops")
    blocked = gate(prem)
    assert (blocked.accepted, blocked.reason, blocked.tier) == (False, "blocked", "blocked")
    assert _used(s, uid, "hour", NOW) == 0  # a blocked mention takes no quota
    assert tiers.revoke(s, uid, "block", actor="ops") == 1
    assert gate(prem).reason == "accepted"
    assert tiers.revoke(s, uid, "block", actor="ops") == 0

    # A block with an end date lapses by itself.
    tiers.block(s, uid, note="cool off", actor="ops", until=NOW + timedelta(hours=2))
    assert gate(prem, now=NOW + timedelta(hours=1)).reason == "blocked"
    assert gate(prem, now=NOW + timedelta(hours=2)).reason == "accepted"


# ---------------------------------------------------------------------------------------------
# quota windows


def test_windows_are_aligned_to_utc() -> None:
    assert quotas.window_start(datetime(2031, 3, 10, 10, 59, 59, 999999, UTC), quotas.HOUR) == (
        datetime(2031, 3, 10, 10, tzinfo=UTC)
    )
    assert quotas.window_start(datetime(2031, 3, 10, 11, tzinfo=UTC), quotas.HOUR) == (
        datetime(2031, 3, 10, 11, tzinfo=UTC)
    )
    # A day is midnight to midnight UTC, whatever zone the clock value carries.
    tokyo = timezone(timedelta(hours=9))
    assert quotas.window_start(datetime(2031, 3, 11, 8, 59, tzinfo=tokyo), quotas.DAY) == (
        datetime(2031, 3, 10, tzinfo=UTC)
    )
    assert quotas.window_start(datetime(2031, 3, 11, 9, 0, tzinfo=tokyo), quotas.DAY) == (
        datetime(2031, 3, 11, tzinfo=UTC)
    )


def test_hour_window_rolls_over_to_a_fresh_count(s: Session) -> None:
    _set_policy(s, "premium", replies_per_hour=2, replies_per_day=100)
    gate, prem = Gate(s), _author("Premium")
    end = datetime(2031, 3, 10, 10, 59, 59, 500000, UTC)
    assert gate.reasons(prem, [end, end, end]) == ["accepted", "accepted", "quota_hour"]
    uid = _user(s, prem).id
    assert (_used(s, uid, "hour", end), _used(s, uid, "day", end)) == (2, 2)
    start = datetime(2031, 3, 10, 11, tzinfo=UTC)
    assert _used(s, uid, "hour", start) == 0
    assert gate.reasons(prem, [start, start, start]) == ["accepted", "accepted", "quota_hour"]
    assert (_used(s, uid, "hour", start), _used(s, uid, "hour", end)) == (2, 2)
    assert _used(s, uid, "day", start) == 4


def test_day_window_rolls_over_and_quota_day_gives_the_hour_unit_back(s: Session) -> None:
    _set_policy(s, "premium", replies_per_hour=100, replies_per_day=2)
    gate, prem = Gate(s), _author("Premium")
    end = datetime(2031, 3, 10, 23, 59, 59, tzinfo=UTC)
    assert gate.reasons(prem, [end - timedelta(hours=3), end, end]) == [
        "accepted",
        "accepted",
        "quota_day",
    ]
    uid = _user(s, prem).id
    assert _used(s, uid, "day", end) == 2
    assert _used(s, uid, "hour", end) == 1  # the refused mention's hour unit went back
    midnight = datetime(2031, 3, 11, tzinfo=UTC)
    assert _used(s, uid, "day", midnight) == 0
    assert gate.reasons(prem, [midnight] * 3) == ["accepted", "accepted", "quota_day"]
    assert (_used(s, uid, "day", midnight), _used(s, uid, "hour", midnight)) == (2, 2)


def test_take_with_no_budget_hands_out_nothing(s: Session) -> None:
    assert not quotas.take(s, "test:zero", quotas.HOUR, 0, NOW)
    assert quotas.take(s, "test:one", quotas.HOUR, 1, NOW)
    assert not quotas.take(s, "test:one", quotas.HOUR, 1, NOW)
    quotas.give_back(s, "test:one", quotas.HOUR, NOW)
    quotas.give_back(s, "test:one", quotas.HOUR, NOW)  # never below zero
    assert quotas.used(s, "test:one", quotas.HOUR, NOW) == 0


def test_an_answered_tier_with_no_budget_is_quota_hour(s: Session) -> None:
    _set_policy(s, "premium", replies_per_hour=0)
    assert Gate(s)(_author("Premium")).reason == "quota_hour"


# ---------------------------------------------------------------------------------------------
# refunds


def test_refund_gives_the_unit_back_once(s: Session) -> None:
    gate, prem = Gate(s), _author("Premium")
    gate(prem)
    first = gate.last_id
    gate(prem)
    uid = _user(s, prem).id
    assert (_used(s, uid, "hour", NOW), _used(s, uid, "day", NOW)) == (2, 2)
    assert quotas.refund(s, first)
    assert (_used(s, uid, "hour", NOW), _used(s, uid, "day", NOW)) == (1, 1)
    assert not quotas.refund(s, first)  # a second refund is a no-op
    assert (_used(s, uid, "hour", NOW), _used(s, uid, "day", NOW)) == (1, 1)
    assert s.scalar(select(Mention.quota_at).where(Mention.id == first)) is None
    # Nothing to give back for a mention that took no unit, or one that does not exist.
    gate(_author(None))
    assert not quotas.refund(s, gate.last_id)
    assert not quotas.refund(s, 10**9)


def test_a_late_refund_goes_back_to_the_window_it_came_from(s: Session) -> None:
    _set_policy(s, "premium", replies_per_hour=1, replies_per_day=100)
    gate, prem = Gate(s), _author("Premium")
    before = datetime(2031, 3, 10, 10, 59, 59, tzinfo=UTC)
    after = datetime(2031, 3, 10, 11, 0, 1, tzinfo=UTC)
    gate(prem, now=before)
    early = gate.last_id
    assert gate.reasons(prem, [after, after]) == ["accepted", "quota_hour"]
    assert quotas.refund(s, early)
    uid = _user(s, prem).id
    assert (_used(s, uid, "hour", before), _used(s, uid, "hour", after)) == (0, 1)
    assert gate(prem, now=after).reason == "quota_hour"  # the new window is still full
    assert _used(s, uid, "day", after) == 1


def test_fail_mention_and_fail_reply_refund_once(db: sessionmaker[Session], s: Session) -> None:
    gate, prem = Gate(s), _author("Premium")
    ids = []
    for _ in range(3):
        assert gate(prem).accepted
        ids.append(gate.last_id)
    uid = _user(s, prem).id
    reply = Reply(
        mention_id=ids[2],
        text="an answer",
        status=ReplyStatus.APPROVED,
        model="tiny",
        moderation="post",
        created_at=NOW,
        approved_at=NOW,
    )
    s.add(reply)
    s.commit()  # a savepoint: the services below run their own sessions on this connection

    fail_mention(db, ids[0], "llm_rejected", "model refused")
    assert (_used(s, uid, "hour", NOW), _used(s, uid, "day", NOW)) == (2, 2)
    fail_mention(db, ids[0], "llm_rejected")
    assert (_used(s, uid, "hour", NOW), _used(s, uid, "day", NOW)) == (2, 2)
    status = s.scalar(select(Mention.status).where(Mention.id == ids[0]))
    assert status == MentionStatus.FAILED

    fail_reply(db, reply.id, "platform_refused", "403")
    assert (_used(s, uid, "hour", NOW), _used(s, uid, "day", NOW)) == (1, 1)
    fail_reply(db, reply.id, "platform_refused")
    assert (_used(s, uid, "hour", NOW), _used(s, uid, "day", NOW)) == (1, 1)
    assert s.scalar(select(Reply.status).where(Reply.id == reply.id)) == ReplyStatus.POST_FAILED
    # The mention nobody failed keeps its unit.
    assert s.scalar(select(Mention.quota_at).where(Mention.id == ids[1])) is not None


# ---------------------------------------------------------------------------------------------
# upsell, conversation cap, loops


def test_the_upsell_is_sent_at_most_once_per_period(s: Session) -> None:
    _set_policy(s, "none", upsell_every_days=30)
    gate, free = Gate(s), _author(None)
    times = [
        NOW,
        NOW + timedelta(hours=1),
        NOW + timedelta(days=29, hours=23),
        NOW + timedelta(days=30, seconds=1),
        NOW + timedelta(days=31),
    ]
    assert gate.reasons(free, times) == [
        "upsell",
        "not_subscribed",
        "not_subscribed",
        "upsell",
        "not_subscribed",
    ]
    uid = _user(s, free).id
    assert _total_used(s, uid, "hour") == 0  # unanswered tiers take no quota
    # Basic is not answered either; a shorter period; no text means no upsell at all.
    _set_policy(s, "basic", upsell_every_days=7)
    basic = _author("Basic")
    week = [NOW, NOW + timedelta(days=6), NOW + timedelta(days=7, seconds=1)]
    assert gate.reasons(basic, week) == ["upsell", "not_subscribed", "upsell"]
    _set_policy(s, "none", upsell_text=None)
    assert gate(_author(None)).reason == "not_subscribed"


def test_upsell_period_is_per_user(s: Session) -> None:
    gate = Gate(s)
    assert [gate(_author(None)).reason for _ in range(3)] == ["upsell"] * 3


def test_conversation_cap_defaults_to_three(s: Session) -> None:
    assert GatingRules().thread_cap == 3
    gate = Gate(s)
    users = [_author("Premium") for _ in range(5)]
    reasons = [gate(u, conversation="c1").reason for u in users[:4]]
    assert reasons == ["accepted", "accepted", "accepted", "thread_cap"]
    assert _total_used(s, _user(s, users[3]).id, "hour") == 0  # no quota for a capped one
    assert gate(users[3], conversation="c2").reason == "accepted"
    # A failed mention got no reply: it no longer counts against the thread.
    first = s.scalar(
        select(Mention.id).where(Mention.conversation_id == "c1").order_by(Mention.id).limit(1)
    )
    s.execute(update(Mention).where(Mention.id == first).values(status=MentionStatus.FAILED))
    assert gate(users[4], conversation="c1").reason == "accepted"
    assert gate(users[4], conversation="c1").reason == "thread_cap"
    # Answered mentions (reason rewritten to "answered") still count.
    s.execute(
        update(Mention)
        .where(Mention.conversation_id == "c1", Mention.reason == "accepted")
        .values(status=MentionStatus.ANSWERED, reason="answered")
    )
    assert gate(_author("Premium"), conversation="c1").reason == "thread_cap"
    assert Gate(s, GatingRules(thread_cap=10))(users[0], conversation="c1").reason == "accepted"


def test_loop_cools_the_account_down(s: Session) -> None:
    rules = GatingRules(loop_max_per_minute=3, loop_cooldown_s=600, thread_cap=100)
    gate, bot2 = Gate(s, rules), _author("Premium")
    burst = [NOW + timedelta(seconds=10 * i) for i in range(4)]
    assert gate.reasons(bot2, burst, conversation="c-loop") == ["accepted"] * 3 + ["loop"]
    until = burst[3] + timedelta(seconds=600)
    assert (
        s.scalar(
            select(PlatformUser.cooldown_until).where(PlatformUser.platform_id == bot2.platform_id)
        )
        == until
    )
    # Cooled down everywhere, not just in that conversation, until cooldown_until.
    assert gate(bot2, now=NOW + timedelta(minutes=5), conversation="c-other").reason == "loop"
    assert gate(bot2, now=until - timedelta(seconds=1)).reason == "loop"
    # Another account in the same conversation is not affected.
    assert gate(_author("Premium"), now=burst[3], conversation="c-loop").reason == "accepted"
    assert gate(bot2, now=until, conversation="c-loop").reason == "accepted"


def test_mentions_spread_out_do_not_count_as_a_loop(s: Session) -> None:
    rules = GatingRules(loop_max_per_minute=2, thread_cap=100)
    gate, user = Gate(s, rules), _author("PremiumPlus")
    spaced = [NOW + timedelta(seconds=30 * i) for i in range(6)]
    assert gate.reasons(user, spaced, conversation="c-slow") == ["accepted"] * 6
    # Without a conversation there is nothing to count.
    assert gate.reasons(user, [NOW] * 4) == ["accepted"] * 4


# ---------------------------------------------------------------------------------------------
# the listener's overlap re-read


def _posts(author: Author, n: int) -> list[Post]:
    return [Post(_post_id(), "@mentionbot hi?", author_id=author.platform_id) for _ in range(n)]


def test_a_stored_mention_is_not_decided_again(s: Session) -> None:
    _set_policy(s, "premium", replies_per_hour=3, replies_per_day=100)
    prem = _author("Premium")
    authors = {prem.platform_id: prem}
    p1, p2, p3, p4, p5 = _posts(prem, 5)
    first = ingest(s, [p1, p2], authors, BOT)
    assert (first.new, len(first.accepted)) == (2, 2)
    uid = _user(s, prem).id
    assert (_total_used(s, uid, "hour"), _total_used(s, uid, "day")) == (2, 2)
    again = ingest(s, [p1, p2, p3, p4], authors, BOT)
    assert (again.fetched, again.new, len(again.accepted), again.ignored) == (4, 2, 1, 1)
    assert (_total_used(s, uid, "hour"), _total_used(s, uid, "day")) == (3, 3)
    # The overlap once more: nothing new, nothing taken, the stored decisions stand.
    third = ingest(s, [p2, p3, p4], authors, BOT)
    assert (third.new, third.accepted) == (0, [])
    assert (_total_used(s, uid, "hour"), _total_used(s, uid, "day")) == (3, 3)
    rows = s.execute(
        select(Mention.platform_post_id, Mention.reason).where(Mention.author_id == uid)
    ).tuples()
    reasons = {post_id: reason for post_id, reason in rows}
    assert reasons == {p1.id: "accepted", p2.id: "accepted", p3.id: "accepted", p4.id: "quota_hour"}
    # The same post twice in one batch (as when another listener stored it first): the
    # duplicate is decided, but its decision and its unit are rolled back with the insert.
    for post in (p1, p2):
        mention_id = s.scalar(select(Mention.id).where(Mention.platform_post_id == post.id))
        assert mention_id is not None and quotas.refund(s, mention_id)
    twice = ingest(s, [p5, p5], authors, BOT)
    assert (twice.new, len(twice.accepted)) == (1, 1)
    assert (_total_used(s, uid, "hour"), _total_used(s, uid, "day")) == (2, 2)
