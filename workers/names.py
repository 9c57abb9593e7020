"""Queue and task names: the one place both the tasks and everything that sends them read."""

from __future__ import annotations

GENERATE_QUEUE = "generate"
POST_QUEUE = "post"
QUEUES = (GENERATE_QUEUE, POST_QUEUE)

TASK_GENERATE = "mentionbot.generate_reply"
TASK_POST = "mentionbot.post_reply"
TASK_SWEEP = "mentionbot.sweep"

# Celery message priorities on Redis: one list per queue and level, 0 served first. Kombu
# keeps level p of queue q under the key `q:p` (`q` itself for 0), after the key prefix.
PRIORITY_STEPS = tuple(range(10))
PRIORITY_SEP = ":"
# Kombu's hash of messages delivered to a worker and not yet acknowledged.
UNACKED_KEY = "unacked"
