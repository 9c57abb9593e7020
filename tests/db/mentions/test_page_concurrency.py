"""Pages under real concurrency: listeners (threads, one connection each) released together,
ingesting overlapping pages of the same users on real Postgres and committing.

Each listener's pages hold mentions of a handful of premium users, and half of every page
is also in another listener's page (two listeners reading the same timeline). Afterwards no
user has more accepted mentions in the hour than the tier allows, every counter equals the
accepted mentions it counts, and every post is stored once.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.mentions.gating import GatingRules
from bot.mentions.ingest import ingest, upsert_authors
from bot.mentions.schema import Mention
from bot.platform.protocol import Author, Post
from bot.subscribers import quotas
from bot.subscribers.schema import RateCounter
from bot.subscribers.tiers import policies
from bot.vocab import Decision, Tier

LISTENERS = 8
PAGES = 4
PAGE = 40
USERS = 6
RULES = GatingRules(thread_cap=10**6, loop_max_per_minute=10**6)


def test_concurrent_pages_never_pass_a_quota_nor_store_a_post_twice(
    committed_db: sessionmaker[Session],
) -> None:
    authors = {
        f"88{i}": Author(f"88{i}", f"racer{i}", subscription_type="Premium") for i in range(USERS)
    }
    with committed_db.begin() as s:
        limit = policies(s)[Tier.PREMIUM].replies_per_hour
        upsert_authors(s, list(authors.values()))  # seen before: the pages lock no row
    ids = itertools.count(3 * 10**17)
    # Listener k's page j shares its first half with listener k+1's page j.
    pages = [
        [[str(next(ids)) for _ in range(PAGE)] for _ in range(PAGES)] for _ in range(LISTENERS)
    ]
    for k in range(LISTENERS):
        for j in range(PAGES):
            pages[(k + 1) % LISTENERS][j][: PAGE // 2] = pages[k][j][PAGE // 2 :]
    start = threading.Barrier(LISTENERS)
    errors: list[BaseException] = []
    new: Counter[int] = Counter()

    def listen(k: int) -> None:
        rng = random.Random(k)
        try:
            start.wait(30)
            for j in range(PAGES):
                posts = [
                    Post(pid, "@mentionbot race?", rng.choice(sorted(authors)))
                    for pid in pages[k][j]
                ]
                with committed_db.begin() as s:
                    new[k] += ingest(s, posts, authors, "1", RULES).new
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=listen, args=(k,)) for k in range(LISTENERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    distinct = {pid for listener in pages for page in listener for pid in page}
    with committed_db() as s:
        stored = s.scalar(select(func.count()).select_from(Mention))
        accepted = Counter(
            s.scalars(select(Mention.author_id).where(Mention.decision == "accepted"))
        )
        hour = quotas.window_start(utcnow(), quotas.HOUR)
        rows = s.execute(
            select(RateCounter.key, RateCounter.used).where(
                RateCounter.window_start == hour, RateCounter.key.like("user:%:hour")
            )
        )
        counters = {key: used for key, used in rows.tuples()}
    assert stored == len(distinct) == sum(new.values())
    # Every user had far more mentions than units: each got exactly the limit, no more.
    assert sorted(accepted.values()) == [limit] * USERS
    assert counters == {quotas.user_key(uid, "hour"): n for uid, n in accepted.items()}


def test_a_page_that_read_a_counter_before_another_took_its_last_unit_decides_again(
    committed_db: sessionmaker[Session],
) -> None:
    """Listener A takes a user's last unit and holds its commit; listener B read the counter
    before that and decided to accept. B's guarded take must fail once A commits, and B's
    page, decided again from a fresh read, gives quota_hour: never limit + 1."""
    author = Author("8901", "last_unit", subscription_type="Premium")
    authors = {author.platform_id: author}
    with committed_db.begin() as s:
        limit = policies(s)[Tier.PREMIUM].replies_per_hour
        user = upsert_authors(s, [author])[author.platform_id].id
        key = quotas.user_key(user, "hour")
        s.add(
            RateCounter(
                key=key, window_start=quotas.window_start(utcnow(), quotas.HOUR), used=limit - 1
            )
        )
    first = Post(str(4 * 10**17), "@mentionbot mine?", author.platform_id)
    second = Post(str(4 * 10**17 + 1), "@mentionbot or mine?", author.platform_id)
    seen: list[Counter[Decision]] = []

    def listener_b() -> None:
        with committed_db.begin() as s:
            seen.append(ingest(s, [second], authors, "1", RULES).decisions)

    with committed_db.begin() as s:
        assert ingest(s, [first], authors, "1", RULES).decisions == Counter({"accepted": 1})
        b = threading.Thread(target=listener_b)
        b.start()
        b.join(1.0)
        assert b.is_alive(), "B should wait on the counter row A holds"
    b.join(30)
    assert seen == [Counter({"quota_hour": 1})]
    with committed_db() as s:
        assert s.scalar(select(RateCounter.used).where(RateCounter.key == key)) == limit
