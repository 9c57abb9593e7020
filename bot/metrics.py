"""Prometheus metrics; processes expose them with `start_http_server` when a port is set."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DECISIONS = Counter("mentionbot_decisions_total", "Mentions decided, by reason code.", ["reason"])

REVIEW_DECISION_SECONDS = Histogram(
    "mentionbot_review_decision_seconds",
    "Time from a reply's generation to a moderator's decision on it.",
    ["action"],
    buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
)
