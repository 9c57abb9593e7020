"""Queue depths read from Redis at scrape time, per queue and priority (workers and beat)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import redis
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.settings import Settings
from workers.names import PRIORITY_SEP, PRIORITY_STEPS, QUEUES, UNACKED_KEY

REDIS_TIMEOUT_S = 2.0


def queue_key(prefix: str, queue: str, priority: int) -> str:
    """The Redis list kombu keeps a queue's messages of one priority in."""
    return f"{prefix}{queue}{PRIORITY_SEP}{priority}" if priority else f"{prefix}{queue}"


def is_redis(url: str) -> bool:
    """Whether the broker is Redis (the demo's memory:// has no lists to read)."""
    return url.startswith(("redis://", "rediss://", "unix://"))


def redis_client(url: str) -> redis.Redis:
    """A client that gives up on a dead broker in seconds (a scrape must not hang)."""
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )


class QueueDepth(Collector):
    """mentionbot_queue_depth{queue, priority}, unacked messages and whether Redis answered."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Read every priority list of every queue in one round trip."""
        up = GaugeMetricFamily(
            "mentionbot_broker_up", "1 when the broker (Redis) answered the last scrape."
        )
        depth = GaugeMetricFamily(
            "mentionbot_queue_depth",
            "Tasks waiting in the broker, per queue and Celery priority (0 served first).",
            labels=["queue", "priority"],
        )
        unacked = GaugeMetricFamily(
            "mentionbot_queue_unacked",
            "Tasks delivered to a worker and not yet acknowledged (running or prefetched).",
        )
        pairs = [(q, p) for q in QUEUES for p in PRIORITY_STEPS]
        try:
            pipe = self.client.pipeline(transaction=False)
            for queue, priority in pairs:
                pipe.llen(queue_key(self.prefix, queue, priority))
            pipe.hlen(self.prefix + UNACKED_KEY)
            *lengths, in_flight = pipe.execute()
        except redis.RedisError:
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        for (queue, priority), length in zip(pairs, lengths, strict=True):
            depth.add_metric([queue, str(priority)], float(length))
        unacked.add_metric([], float(in_flight))
        yield from (up, depth, unacked)


_lock = threading.Lock()
_watched: QueueDepth | None = None


def watch_queues(settings: Settings) -> None:
    """Export the queue depths of this app's broker (once per process; later calls re-point)."""
    global _watched
    if not is_redis(settings.broker_url):
        return
    with _lock:
        client = redis_client(settings.broker_url)
        if _watched is None:
            _watched = QueueDepth(client, settings.broker_key_prefix)
            REGISTRY.register(_watched)
        else:
            _watched.client, _watched.prefix = client, settings.broker_key_prefix
