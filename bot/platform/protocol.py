"""What the bot needs from a social platform, independent of tweepy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.vocab import Reason


@dataclass(frozen=True)
class Author:
    """An account as the platform describes it."""

    platform_id: str
    username: str
    name: str = ""
    subscription_type: str | None = None
    verified_type: str | None = None


@dataclass(frozen=True)
class Post:
    """A post with the fields the bot uses."""

    id: str
    text: str
    author_id: str | None = None
    conversation_id: str | None = None
    in_reply_to_post_id: str | None = None
    created_at: datetime | None = None
    # The author's handle when the response expanded author_id (None when it did not).
    author_username: str | None = None
    # Where the author's own text begins, in code points (X's display_text_range start): a
    # reply's text starts with the handles of the thread's participants, which X put there,
    # not the author. None when the platform did not say.
    display_start: int | None = None
    # A later version of an edited post: the id of the chain's first version (X's
    # edit_history_tweet_ids[0]). None for a post never edited, and for the original itself.
    edit_root: str | None = None
    # The post it quotes (a quote post's question is about it), or reposts (a repost asks
    # nothing of its own): from referenced_tweets.
    quoted_post_id: str | None = None
    repost_of: str | None = None
    # Who may reply in its conversation (X's reply_settings); None when X did not say.
    reply_settings: str | None = None


@dataclass(frozen=True)
class MentionsPage:
    """One page of the mentions timeline, with its authors expanded."""

    posts: list[Post]
    authors: dict[str, Author] = field(default_factory=dict)
    next_token: str | None = None
    # The posts they reply to or quote, expanded by id (with their authors' handles): the
    # thread context, sent along with the page.
    referenced: dict[str, Post] = field(default_factory=dict)


@dataclass(frozen=True)
class RateLimit:
    """The last rate-limit headers seen for one endpoint."""

    limit: int
    remaining: int
    reset_at: float


class PlatformError(Exception):
    """Any failure talking to the platform."""


class TransientPlatformError(PlatformError):
    """Worth retrying: 5xx, connection errors, timeouts."""


class RateLimited(TransientPlatformError):
    """429: retry after `reset_at` (Unix seconds)."""

    def __init__(self, reset_at: float, message: str = "rate limited") -> None:
        super().__init__(message)
        self.reset_at = reset_at


class DuplicatePost(PlatformError):
    """The platform refused the text as a duplicate (403)."""


class PermanentPlatformError(PlatformError):
    """Retrying will not help: 4xx other than 429, or a refused post."""


class TargetGone(PermanentPlatformError):
    """403: the post to reply to is deleted, or its author suspended or protected."""


class RepliesRestricted(PermanentPlatformError):
    """403: the conversation's reply settings leave the bot out (it was not mentioned or
    otherwise engaged by the author)."""


class AuthFailed(PermanentPlatformError):
    """X refused the credentials (401), or an app-only bearer token for a call that acts as
    the user (403 unsupported-authentication): nothing works until the settings are fixed.
    `user_context` says which credentials the call used (OAuth 1.0a, or the bearer token)."""

    def __init__(self, status: int, *, user_context: bool, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.user_context = user_context


class CreditsExhausted(PlatformError):
    """Pay-per-use: X answered 402 CreditsDepleted or 429 usage-capped for this kind of call.

    Nothing is wrong with the request and X will take none until the account can pay again:
    not worth a retry before `until` (Unix seconds, when the bot tries that kind of call
    again). `kind` is the reason code work waits with (credits_depleted, usage_capped).
    """

    def __init__(self, kind: Reason, until: float, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind
        self.until = until


class Platform(Protocol):
    """The small surface the listener and the workers depend on."""

    def me(self) -> Author:
        """The bot account."""
        ...

    def mentions(
        self,
        user_id: str,
        *,
        since_id: str | None = None,
        until_id: str | None = None,
        pagination_token: str | None = None,
        max_results: int = 100,
    ) -> MentionsPage:
        """One page of posts mentioning `user_id`, newest first."""
        ...

    def get_posts(self, ids: Sequence[str]) -> list[Post]:
        """Look up posts by id (missing ones are left out)."""
        ...

    def create_reply(self, text: str, in_reply_to_post_id: str) -> str:
        """Post `text` as a reply and return the new post's id."""
        ...

    def delete_post(self, post_id: str) -> bool:
        """Delete one of the bot's posts; False when it was gone already."""
        ...

    def find_reply(self, author_id: str, in_reply_to_post_id: str) -> str | None:
        """The id of a reply by `author_id` to that post, if one exists."""
        ...

    def rate_limit(self, endpoint: str) -> RateLimit | None:
        """The latest rate-limit figures for `mentions` or `create`."""
        ...
