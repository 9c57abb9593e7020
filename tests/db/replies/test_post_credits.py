"""Pay-per-use on real Postgres and the sandbox over HTTP: while X answers 402 CreditsDepleted
or 429 usage-capped, the post service stops calling it and parks the replies (approved, with
the reason; no attempt, no quota given back), the sweeper never gives up on them, and once X
takes posts again every one goes out once. The listener side is in test_listener.py."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.mentions.schema import Mention
from bot.platform.x import XPlatform
from bot.replies.post import post_budget_left, post_reply
from bot.replies.schema import Reply
from bot.replies.sweep import sweep
from bot.vocab import ReplyStatus
from tests.fixtures.factories.platform import bot_replies
from tests.fixtures.factories.replies import approved_reply, post_deps

FAULTS: dict[str, dict[str, Any]] = {
    "credits_depleted": {"credits_depleted": True},
    "usage_capped": {"usage_capped": {"period": "Daily", "scope": "Account"}},
}


def _fault(url: str, endpoint: str, kind: str) -> None:
    body: dict[str, Any] = {"endpoint": endpoint, **FAULTS[kind]}
    httpx.post(f"{url}/sandbox/faults", json=body, timeout=10).raise_for_status()


def _requests(url: str, endpoint: str) -> dict[str, int]:
    stats = httpx.get(f"{url}/sandbox/stats", timeout=10).json()
    statuses: dict[str, int] = stats["statuses"].get(endpoint, {})
    return statuses


def _replies(db: sessionmaker[Session], ids: list[int]) -> list[Reply]:
    with db() as s:
        return list(s.scalars(select(Reply).where(Reply.id.in_(ids)).order_by(Reply.id)))


def _age_waits(db: sessionmaker[Session], seconds: float) -> None:
    """As if the waiting replies were released `seconds` ago (the sweeper spaces releases)."""
    with db.begin() as s:
        s.execute(
            update(Reply)
            .where(Reply.status == ReplyStatus.APPROVED)
            .values(approved_at=utcnow() - timedelta(seconds=seconds))
        )


def _charged(db: sessionmaker[Session], reply_ids: list[int]) -> None:
    """Mark the replies' mentions as having taken a unit of their user's quota."""
    with db.begin() as s:
        mention_ids = select(Reply.mention_id).where(Reply.id.in_(reply_ids))
        s.execute(update(Mention).where(Mention.id.in_(mention_ids)).values(quota_at=utcnow()))


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_replies_wait_while_x_cannot_bill_and_go_once_it_can(
    sandbox: Any, db: Any, bot_user: dict[str, str], kind: str
) -> None:
    deps = post_deps(sandbox.url, db, bot_user["id"], credits_probe_s=1.0)
    made = [
        approved_reply(sandbox.url, db, f"answer {i}", author_id=str(800 + i)) for i in range(4)
    ]
    ids = [reply_id for reply_id, _ in made]
    _charged(db, ids)
    _fault(sandbox.url, "create_tweet", kind)
    started = utcnow()
    for reply_id in ids:
        assert post_reply(deps, reply_id) is None
    # One request found out; the others waited without asking X again.
    refused = "402" if kind == "credits_depleted" else "429"
    assert _requests(sandbox.url, "create_tweet") == {refused: 1}
    for reply in _replies(db, ids):
        assert (reply.status, reply.reason, reply.attempts) == (ReplyStatus.APPROVED, kind, 0)
        assert reply.wait_until is not None
        assert 0 < (reply.wait_until - started).total_seconds() <= 2.5
    with db() as s:
        # The posting budget came back; the users' quota did not (they will be answered).
        left = post_budget_left(s, deps.settings, bot_user["id"], utcnow())
        assert left == min(deps.settings.post_budget_15m, deps.settings.post_budget_24h)
        charged = s.scalars(select(Mention.quota_at).join(Reply, Reply.mention_id == Mention.id))
        assert None not in set(charged)
    _age_waits(db, 3600)
    # Not stuck, never given up on, not released before the probe time.
    stingy = deps.settings.model_copy(update={"max_attempts": 1})
    swept = sweep(db, stingy, bot_user["id"])
    assert swept.failed_replies == [] and swept.post == []
    time.sleep(1.2)
    # Still refused at the probe: one more request, and they wait another period.
    swept = sweep(db, stingy, bot_user["id"])
    assert sorted(swept.post) == ids
    for reply_id in swept.post:
        assert post_reply(deps, reply_id) is None
    assert _requests(sandbox.url, "create_tweet") == {refused: 2}
    # X takes posts again: the next probe goes through, and the rest follow, once each.
    httpx.delete(f"{sandbox.url}/sandbox/faults", timeout=10).raise_for_status()
    time.sleep(1.2)
    _age_waits(db, 3600)
    swept = sweep(db, stingy, bot_user["id"])
    assert sorted(swept.post) == ids
    for reply_id in swept.post:
        assert post_reply(deps, reply_id) is not None
    assert {(r.status, r.reason, r.attempts) for r in _replies(db, ids)} == {
        (ReplyStatus.POSTED, None, 1)  # posted as asked: the wait is over
    }
    for _, target in made:
        assert len(bot_replies(sandbox.url, bot_user["id"], target)) == 1
    assert isinstance(deps.platform, XPlatform) and deps.platform.gate.refused("create") is None


def test_a_worker_that_has_not_seen_the_refusal_finds_out_with_one_request(
    sandbox: Any, db: Any, bot_user: dict[str, str]
) -> None:
    first = post_deps(sandbox.url, db, bot_user["id"], credits_probe_s=30.0)
    second = post_deps(sandbox.url, db, bot_user["id"], credits_probe_s=30.0)
    a, _ = approved_reply(sandbox.url, db, "from worker one", author_id="871")
    b, _ = approved_reply(sandbox.url, db, "from worker two", author_id="872")
    _fault(sandbox.url, "*", "credits_depleted")
    assert post_reply(first, a) is None
    assert post_reply(second, b) is None
    assert _requests(sandbox.url, "create_tweet") == {"402": 2}
    # A reply waits a probe period: long enough that the sweeper leaves it alone meanwhile.
    for reply in _replies(db, [a, b]):
        assert reply.wait_until is not None
        assert 28 <= (reply.wait_until - utcnow()).total_seconds() <= 31
    _age_waits(db, 3600)
    assert sweep(db, first.settings, bot_user["id"]).post == []
