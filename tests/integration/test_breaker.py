"""Model server down: the generate worker parks work behind its circuit breaker, spends no
retries while the breaker is open, and resumes by itself when /health answers again.

A fault-injecting proxy stands in front of the real CPU engine; the worker is a real Celery
worker (in this process) on real Redis, the database real Postgres."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import pytest
from celery.contrib.testing.worker import start_worker
from sqlalchemy import select

from bot.mentions.listener import Listener
from bot.mentions.schema import Mention
from bot.platform.x import XPlatform
from bot.replies.schema import Reply
from bot.vocab import MentionStatus, ReplyStatus
from tests.fixtures.factories.platform import numbered_mentions
from tests.fixtures.proxy import FaultProxy
from tests.fixtures.services import RedisKeys, wait_for
from workers.celery_app import create_app
from workers.deps import deps_for
from workers.names import GENERATE_QUEUE, POST_QUEUE
from workers.sender import CelerySender

pytestmark = [pytest.mark.integration, pytest.mark.engine]

BROKER = "redis://127.0.0.1:6379/14"  # not the session worker's database


def test_breaker_parks_work_while_the_model_is_down(
    committed_db: Any, sandbox: Any, vllm_server: Any, pipeline_settings: Any
) -> None:
    keys = RedisKeys(BROKER, f"breaker{os.getpid()}:")
    keys.clear()
    target = urlparse(vllm_server.base_url)
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 80) as proxy:
        settings = pipeline_settings.model_copy(
            update={
                "llm_url": proxy.url,
                "broker_url": BROKER,
                "task_max_retries": 2,
                "broker_key_prefix": keys.prefix,
                "breaker_failures": 1,
                "breaker_cooldown_s": 1.0,
                "llm_timeout_s": 5.0,
            }
        )
        app = create_app(settings)
        proxy.down()
        numbered_mentions(sandbox.url, 3)
        platform = XPlatform.from_settings(settings)
        Listener(platform, committed_db, CelerySender(app), settings.bot_user_id).poll_once()
        with start_worker(
            app,
            pool="threads",
            concurrency=4,
            perform_ping_check=False,
            queues=[GENERATE_QUEUE, POST_QUEUE],
            shutdown_timeout=30,
        ):
            # Without the breaker, 2 retries with 2 s and 4 s backoff are spent in ~10 s.
            time.sleep(15)
            with committed_db() as s:
                statuses = Counter(s.scalars(select(Mention.status)))
            assert statuses == {MentionStatus.QUEUED: 3}, statuses
            assert deps_for(app).breaker.state.value in ("open", "half_open")
            assert proxy.dropped > 0
            # Parked tasks wait in the broker (held by the worker until due) at the tier's
            # priority: regression, they used to come back at the default priority.
            parked = [
                json.loads(raw)[0]["properties"]["priority"]
                for raw in keys.client.hvals(f"{keys.prefix}unacked")
            ]
            assert parked and set(parked) == {3}, parked  # premium
            proxy.up()

            def all_posted() -> bool:
                with committed_db() as s:
                    return list(s.scalars(select(Reply.status))) == [ReplyStatus.POSTED] * 3

            wait_for(all_posted, timeout=90, what="replies after the model came back")
        assert deps_for(app).breaker.state.value == "closed"
