"""Thin Celery tasks: load by id, call one service in bot/, map failures to retry or give-up."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import structlog
from celery import Celery, Task

from bot.metrics import SWEEP_RESENT
from bot.replies import generate, post
from bot.replies.deps import TryLater
from bot.replies.sweep import sweep as run_sweep
from bot.vocab import Reason
from workers.deps import deps_for
from workers.names import GENERATE_QUEUE, POST_QUEUE, TASK_GENERATE, TASK_POST, TASK_SWEEP
from workers.sender import CelerySender

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


def _priority(task: Task) -> int | None:
    info = task.request.delivery_info or {}
    priority = info.get("priority")
    return priority if isinstance(priority, int) else None


def come_back(task: Task, countdown: float) -> None:
    """Send this task again after `countdown` s, at its priority, without spending a retry."""
    task.apply_async(
        args=task.request.args,
        countdown=max(1.0, countdown),
        retries=task.request.retries,
        priority=_priority(task),
    )


def _run(
    task: Task, call: Callable[[], _T], event: str, give_up: Callable[[Reason, str], None]
) -> _T | None:
    """Run one service call; a transient failure retries, and the last failure ends the item
    through `give_up(reason, detail)` (retries_exhausted, or internal_error for a bug)."""
    try:
        return call()
    except TryLater as exc:
        reason, detail, countdown = Reason.RETRIES_EXHAUSTED, exc.detail, exc.countdown
    except Exception as exc:
        reason, detail, countdown = (
            Reason.INTERNAL_ERROR,
            f"{type(exc).__name__}: {exc}"[:300],
            None,
        )
        log.exception(event)
    if task.request.retries >= (task.max_retries or 0):
        give_up(reason, detail)
        return None
    raise task.retry(
        countdown=countdown if countdown is not None else backoff(task.request.retries),
        priority=_priority(task),
    )


def register(app: Celery) -> None:
    """Register the tasks on `app` (called by the factory).

    Not shared (`shared=False`): a shared task is added to every app created afterwards,
    so a second app in one process (the demo's dashboard, tests) would get the first app's
    callables, with its max_retries.
    """
    max_retries = app.conf.mentionbot_settings.task_max_retries

    @app.task(name=TASK_GENERATE, bind=True, max_retries=max_retries, shared=False)
    def generate_reply(self: Task, mention_id: int) -> None:
        with bound(self, mention_id=mention_id):
            deps = deps_for(self.app)
            if not deps.breaker.allow(deps.llm.health):
                # The model server is down: park the task without spending one of its
                # retries; the queue waits and the worker resumes once /health answers.
                wait = max(1.0, deps.breaker.wait_s())
                generate.park(deps, mention_id)
                come_back(self, wait)
                log.info("generate.parked", wait_s=round(wait, 1))
                return
            reply_id = _run(
                self,
                lambda: generate.generate_reply(deps, mention_id),
                "generate.error",
                lambda reason, detail: generate.fail(deps, mention_id, reason, detail),
            )
            if reply_id is not None:
                # The reply row is committed by now, so the post worker can read it; it goes
                # out at this mention's priority, through the sender every send uses.
                priority = _priority(self)
                CelerySender(self.app).send_post(
                    [reply_id], {reply_id: priority} if priority is not None else None
                )

    @app.task(name=TASK_POST, bind=True, max_retries=max_retries, shared=False)
    def post_reply(self: Task, reply_id: int) -> None:
        with bound(self, reply_id=reply_id):
            deps = deps_for(self.app)
            _run(
                self,
                lambda: post.post_reply(deps, reply_id),
                "post.error",
                lambda reason, detail: post.fail(deps, reply_id, reason, detail),
            )

    @app.task(name=TASK_SWEEP, bind=True, shared=False)
    def sweep(self: Task) -> None:
        with bound(self):
            deps = deps_for(self.app)
            swept = run_sweep(deps.sessions, deps.settings, deps.bot_user_id)
            CelerySender(self.app).resend(swept)
            SWEEP_RESENT.labels(queue=GENERATE_QUEUE).inc(len(swept.generate))
            SWEEP_RESENT.labels(queue=POST_QUEUE).inc(len(swept.post))
