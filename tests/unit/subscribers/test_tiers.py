"""Subscriber tiers: X's subscription_type mapping (an unknown value is logged once)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.subscribers import tiers


class _Log:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.warnings.append((event, kw))


def test_unknown_subscription_type_is_none_and_logged_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = _Log()
    monkeypatch.setattr(tiers, "log", log)
    monkeypatch.setattr(tiers, "_warned", set())
    for _ in range(3):
        assert tiers.tier_from_subscription("Gold") == "none"
    assert tiers.tier_from_subscription("Diamond") == "none"
    assert tiers.tier_from_subscription("Premium") == "premium"
    assert [kw["value"] for _, kw in log.warnings] == ["Gold", "Diamond"]
    assert {event for event, _ in log.warnings} == {"tiers.unknown_subscription_type"}
