"""Priority end to end: a premium_plus mention sent after a burst of low-priority work is
answered before most of the burst (Celery's priority sub-queues, then vLLM's scheduler).

Real Redis, a real worker process, the real CPU engine; the free tier is switched to
"answered" for this test so both kinds of work reach the model."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from bot.mentions.listener import Listener
from bot.mentions.schema import Mention
from bot.platform.x import XPlatform
from bot.replies.schema import Reply
from bot.subscribers.schema import TierPolicy
from bot.vocab import ReplyStatus
from tests.fixtures.services import wait_for
from workers.celery_app import create_app
from workers.sender import CelerySender

pytestmark = [pytest.mark.integration, pytest.mark.engine]

BURST = 40


@pytest.fixture()
def free_tier_answered(pg_engine: Any) -> Any:
    with pg_engine.begin() as conn:
        before = conn.execute(select(TierPolicy).where(TierPolicy.tier == "none")).one()
        conn.execute(
            update(TierPolicy)
            .where(TierPolicy.tier == "none")
            .values(answered=True, replies_per_hour=1000, replies_per_day=1000, moderation="auto")
        )
    yield
    with pg_engine.begin() as conn:
        conn.execute(
            update(TierPolicy)
            .where(TierPolicy.tier == "none")
            .values(
                answered=before.answered,
                replies_per_hour=before.replies_per_hour,
                replies_per_day=before.replies_per_day,
                moderation=before.moderation,
            )
        )


def test_premium_plus_overtakes_a_low_priority_burst(
    pipeline: dict[str, Any],
    free_tier_answered: Any,
) -> None:
    url = pipeline["url"]
    with httpx.Client(base_url=url, timeout=10) as http:
        for i in range(BURST):
            http.post(
                "/sandbox/mentions",
                json={
                    "author_id": str(7000 + i),
                    "username": f"free{i}",
                    "subscription_type": "None",
                    "text": f"@mentionbot low priority question {i}?",
                },
            ).raise_for_status()
        vip = http.post(
            "/sandbox/mentions",
            json={
                "author_id": "7999",
                "username": "vip",
                "subscription_type": "PremiumPlus",
                "text": "@mentionbot urgent question?",
            },
        ).json()["id"]
    settings = pipeline["settings"]
    # One poll sends the whole burst first (oldest first), then the premium_plus mention.
    result = Listener(
        XPlatform.from_settings(settings),
        pipeline["db"],
        CelerySender(create_app(settings)),
        pipeline["bot_id"],
    ).poll_once()
    assert len(result.accepted) == BURST + 1
    assert sorted(set(result.priorities.values())) == [0, 9]

    def done() -> bool:
        with pipeline["db"]() as s:
            posted = s.scalars(select(Reply.id).where(Reply.status == ReplyStatus.POSTED))
            return len(list(posted)) == BURST + 1

    wait_for(done, timeout=180, what="every reply of the burst")
    with pipeline["db"]() as s:
        order = list(
            s.execute(
                select(Mention.platform_post_id, Mention.tier)
                .join(Reply, Reply.mention_id == Mention.id)
                .order_by(Reply.posted_at)
            )
        )
    rank = [post_id for post_id, _ in order].index(vip)
    assert rank < BURST // 2, f"premium_plus finished {rank + 1}th of {BURST + 1}"
