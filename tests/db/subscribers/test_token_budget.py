"""The tier token counter on real Postgres: what the generate worker adds after every
generation, atomic under workers racing on one tier (threads, each on its own connection,
released together), and saturating instead of overflowing its 32-bit column."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import cast

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.engine import make_engine
from bot.replies.usage import charge_tokens
from bot.subscribers import quotas
from bot.subscribers.schema import RateCounter
from bot.subscribers.tiers import Policy
from bot.vocab import Moderation, Tier
from models.llm_client import Completion
from tests.fixtures.factories.mentions import NOW

WORKERS = 16
ROUNDS = 25
TIMEOUT_S = 60.0


def _completion(prompt: int, completion: int) -> Completion:
    return Completion("an answer", "tiny-moe", prompt, completion, "stop", 0.1)


@pytest.fixture()
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url, pool_size=WORKERS + 2, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture()
def tier(engine: Engine) -> Iterator[Tier]:
    """A tier name of this test's own, so its counter row is fresh (and removed after): not
    one of Tier's, which only the counter key and the policy passed in ever see."""
    name = cast(Tier, f"race{uuid.uuid4().hex[:8]}")
    yield name
    with Session(engine) as s, s.begin():
        s.execute(delete(RateCounter).where(RateCounter.key == quotas.tier_tokens_key(name)))


def _counted(engine: Engine, tier: Tier) -> int:
    """Every window of the tier's counter (a run across midnight UTC spans two)."""
    with Session(engine) as s:
        key = quotas.tier_tokens_key(tier)
        return int(s.scalar(select(func.sum(RateCounter.used)).where(RateCounter.key == key)) or 0)


def test_concurrent_workers_adding_tokens_lose_none(engine: Engine, tier: Tier) -> None:
    policy = Policy(tier, True, 10, 10, 64, 0, Moderation.AUTO, None, 30, daily_token_budget=10**9)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            # Every round starts together: the first round races on the INSERT of a row
            # that does not exist yet, the others on the UPDATE of one that does.
            for _ in range(ROUNDS):
                barrier.wait(TIMEOUT_S)
                charge_tokens(sessions, policy, _completion(100 + i, 7 * i + 1))
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S * 2)
    assert errors == []
    expected = ROUNDS * sum(100 + i + 7 * i + 1 for i in range(WORKERS))
    assert _counted(engine, tier) == expected


def test_a_tier_without_a_budget_is_not_counted(engine: Engine, tier: Tier) -> None:
    policy = Policy(tier, True, 10, 10, 64, 0, Moderation.AUTO, None, 30)  # daily_token_budget=0
    charge_tokens(sessionmaker(bind=engine), policy, _completion(40, 9))
    with Session(engine) as s:
        key = quotas.tier_tokens_key(tier)
        assert s.scalar(select(RateCounter.used).where(RateCounter.key == key)) is None


def test_the_counter_saturates_at_its_column_top(db: sessionmaker[Session]) -> None:
    top = 2**31 - 1
    with db() as s:
        quotas.add_tier_tokens(s, Tier.PREMIUM, top - 10, NOW)
        quotas.add_tier_tokens(s, Tier.PREMIUM, 100, NOW)  # would overflow INTEGER
        assert quotas.tier_tokens_used(s, Tier.PREMIUM, NOW) == top
        assert quotas.token_budget_spent(s, Tier.PREMIUM, top, NOW)
        quotas.add_tier_tokens(s, Tier.PREMIUM, 0, NOW)  # nothing spent, nothing written
        assert quotas.tier_tokens_used(s, Tier.PREMIUM, NOW) == top
        # Counted per UTC day: tomorrow starts from nothing.
        tomorrow = NOW.replace(hour=0, minute=0) + timedelta(days=1)
        assert quotas.tier_tokens_used(s, Tier.PREMIUM, tomorrow) == 0
        assert not quotas.token_budget_spent(s, Tier.PREMIUM, 1, tomorrow)
        assert not quotas.token_budget_spent(s, Tier.PREMIUM, 0, NOW)  # 0: no budget
