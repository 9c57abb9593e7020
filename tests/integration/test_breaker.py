"""Model server down: the generate worker parks work behind its circuit breaker, spends no
retries while the breaker is open, and resumes by itself when /health answers again.

A fault-injecting proxy stands in front of the real CPU engine; the worker is a real Celery
worker (in this process) on real Redis, the database real Postgres."""

from __future__ import annotations

import base64
import json
import os
from collections import Counter, defaultdict
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
MAX_RETRIES = 2


def _held(keys: RedisKeys) -> list[dict[str, Any]]:
    """The task messages the worker holds until they are due (kombu's unacked hash)."""
    return [json.loads(raw)[0] for raw in keys.client.hvals(f"{keys.prefix}unacked")]


def _mention_id(message: dict[str, Any]) -> int:
    args = json.loads(base64.b64decode(message["body"]))[0]
    return int(args[0])


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
                "task_max_retries": MAX_RETRIES,
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
            # Without the breaker a task runs 1 + MAX_RETRIES times and then fails: wait
            # until every mention's task has come back more often than that (each park is
            # a new message the worker holds until it is due), with all three held now.
            sends: defaultdict[int, set[str]] = defaultdict(set)

            def parked_beyond_retries() -> list[dict[str, Any]]:
                held = _held(keys)
                for message in held:
                    sends[_mention_id(message)].add(message["headers"]["id"])
                runs = [len(sends[m]) for m in {_mention_id(m) for m in held}]
                done = len(sends) == 3 and len(runs) == 3
                return held if done and min(runs) > 1 + MAX_RETRIES else []

            held = wait_for(
                parked_beyond_retries,
                timeout=90,
                interval=0.1,
                what=f"each task parked more than {1 + MAX_RETRIES} times",
            )
            with committed_db() as s:
                statuses = Counter(s.scalars(select(Mention.status)))
            assert statuses == {MentionStatus.QUEUED: 3}, statuses
            assert deps_for(app).breaker.state.value in ("open", "half_open")
            assert proxy.dropped > 0
            # Parked tasks wait in the broker (held by the worker until due) at the tier's
            # priority: regression, they used to come back at the default priority.
            parked = [message["properties"]["priority"] for message in held]
            assert parked and set(parked) == {3}, parked  # premium
            proxy.up()

            def all_posted() -> bool:
                with committed_db() as s:
                    return list(s.scalars(select(Reply.status))) == [ReplyStatus.POSTED] * 3

            wait_for(all_posted, timeout=90, what="replies after the model came back")
        assert deps_for(app).breaker.state.value == "closed"
