"""Celery beat's scheduler, with a heartbeat per tick and a count of the tasks it sends."""

from __future__ import annotations

from typing import Any

from celery.beat import PersistentScheduler
from prometheus_client import Counter

from bot.metrics import Heartbeat

# Beat wakes at least this often (its tick returns how long it may sleep, capped by
# beat_max_loop_interval); a tick overdue by more than the grace means it is stuck.
BEAT = Heartbeat("beat", grace_s=60.0)
BEAT_SENT = Counter(
    "mentionbot_beat_sent_total",
    "Tasks beat sent, by task and outcome (sent, error).",
    ["task", "outcome"],
)
SCHEDULER = "workers.beat:HealthScheduler"


class HealthScheduler(PersistentScheduler):  # type: ignore[misc]
    """The default persistent scheduler, reporting each tick and each send."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One scheduler iteration; the heartbeat expects the next within its delay."""
        delay = float(super().tick(*args, **kwargs))
        BEAT.beat(delay)
        return delay

    def apply_async(self, entry: Any, *args: Any, **kwargs: Any) -> Any:
        """Send a due task, counting whether the broker took it."""
        try:
            result = super().apply_async(entry, *args, **kwargs)
        except Exception:
            BEAT_SENT.labels(task=entry.task, outcome="error").inc()
            raise
        BEAT_SENT.labels(task=entry.task, outcome="sent").inc()
        return result
