"""Queue and task names: the one place both the tasks and everything that sends them read."""

from __future__ import annotations

GENERATE_QUEUE = "generate"
POST_QUEUE = "post"

TASK_GENERATE = "mentionbot.generate_reply"
TASK_POST = "mentionbot.post_reply"
TASK_SWEEP = "mentionbot.sweep"
