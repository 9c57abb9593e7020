"""The one vocabulary: every status, tier, moderation mode, override action and reason code.

Columns store these by value (plain strings in the database, `StrEnum` in the code), so a
value read back compares equal to its member. Nothing else in bot/ spells these strings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class MentionStatus(StrEnum):
    """received → ignored | queued → generating → answered | failed."""

    RECEIVED = "received"
    IGNORED = "ignored"
    QUEUED = "queued"
    GENERATING = "generating"
    ANSWERED = "answered"
    FAILED = "failed"


class ReplyStatus(StrEnum):
    """pending_review → approved | rejected; approved → posting → posted | post_failed."""

    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    POSTING = "posting"
    POSTED = "posted"
    POST_FAILED = "post_failed"


class Tier(StrEnum):
    """A subscriber tier, from X's subscription_type or an operator's grant."""

    NONE = "none"
    BASIC = "basic"
    PREMIUM = "premium"
    PREMIUM_PLUS = "premium_plus"


# The effective tier of a user an operator blocked: not a tier anyone can be granted.
BLOCKED: Final = "blocked"


class Moderation(StrEnum):
    """When a tier's replies are reviewed: pre (before posting), post (after), auto (never)."""

    PRE = "pre"
    POST = "post"
    AUTO = "auto"


class OverrideAction(StrEnum):
    """What an operator's override of a user does."""

    GRANT = "grant"
    BLOCK = "block"


class Reason(StrEnum):
    """Why a mention or a reply is where it is (stored in their `reason` columns)."""

    # decide(): the listener's outcome for a new mention
    ACCEPTED = "accepted"
    OWN_POST = "own_post"
    UNKNOWN_AUTHOR = "unknown_author"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    BLOCKED = "blocked"
    SPAM = "spam"
    LOOP = "loop"
    NOT_SUBSCRIBED = "not_subscribed"
    UPSELL = "upsell"
    THREAD_CAP = "thread_cap"
    QUOTA_HOUR = "quota_hour"
    QUOTA_DAY = "quota_day"
    # a mention the model answered
    ANSWERED = "answered"
    # a mention that failed
    LLM_REJECTED = "llm_rejected"
    EMPTY_OUTPUT = "empty_output"
    REFUSAL = "refusal"
    UNKNOWN_TIER = "unknown_tier"
    # how a reply went out, or why it waits
    POSTED = "posted"
    RECONCILED = "reconciled"
    WAITING_BUDGET = "waiting_budget"
    # a reply that failed
    DUPLICATE_CONTENT = "duplicate_content"
    PLATFORM_REFUSED = "platform_refused"
    # either, when the system gives up
    STUCK = "stuck"
    RETRIES_EXHAUSTED = "retries_exhausted"
    INTERNAL_ERROR = "internal_error"


# Every outcome decide() can give a new mention, in the order it checks them.
DECISION_REASONS: tuple[Reason, ...] = (
    Reason.ACCEPTED,
    Reason.OWN_POST,
    Reason.UNKNOWN_AUTHOR,
    Reason.EMPTY,
    Reason.TOO_LONG,
    Reason.BLOCKED,
    Reason.SPAM,
    Reason.LOOP,
    Reason.NOT_SUBSCRIBED,
    Reason.UPSELL,
    Reason.THREAD_CAP,
    Reason.QUOTA_HOUR,
    Reason.QUOTA_DAY,
)


class UnknownTierError(ValueError):
    """A tier name that is not one of Tier (never silently treated as another tier)."""


def parse_tier(name: str) -> Tier:
    """The Tier called `name`; UnknownTierError listing the tiers otherwise."""
    try:
        return Tier(name)
    except ValueError:
        known = ", ".join(t.value for t in Tier)
        raise UnknownTierError(f"unknown tier {name!r}; tiers are {known}") from None
