"""What the reply services need (built once per worker process), and how they say "later"."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.db.engine import SessionFactory
from bot.platform.protocol import Platform
from bot.settings import Settings
from models.breaker import CircuitBreaker
from models.llm_client import LLM


class TryLater(Exception):
    """A transient failure: the task should retry, after `countdown` seconds if given.

    `detail` says what failed, in words; it becomes the row's detail if the retries run out.
    """

    def __init__(self, detail: str, countdown: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.countdown = countdown


@dataclass
class ReplyDeps:
    """The collaborators of the generate and post services."""

    sessions: SessionFactory
    platform: Platform
    llm: LLM
    settings: Settings
    bot_user_id: str
    bot_username: str
    persona: str
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
