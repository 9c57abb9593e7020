"""The health heartbeats, the platform's rate-limit collector and the breaker's gauge."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from bot.metrics import Heartbeat, PlatformLimits
from models.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_heartbeat_is_unhealthy_until_the_first_beat_and_once_overdue() -> None:
    clock = Clock()
    beat = Heartbeat("listener", grace_s=30, clock=clock)
    assert beat.check() == (False, {"listener": "starting"})
    beat.beat(next_within_s=15)
    clock.now += 44  # due at +15, 29 s late: within the grace
    ok, detail = beat.check()
    assert ok and detail == {"listener": "ok", "listener_last_s_ago": 44.0}
    clock.now += 2
    ok, detail = beat.check()
    assert not ok and detail["listener"] == "overdue by 31 s"
    # A long wait announced beforehand (a rate limit) is not overdue.
    beat.beat(next_within_s=900)
    clock.now += 900
    assert beat.check()[0]


@dataclass(frozen=True)
class Limit:
    limit: int
    remaining: int
    reset_at: float


class Platform:
    def __init__(self, limits: dict[str, Limit]) -> None:
        self.limits = limits

    def rate_limit(self, endpoint: str) -> Limit | None:
        return self.limits.get(endpoint)


def test_platform_limits_are_read_from_the_platform_at_each_scrape() -> None:
    registry = CollectorRegistry()
    limits = PlatformLimits()
    registry.register(limits)
    assert (
        registry.get_sample_value(
            "mentionbot_platform_rate_limit_remaining", {"endpoint": "mentions"}
        )
        is None
    )  # no platform yet: nothing, not zeros
    platform = Platform({"mentions": Limit(300, 299, 1.7e9)})
    limits.watch(platform)

    def sample(name: str, endpoint: str) -> float | None:
        return registry.get_sample_value(
            f"mentionbot_platform_rate_limit_{name}", {"endpoint": endpoint}
        )

    assert (sample("remaining", "mentions"), sample("limit", "mentions")) == (299, 300)
    assert sample("reset_timestamp_seconds", "mentions") == 1.7e9
    assert sample("remaining", "create") is None  # X has not answered that endpoint yet
    platform.limits["create"] = Limit(100, 0, 1.8e9)
    assert sample("remaining", "create") == 0


def test_the_breaker_state_gauge_follows_the_breaker() -> None:
    from prometheus_client import REGISTRY

    def state() -> dict[str, float | None]:
        return {
            s: REGISTRY.get_sample_value("mentionbot_breaker_state", {"state": s})
            for s in ("closed", "open", "half_open")
        }

    def opened() -> float:
        return REGISTRY.get_sample_value("mentionbot_breaker_opened_total") or 0.0

    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=5, clock=clock)
    before = opened()
    assert state() == {"closed": 1, "open": 0, "half_open": 0}
    breaker.record_failure()
    breaker.record_failure()
    assert state() == {"closed": 0, "open": 1, "half_open": 0}
    clock.now += 6
    seen: list[dict[str, float | None]] = []

    def failing_probe() -> bool:
        seen.append(state())
        return False

    assert not breaker.allow(failing_probe)
    assert seen == [{"closed": 0, "open": 0, "half_open": 1}]
    assert state()["open"] == 1
    clock.now += 11
    assert breaker.allow(lambda: True)
    assert state() == {"closed": 1, "open": 0, "half_open": 0}
    assert opened() == before + 1  # a failed probe re-opens it, which is not a new outage
