"""A page decided at once (ingest) gives every mention the decision decide() gives it one by one.

The state before the page has something for every rule: a blocked and a granted account,
counters one unit short of the hour and of the day, a tier whose token budget is spent, an
account cooling down, another near the loop limit, a thread near its cap, an answered edit
chain, a restricted conversation whose root is stored and one whose root is not, a free
user who had an upsell this month. Each page is drawn (seeded) from those accounts and
conversations, so mentions of one page meet each other: two mentions of one user race for
the last unit, an edit follows its answered original, a root arrives before its replies.
The page is stored, its outcome read and rolled back; then the same page is decided one
mention at a time with decide() in page order, and both outcomes must be equal: decisions,
tiers, quota stamps, every counter, every upsell and cool-down stamp.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.mentions.gating import GatingRules, decide
from bot.mentions.ingest import ingest, insert_mention, upsert_author
from bot.mentions.schema import Mention, PlatformUser
from bot.platform.protocol import Author, Post
from bot.subscribers import quotas, tiers
from bot.subscribers.schema import RateCounter
from bot.vocab import Decision, EffectiveTier, MentionStatus, OverrideAction, Tier
from tests.fixtures.factories.mentions import BOT, NOW, add_mention, new_author, new_post_id
from tests.fixtures.factories.subscribers import force_policy

RULES = GatingRules(thread_cap=3, loop_max_per_minute=3, loop_cooldown_s=600, spam_max_mentions=4)
PAGES = 12
PAGE_SIZE = 60
HOUR = timedelta(hours=1)


@pytest.fixture()
def s(db: sessionmaker[Session]) -> Iterator[Session]:
    with db() as session:
        yield session


@dataclass
class World:
    """The accounts and conversations a page is drawn from, with the state set up for them."""

    authors: dict[str, Author] = field(default_factory=dict)
    kinds: dict[str, list[str]] = field(default_factory=dict)  # kind -> platform ids
    convs: dict[str, str] = field(default_factory=dict)  # name -> conversation id
    answered_root: str = ""

    def add(self, s: Session, kind: str, sub: str | None, n: int = 1) -> list[int]:
        rows = []
        for _ in range(n):
            author = new_author(sub)
            self.authors[author.platform_id] = author
            self.kinds.setdefault(kind, []).append(author.platform_id)
            rows.append(upsert_author(s, author))
        return rows


def _world(s: Session) -> World:
    w = World()
    force_policy(s, "premium", replies_per_hour=3, replies_per_day=5)
    # basic is answered here, with its day's token budget spent.
    force_policy(s, "basic", answered=True, daily_token_budget=100)
    quotas.add_tier_tokens(s, Tier.BASIC, 100, NOW)
    w.add(s, "premium", "Premium", 6)
    w.add(s, "plus", "PremiumPlus", 2)
    w.add(s, "basic", "Basic", 2)
    w.add(s, "free", None, 3)
    (late,) = w.add(s, "free_upsold", None)
    s.get_one(PlatformUser, late).last_upsell_at = NOW - timedelta(days=3)
    (blocked,) = w.add(s, "blocked", "PremiumPlus")
    tiers.add_override(s, blocked, OverrideAction.BLOCK, "abuse", "test")
    (granted,) = w.add(s, "granted", None)
    tiers.add_override(s, granted, OverrideAction.GRANT, "vip", "test", tier="premium")
    (hour_short,) = w.add(s, "hour_short", "Premium")
    _counter(s, hour_short, "hour", 2)  # one unit left this hour
    (day_short,) = w.add(s, "day_short", "Premium")
    _counter(s, day_short, "day", 4)  # one unit left today
    (cooling,) = w.add(s, "cooling", "Premium")
    s.get_one(PlatformUser, cooling).cooldown_until = NOW + timedelta(minutes=5)
    (looper,) = w.add(s, "looper", "Premium")
    w.convs = {name: new_post_id() for name in ("loop", "busy", "open", "closed", "late_root")}
    for _ in range(2):  # one short of the loop limit, a minute's window
        add_mention(s, looper, conversation_id=w.convs["loop"], received_at=NOW)
    (other,) = w.add(s, "other", "Premium")
    for _ in range(2):  # one short of the thread cap
        busy: dict[str, Any] = {"conversation_id": w.convs["busy"], "decision": "accepted"}
        add_mention(s, other, status=MentionStatus.QUEUED, received_at=NOW - HOUR, **busy)
    add_mention(s, other, w.convs["open"], received_at=NOW - timedelta(hours=2))
    w.answered_root = add_mention(s, other, received_at=NOW - timedelta(hours=3)).platform_post_id
    s.flush()
    return w


def _counter(s: Session, user_id: int, window: str, used: int) -> None:
    window_s = quotas.HOUR if window == "hour" else quotas.DAY
    s.add(
        RateCounter(
            key=quotas.user_key(user_id, window),
            window_start=quotas.window_start(NOW, window_s),
            used=used,
        )
    )


def _page(w: World, rng: random.Random) -> list[Post]:
    """A page of new posts, in id order, drawn from the world."""
    posts: list[Post] = []
    for _ in range(PAGE_SIZE):
        kind = rng.choice(sorted(w.kinds))
        pid = rng.choice(w.kinds[kind])
        posts.append(_post(w, rng, pid, posts))
    return posts


def _post(w: World, rng: random.Random, author_id: str, earlier: list[Post]) -> Post:
    post_id = new_post_id()
    text = rng.choice(["@mentionbot is this true?", "@mentionbot why?", "@mentionbot hm"])
    fields: dict[str, Any] = {"conversation_id": post_id}
    roll = rng.random()
    if roll < 0.06:
        author_id = BOT
    elif roll < 0.10:
        fields["repost_of"] = new_post_id()
    elif roll < 0.16:  # an edit of an answered post, or of one earlier in the page
        root = rng.choice([w.answered_root, *[p.id for p in earlier[-5:]]])
        fields["edit_root"] = root
    elif roll < 0.24:  # a reply in a conversation that limits who may reply
        root = rng.choice([w.convs["open"], w.convs["closed"], *[p.id for p in earlier[-5:]]])
        fields.update(conversation_id=root, in_reply_to_post_id=root, reply_settings="following")
    elif roll < 0.28:
        author_id = str(9_000_000 + rng.randrange(3))  # not among the page's authors
    elif roll < 0.31:
        text = "@mentionbot \u200b "
    elif roll < 0.33:
        text = "@mentionbot " + "x" * 25_001
    elif roll < 0.37:
        text = "@mentionbot " + " ".join(f"@u{i}" for i in range(6)) + " look"
    elif roll < 0.55:
        fields["conversation_id"] = w.convs[rng.choice(["loop", "busy", "late_root"])]
        fields["in_reply_to_post_id"] = fields["conversation_id"]
    return Post(post_id, text, author_id, created_at=NOW, **fields)


Outcome = tuple[
    dict[str, tuple[Decision, EffectiveTier | None, bool]],
    dict[tuple[str, Any], int],
    dict[str, Any],
]


def _outcome(s: Session, posts: list[Post]) -> Outcome:
    rows = s.execute(
        select(Mention.platform_post_id, Mention.decision, Mention.tier, Mention.quota_at).where(
            Mention.platform_post_id.in_([p.id for p in posts])
        )
    ).tuples()
    mentions = {
        pid: (decision, tier, quota_at is not None) for pid, decision, tier, quota_at in rows
    }
    counters = {
        (key, start): used
        for key, start, used in s.execute(
            select(RateCounter.key, RateCounter.window_start, RateCounter.used)
        ).tuples()
    }
    users = {  # by platform id: a placeholder row gets a new id each time
        pid: (upsell, cool)
        for pid, upsell, cool in s.execute(
            select(
                PlatformUser.platform_id, PlatformUser.last_upsell_at, PlatformUser.cooldown_until
            )
        ).tuples()
    }
    return mentions, counters, users


def _one_by_one(s: Session, posts: list[Post], authors: dict[str, Author]) -> None:
    """The reference: each mention decided alone, in page order, as the listener once did."""
    policies = tiers.policies(s)
    for post in posts:
        known = authors.get(post.author_id or "")
        pid = post.author_id or "0"
        row = upsert_author(s, known or Author(platform_id=pid, username=f"id{pid}"))
        user = s.get(PlatformUser, row, populate_existing=True) if known else None
        decision = decide(s, post, known, user, BOT, RULES, policies, NOW)
        assert insert_mention(s, post, row, decision, NOW) is not None


def _both(s: Session, posts: list[Post], authors: dict[str, Author]) -> tuple[Outcome, Outcome]:
    savepoint = s.begin_nested()
    ingest(s, posts, authors, BOT, RULES, now=NOW)
    by_page = _outcome(s, posts)
    savepoint.rollback()
    savepoint = s.begin_nested()
    _one_by_one(s, posts, authors)
    by_one = _outcome(s, posts)
    savepoint.rollback()
    return by_page, by_one


def test_a_page_decides_every_mention_as_one_by_one(s: Session) -> None:
    w = _world(s)
    seen: Counter[str] = Counter()
    for seed in range(PAGES):
        posts = _page(w, random.Random(seed))
        by_page, by_one = _both(s, posts, w.authors)
        assert by_page[0] == by_one[0], f"seed {seed}: decisions differ"
        assert by_page[1] == by_one[1], f"seed {seed}: counters differ"
        assert by_page[2] == by_one[2], f"seed {seed}: upsell or cool-down stamps differ"
        assert len(by_page[0]) == len(posts)
        seen.update(decision for decision, _, _ in by_page[0].values())
    assert set(seen) == set(Decision), f"not covered: {set(Decision) - set(seen)}"


def test_two_mentions_of_one_user_race_for_the_last_unit(s: Session) -> None:
    w = _world(s)
    for kind, second in (("hour_short", "quota_hour"), ("day_short", "quota_day")):
        (pid,) = w.kinds[kind]
        posts = [Post(new_post_id(), "@mentionbot one?", pid, created_at=NOW) for _ in range(2)]
        by_page, by_one = _both(s, posts, w.authors)
        assert by_page == by_one
        assert [by_page[0][p.id][0] for p in posts] == ["accepted", second]


def test_a_page_stores_only_the_posts_it_has_not_stored(s: Session) -> None:
    w = _world(s)
    pid = w.kinds["premium"][0]
    posts = [Post(new_post_id(), "@mentionbot a?", pid, created_at=NOW) for _ in range(3)]
    first = ingest(s, posts[:2], w.authors, BOT, RULES, now=NOW)
    again = ingest(s, posts, w.authors, BOT, RULES, now=NOW)
    assert (first.new, again.new, again.fetched) == (2, 1, 3)
    assert again.decisions == Counter({"accepted": 1})
