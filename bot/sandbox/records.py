"""What the X API sandbox keeps and answers with: users, posts (each version of an edited
one), timeline pages, injected faults, the decision on one request, and the refusals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.platform.snowflake import snowflake_ms
from bot.sandbox.limits import RateLimit

__all__ = [
    "Billing",
    "DuplicateContent",
    "Fault",
    "NotAuthor",
    "Post",
    "SandboxError",
    "Ticket",
    "TimelinePage",
    "UnknownPost",
    "UnknownUser",
    "User",
]


@dataclass(frozen=True)
class User:
    """An X account."""

    id: str
    username: str
    name: str
    subscription_type: str = "None"
    verified_type: str = "none"
    description: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # A suspended or protected account's posts are out of the bot's sight: lookups leave
    # them out (with a Not Found error), timelines skip them, replying to them is refused.
    suspended: bool = False
    protected: bool = False


@dataclass(frozen=True)
class Post:
    """A post; replaced (never mutated) when deleted so readers hold consistent snapshots."""

    id: int
    text: str
    author_id: str
    conversation_id: int
    in_reply_to: int | None = None
    in_reply_to_user_id: str | None = None
    deleted: bool = False
    mentions: frozenset[str] = frozenset()
    # Where the author's own text begins (X's display_text_range start, in code points): after
    # the thread's handles X puts before a reply's text.
    display_start: int = 0
    # Every version of an edited post, the original first (X's edit_history_tweet_ids);
    # empty for a post never edited.
    edit_history: tuple[int, ...] = ()
    # What it quotes or reposts, as X's referenced_tweets: ("quoted" | "retweeted", id).
    references: tuple[tuple[str, int], ...] = ()
    # Who may reply in its conversation (X's reply_settings, set on the conversation's first
    # post; a reply carries its conversation's).
    reply_settings: str = "everyone"

    @property
    def created_at(self) -> datetime:
        """Creation time, read from the id as X's clients do."""
        return datetime.fromtimestamp(snowflake_ms(self.id) / 1000, UTC)


@dataclass(frozen=True)
class TimelinePage:
    """One page of a timeline, newest first."""

    posts: list[Post]
    has_more: bool


@dataclass(frozen=True)
class Billing:
    """A pay-per-use refusal: "credits_depleted" (402) or "usage_capped" (429, with X's
    period, Daily or Monthly, and scope, Account or Product)."""

    kind: str
    period: str = "Monthly"
    scope: str = "Product"


@dataclass(frozen=True)
class Fault:
    """Misbehaviour injected into an endpoint."""

    latency_ms: int = 0
    error_ratio: float = 0.0
    status: int = 503
    rate_limit: RateLimit | None = None
    seed: int = 0
    hold_ms: int = 0
    billing: Billing | None = None


@dataclass(frozen=True)
class Ticket:
    """The store's decision about one incoming X request."""

    limit: int
    remaining: int
    reset: int
    allowed: bool
    latency_s: float = 0.0
    error_status: int | None = None
    hold_s: float = 0.0
    # X's daily windows beside the 15-minute one (posting): scope ("user", "app") to
    # (limit, remaining, reset).
    daily: tuple[tuple[str, int, int, int], ...] = ()
    billing: Billing | None = None  # the account cannot pay for this request

    def headers(self) -> dict[str, str]:
        """Return X's rate-limit headers for this request."""
        out = {
            "x-rate-limit-limit": str(self.limit),
            "x-rate-limit-remaining": str(self.remaining),
            "x-rate-limit-reset": str(self.reset),
        }
        for scope, limit, remaining, reset in self.daily:
            out[f"x-{scope}-limit-24hour-limit"] = str(limit)
            out[f"x-{scope}-limit-24hour-remaining"] = str(remaining)
            out[f"x-{scope}-limit-24hour-reset"] = str(reset)
        return out


class SandboxError(Exception):
    """Base of the store's refusals."""


class UnknownPost(SandboxError):
    """The post does not exist or was deleted."""


class UnknownUser(SandboxError):
    """The user does not exist."""


class DuplicateContent(SandboxError):
    """The author already has a live post with this text."""


class NotAuthor(SandboxError):
    """Only a post's author may delete it."""
