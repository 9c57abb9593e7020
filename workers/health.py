"""Is this worker (or beat) healthy: its consumer loop running on a live broker connection?

A consumer bootstep marks the worker consuming while its broker connection is up (Celery
stops the consumer's steps when that connection drops and starts them again once it is
back) and beats a heartbeat from the consumer's own timer, so a stuck event loop shows too.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from celery import bootsteps

from bot.metrics import Health, Heartbeat
from workers.metrics import is_redis, redis_client

TICK_S = 5.0
WORKER = Heartbeat("worker", grace_s=30.0)
_consuming = threading.Event()


class ConsumerHealth(bootsteps.StartStopStep):  # type: ignore[misc]
    """Started once the consumer takes tasks; stopped whenever it loses the broker."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._tick: Any = None

    def start(self, c: Any) -> None:
        """The consumer is connected and consuming."""
        _consuming.set()
        WORKER.beat(TICK_S)
        self._tick = c.timer.call_repeatedly(TICK_S, WORKER.beat, (TICK_S,))

    def stop(self, c: Any) -> None:
        """The consumer stopped (the connection dropped, or the worker is shutting down)."""
        _consuming.clear()
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def shutdown(self, c: Any) -> None:
        """The worker is going away."""
        self.stop(c)


def broker_problem(url: str) -> str | None:
    """Why the broker does not answer a PING now (None when it does, or is not Redis)."""
    if not is_redis(url):
        return None
    client = redis_client(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    finally:
        client.close()
    return None


def _with_broker(health: Health, url: str) -> Health:
    ok, detail = health
    problem = broker_problem(url)
    detail["broker"] = problem or "ok"
    return ok and problem is None, detail


def worker_health(broker_url: str) -> Health:
    """Healthy: consuming, the consumer loop ticking, and the broker answering."""
    ok, detail = WORKER.check()
    consuming = _consuming.is_set()
    detail["consumer"] = "consuming" if consuming else "not consuming (connecting to the broker)"
    return _with_broker((ok and consuming, detail), broker_url)


def beat_health(beat: Heartbeat, broker_url: str) -> Health:
    """Healthy: beat's scheduler ticking on time and the broker answering."""
    return _with_broker(beat.check(), broker_url)
