"""A circuit breaker for the model server: stop sending work while it is down.

Closed: calls go through; `failure_threshold` consecutive failures open it. Open: callers are
told to wait `cooldown_s`; after that one caller probes `/health` (half-open) and a healthy
answer closes it again, so the worker resumes by itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

from prometheus_client import Counter, Gauge


class BreakerState(StrEnum):
    """Where the breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


BREAKER_STATE = Gauge(
    "mentionbot_breaker_state",
    "The model server's circuit breaker: 1 for the state it is in (closed, open, half_open).",
    ["state"],
)
BREAKER_OPENED = Counter(
    "mentionbot_breaker_opened_total", "Times consecutive failures opened the breaker."
)


def _export(state: BreakerState) -> None:
    for each in BreakerState:
        BREAKER_STATE.labels(state=each.value).set(1.0 if each is state else 0.0)


class CircuitBreaker:
    """Thread-safe; one per worker process and model server."""

    def __init__(
        self,
        failure_threshold: int = 3,
        cooldown_s: float = 10.0,
        max_cooldown_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.base_cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._cooldown_s = cooldown_s
        _export(self._state)

    @property
    def state(self) -> BreakerState:
        """The current state."""
        with self._lock:
            return self._state

    def wait_s(self) -> float:
        """Seconds until the next probe is due (0 when calls may go through)."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return 0.0
            return max(0.0, self._opened_at + self._cooldown_s - self.clock())

    def allow(self, probe: Callable[[], bool]) -> bool:
        """May a call go to the server now? When a probe is due, run it (one caller only)."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.HALF_OPEN:
                return False  # another caller is probing
            if self.clock() < self._opened_at + self._cooldown_s:
                return False
            self._state = BreakerState.HALF_OPEN
            _export(self._state)
        healthy = False
        try:
            healthy = probe()
        finally:
            with self._lock:
                if healthy:
                    self._close()
                else:
                    # Still down: wait longer before the next probe, up to the cap.
                    self._open(min(self._cooldown_s * 2, self.max_cooldown_s))
        return healthy

    def record_success(self) -> None:
        """A call went through."""
        with self._lock:
            self._close()

    def record_failure(self) -> None:
        """A call failed in a way that says the server is down."""
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold:
                self._open(self.base_cooldown_s)

    def _open(self, cooldown_s: float) -> None:
        if self._state is BreakerState.CLOSED:  # a failed probe only re-opens it
            BREAKER_OPENED.inc()
        self._state = BreakerState.OPEN
        self._opened_at = self.clock()
        self._cooldown_s = cooldown_s
        _export(self._state)

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._cooldown_s = self.base_cooldown_s
        _export(self._state)
