"""The Celery app factory: everything comes from Settings, nothing from module globals."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from bot.settings import Settings
from workers import tasks
from workers.names import (
    GENERATE_QUEUE,
    POST_QUEUE,
    PRIORITY_SEP,
    PRIORITY_STEPS,
    TASK_GENERATE,
    TASK_POST,
    TASK_SWEEP,
)


def create_app(settings: Settings) -> Celery:
    """Build the Celery app for these settings and register the tasks on it."""
    app = Celery("mentionbot", broker=settings.broker_url, set_as_current=True)
    transport: dict[str, Any] = {
        # Redis re-delivers an unacked message after this long; it must exceed the longest
        # task, or a slow generation would run twice (harmless, but wasteful).
        "visibility_timeout": settings.broker_visibility_timeout_s,
        # Ten priority levels (0 first), the scale tier policies use; the worker reads the
        # urgent sub-queue before the others.
        "priority_steps": list(PRIORITY_STEPS),
        "sep": PRIORITY_SEP,
        "queue_order_strategy": "priority",
    }
    if settings.broker_key_prefix:
        # Several bots (or test runs) can share one Redis without taking each other's tasks.
        transport["global_keyprefix"] = settings.broker_key_prefix
    if settings.broker_url.startswith("memory://"):
        # The default 1 s poll makes the in-process demo crawl (docs/design.md §6).
        transport = {"polling_interval": 0.01}
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport,
        task_queues=[Queue(GENERATE_QUEUE), Queue(POST_QUEUE)],
        task_default_queue=GENERATE_QUEUE,
        task_default_priority=5,
        task_routes={
            TASK_GENERATE: {"queue": GENERATE_QUEUE},
            TASK_POST: {"queue": POST_QUEUE},
            TASK_SWEEP: {"queue": POST_QUEUE},
        },
        beat_schedule={
            "sweep": {"task": TASK_SWEEP, "schedule": settings.sweep_interval_s},
        },
        task_time_limit=int(settings.llm_timeout_s * 4) + 60,
        task_soft_time_limit=int(settings.llm_timeout_s * 4) + 30,
    )
    app.conf.mentionbot_settings = settings
    tasks.register(app)
    return app
