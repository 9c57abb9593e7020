"""Thin Celery tasks: load by id, call one service in bot/, map failures to retry or give-up."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import structlog
from celery import Celery, Task

from bot import replies
from bot.replies import TryLater
from workers.celery_app import TASK_GENERATE, TASK_POST, TASK_SWEEP
from workers.context import deps_for

log = structlog.get_logger(__name__)
_T = TypeVar("_T")


def backoff(retries: int) -> float:
    """Exponential backoff with jitter, capped at a minute."""
    return float(min(60.0, 2.0 * 2**retries) * random.uniform(0.75, 1.25))


@contextmanager
def bound(task: Task, **ids: Any) -> Iterator[None]:
    """Bind the task id and the item id into every log line of this task."""
    structlog.contextvars.bind_contextvars(task_id=task.request.id, **ids)
    try:
        yield
    finally:
        structlog.contextvars.unbind_contextvars("task_id", *ids)


def _run(
    task: Task, call: Callable[[], _T], event: str, give_up: Callable[[str, str], None]
) -> _T | None:
    """Run one service call; a transient failure retries, and the last failure ends the item
    through `give_up(reason, detail)` (retries_exhausted, or internal_error for a bug)."""
    try:
        return call()
    except TryLater as exc:
        reason, detail, countdown = "retries_exhausted", exc.reason, exc.countdown
    except Exception as exc:
        reason, detail, countdown = "internal_error", f"{type(exc).__name__}: {exc}"[:300], None
        log.exception(event)
    if task.request.retries >= (task.max_retries or 0):
        give_up(reason, detail)
        return None
    raise task.retry(
        countdown=countdown if countdown is not None else backoff(task.request.retries)
    )


def register(app: Celery) -> None:
    """Register the tasks on `app` (called by the factory)."""
    max_retries = app.conf.mentionbot_settings.task_max_retries

    @app.task(name=TASK_GENERATE, bind=True, max_retries=max_retries)
    def generate_reply(self: Task, mention_id: int) -> None:
        with bound(self, mention_id=mention_id):
            deps = deps_for(self.app)
            if not deps.breaker.allow(deps.llm.health):
                # The model server is down: park the task without spending one of its
                # retries; the queue waits and the worker resumes once /health answers.
                wait = max(1.0, deps.breaker.wait_s())
                replies.touch_queued(deps.sessions, mention_id)
                self.apply_async(args=[mention_id], countdown=wait, retries=self.request.retries)
                log.info("generate.parked", wait_s=round(wait, 1))
                return
            reply_id = _run(
                self,
                lambda: replies.generate_reply(deps, mention_id),
                "generate.error",
                lambda reason, detail: replies.fail_mention(
                    deps.sessions, mention_id, reason, detail
                ),
            )
            if reply_id is not None:
                # The reply row is committed by now, so the post worker can read it.
                self.app.send_task(
                    TASK_POST, args=[reply_id], priority=self.request.delivery_info.get("priority")
                )

    @app.task(name=TASK_POST, bind=True, max_retries=max_retries)
    def post_reply(self: Task, reply_id: int) -> None:
        with bound(self, reply_id=reply_id):
            deps = deps_for(self.app)
            _run(
                self,
                lambda: replies.post_reply(deps, reply_id),
                "post.error",
                lambda reason, detail: replies.fail_reply(deps.sessions, reply_id, reason, detail),
            )

    @app.task(name=TASK_SWEEP, bind=True)
    def sweep(self: Task) -> None:
        with bound(self):
            deps = deps_for(self.app)
            result = replies.sweep(deps.sessions, deps.settings, deps.bot_user_id)
            for mention_id in result.generate:
                self.app.send_task(TASK_GENERATE, args=[mention_id])
            for reply_id in result.post:
                self.app.send_task(TASK_POST, args=[reply_id])


class CelerySender:
    """The listener's TaskSender, backed by Celery."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send_generate(
        self, mention_ids: Sequence[int], priorities: Mapping[int, int] | None = None
    ) -> None:
        """Queue one generate task per mention, at its tier's priority (0 first)."""
        for mention_id in mention_ids:
            priority = (priorities or {}).get(mention_id)
            self.app.send_task(TASK_GENERATE, args=[mention_id], priority=priority)

    def send_post(self, reply_ids: Sequence[int]) -> None:
        """Queue one post task per reply."""
        for reply_id in reply_ids:
            self.app.send_task(TASK_POST, args=[reply_id])
