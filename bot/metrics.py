"""Prometheus metrics; processes expose them with `start_http_server` when a port is set."""

from __future__ import annotations

from prometheus_client import Counter

DECISIONS = Counter("mentionbot_decisions_total", "Mentions decided, by reason code.", ["reason"])
