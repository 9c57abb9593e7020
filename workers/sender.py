"""The TaskSender on Celery: what the listener, the sweeper, the dashboard and the generate task
(the post task for the reply it wrote) call. Every send of a task goes through it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from celery import Celery

from bot.replies.sweep import SweepResult
from workers.names import TASK_GENERATE, TASK_POST


class CelerySender:
    """Sends tasks for committed rows (bot.sender.TaskSender)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send_generate(
        self, mention_ids: Sequence[int], priorities: Mapping[int, int] | None = None
    ) -> None:
        """Queue one generate task per mention, at its tier's priority (0 first)."""
        for mention_id in mention_ids:
            priority = (priorities or {}).get(mention_id)
            self.app.send_task(TASK_GENERATE, args=[mention_id], priority=priority)

    def send_post(
        self, reply_ids: Sequence[int], priorities: Mapping[int, int] | None = None
    ) -> None:
        """Queue one post task per reply, at its mention's priority when known."""
        for reply_id in reply_ids:
            priority = (priorities or {}).get(reply_id)
            self.app.send_task(TASK_POST, args=[reply_id], priority=priority)

    def resend(self, swept: SweepResult) -> None:
        """Send again what a sweep handed back (the sweep task and `mentionbot sweep`)."""
        self.send_generate(swept.generate, swept.priorities["generate"])
        self.send_post(swept.post, swept.priorities["post"])
