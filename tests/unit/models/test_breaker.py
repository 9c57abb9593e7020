"""The model-server circuit breaker, on a fake clock."""

from __future__ import annotations

import threading

from models.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_blocks_calls() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        b.record_failure()
    assert b.allow(lambda: True) and b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert not b.allow(lambda: True)
    assert b.wait_s() == 10


def test_probe_after_cooldown_closes_when_healthy() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cooldown_s=10, clock=clock)
    b.record_failure()
    clock.now = 10
    assert b.allow(lambda: True)
    assert b.state is BreakerState.CLOSED and b.wait_s() == 0


def test_failed_probe_backs_off_exponentially_to_a_cap() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cooldown_s=10, max_cooldown_s=25, clock=clock)
    b.record_failure()
    clock.now = 10
    assert not b.allow(lambda: False)
    assert b.state is BreakerState.OPEN and b.wait_s() == 20
    clock.now = 30
    assert not b.allow(lambda: False)
    assert b.wait_s() == 25


def test_success_resets_the_failure_count() -> None:
    b = CircuitBreaker(failure_threshold=2, clock=Clock())
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert b.state is BreakerState.CLOSED


def test_only_one_caller_probes_at_a_time() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cooldown_s=1, clock=clock)
    b.record_failure()
    clock.now = 5
    entered = threading.Event()
    release = threading.Event()
    probes = []

    def slow_probe() -> bool:
        probes.append(1)
        entered.set()
        release.wait(5)
        return True

    t = threading.Thread(target=lambda: b.allow(slow_probe))
    t.start()
    entered.wait(5)
    assert b.state is BreakerState.HALF_OPEN
    assert not b.allow(slow_probe)  # the second caller does not probe
    release.set()
    t.join()
    state: BreakerState = b.state  # re-read after the probe thread finished
    assert probes == [1] and state is BreakerState.CLOSED
