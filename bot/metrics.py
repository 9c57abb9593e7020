"""Prometheus metrics and health heartbeats shared by every process.

Each long-running process serves them on MENTIONBOT_METRICS_PORT (`/metrics`, `/healthz`;
bot/cli/observe.py). The model side's own metrics (generation latency and tokens, the
circuit breaker) live beside the code that measures them in models/, and the queue depths
in workers/metrics.py; they all land in prometheus_client's one default registry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.vocab import Reason

# The label keeps its name, `reason`, from before the decision had a name of its own.
DECISIONS = Counter(
    "mentionbot_decisions_total", "Mentions decided, by the listener's decision.", ["reason"]
)
MENTIONS_FETCHED = Counter(
    "mentionbot_mentions_fetched_total",
    "Posts the listener read from the mentions timeline (re-reads of the overlap included).",
)
MENTIONS_INGESTED = Counter(
    "mentionbot_mentions_ingested_total",
    "New mentions the listener stored; each is decided once (mentionbot_decisions_total).",
)
LISTENER_POLLS = Counter("mentionbot_listener_polls_total", "Polls of the mentions timeline.")
LISTENER_PAGES = Counter(
    "mentionbot_listener_pages_total",
    "Mentions timeline pages read (each a billed read on X): a quiet timeline costs one a poll.",
)
LISTENER_POLL_ERRORS = Counter(
    "mentionbot_listener_poll_errors_total", "Polls that failed with an unexpected error."
)
POSTS = Counter(
    "mentionbot_posts_total",
    "Replies that reached a posting outcome: posted, reconciled (found already on X), or "
    'failed (the reason is in mentionbot_failures_total{kind="reply"}).',
    ["outcome"],
)
FAILURES = Counter(
    "mentionbot_failures_total",
    "Mentions (kind=mention) and replies (kind=reply) that ended failed, by reason code.",
    ["kind", "reason"],
)
SWEEP_RESENT = Counter(
    "mentionbot_sweep_resent_total", "Tasks the sweeper sent again, by queue.", ["queue"]
)
REVIEW_DECISION_SECONDS = Histogram(
    "mentionbot_review_decision_seconds",
    "Time from a reply's generation to a moderator's decision on it.",
    ["action"],
    buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
)
PLATFORM_CREDITS = Gauge(
    "mentionbot_platform_credits_exhausted",
    "1 while X refuses an endpoint's calls for pay-per-use (reason credits_depleted: 402;"
    " usage_capped: 429 usage-capped) and the bot only probes it every"
    " MENTIONBOT_CREDITS_PROBE_S; 0 once X takes them again.",
    ["endpoint", "reason"],
)
HEARTBEAT = Gauge(
    "mentionbot_heartbeat_timestamp_seconds",
    "When the process last showed it works (listener: a poll; beat: a tick; worker: its "
    "consumer loop), Unix time.",
    ["process"],
)

Health = tuple[bool, dict[str, Any]]


def failed(kind: str, reason: Reason) -> None:
    """A mention or a reply ended failed (bot/replies/claims.py, its one failure path)."""
    FAILURES.labels(kind=kind, reason=reason).inc()
    if kind == "reply":
        POSTS.labels(outcome="failed").inc()


class Heartbeat:
    """A process's sign of life: healthy while the next beat it promised is not overdue."""

    def __init__(
        self, process: str, grace_s: float = 120.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.process = process
        self.grace_s = grace_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._due: float | None = None

    def beat(self, next_within_s: float) -> None:
        """It works now, and will beat again within `next_within_s` (plus the grace)."""
        now = self.clock()
        with self._lock:
            self._last, self._due = now, now + max(0.0, next_within_s)
        HEARTBEAT.labels(process=self.process).set(now)

    def check(self) -> Health:
        """(healthy, details): never beaten yet, or overdue by more than the grace, is not."""
        now = self.clock()
        with self._lock:
            last, due = self._last, self._due
        if last is None or due is None:
            return False, {self.process: "starting"}
        late = now - due
        detail = {f"{self.process}_last_s_ago": round(now - last, 1)}
        if late > self.grace_s:
            return False, {**detail, self.process: f"overdue by {late:.0f} s"}
        return True, {**detail, self.process: "ok"}


LISTENER = Heartbeat("listener")


def listener_polled(fetched: int, new: int, pages: int, next_poll_within_s: float) -> None:
    """A poll completed (bot/mentions/listener.py)."""
    LISTENER_POLLS.inc()
    LISTENER_PAGES.inc(pages)
    MENTIONS_FETCHED.inc(fetched)
    MENTIONS_INGESTED.inc(new)
    LISTENER.beat(next_poll_within_s)


class _RateLimit(Protocol):
    @property
    def limit(self) -> int: ...
    @property
    def remaining(self) -> int: ...
    @property
    def reset_at(self) -> float: ...


class _Limited(Protocol):
    def rate_limit(self, endpoint: str) -> _RateLimit | None: ...


# The endpoint names bot/platform/x.py records rate-limit headers under.
PLATFORM_ENDPOINTS = ("mentions", "create", "user_tweets", "lookup", "delete")


class PlatformLimits(Collector):
    """X's last rate-limit headers per endpoint, read from the process's platform at scrape."""

    def __init__(self) -> None:
        self._platform: _Limited | None = None

    def watch(self, platform: _Limited) -> None:
        """Report this platform's figures (the process's one XPlatform)."""
        self._platform = platform

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One sample per endpoint X has answered with rate-limit headers so far."""
        families = {
            "remaining": GaugeMetricFamily(
                "mentionbot_platform_rate_limit_remaining",
                "Requests left in the endpoint's current window (x-rate-limit-remaining).",
                labels=["endpoint"],
            ),
            "limit": GaugeMetricFamily(
                "mentionbot_platform_rate_limit_limit",
                "Requests allowed per window (x-rate-limit-limit).",
                labels=["endpoint"],
            ),
            "reset_at": GaugeMetricFamily(
                "mentionbot_platform_rate_limit_reset_timestamp_seconds",
                "When the endpoint's window resets (x-rate-limit-reset), Unix time.",
                labels=["endpoint"],
            ),
        }
        platform = self._platform
        if platform is not None:
            for endpoint in PLATFORM_ENDPOINTS:
                rl = platform.rate_limit(endpoint)
                if rl is not None:
                    for attr, family in families.items():
                        family.add_metric([endpoint], float(getattr(rl, attr)))
        yield from families.values()


PLATFORM_LIMITS = PlatformLimits()
REGISTRY.register(PLATFORM_LIMITS)


def watch_platform(platform: _Limited) -> None:
    """Export this platform's rate-limit figures (called where a process builds it)."""
    PLATFORM_LIMITS.watch(platform)
