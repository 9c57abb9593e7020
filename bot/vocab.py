"""The one vocabulary: every status, tier, moderation mode, override action, decision and
reason code.

Columns store these by value (plain strings in the database, `StrEnum` in the code), so a
value read back compares equal to its member. Nothing else in bot/ spells these strings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, TypeAlias


class MentionStatus(StrEnum):
    """received → ignored | queued → generating → answered | failed."""

    RECEIVED = "received"
    IGNORED = "ignored"
    QUEUED = "queued"
    GENERATING = "generating"
    ANSWERED = "answered"
    FAILED = "failed"


class ReplyStatus(StrEnum):
    """pending_review → approved | rejected; approved → posting → posted | post_failed;
    posted → taken_down; a shadow tier's reply is shadowed (final, never posted); a reply
    the output checks stopped is held (final, never posted, kept for moderators)."""

    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    POSTING = "posting"
    POSTED = "posted"
    POST_FAILED = "post_failed"
    # A shadow tier's reply: generated and recorded for review, never posted.
    SHADOWED = "shadowed"
    # Posted, then deleted from the platform by a moderator.
    TAKEN_DOWN = "taken_down"
    # Stopped by the output checks (it reproduced the system prompt): never posted.
    HELD = "held"


class Tier(StrEnum):
    """A subscriber tier, from X's subscription_type or an operator's grant."""

    NONE = "none"
    BASIC = "basic"
    PREMIUM = "premium"
    PREMIUM_PLUS = "premium_plus"


class Blocked(StrEnum):
    """The effective tier of a user an operator blocked: not a Tier, so nobody is granted it."""

    BLOCKED = "blocked"


BLOCKED: Final = Blocked.BLOCKED
# The tier a user is treated as (decide(), a mention's `tier`, the listings): their Tier, or
# BLOCKED.
EffectiveTier: TypeAlias = Tier | Blocked


class Moderation(StrEnum):
    """When a tier's replies are reviewed: pre (before posting), post (after), auto (never),
    shadow (generated and recorded for review, never posted: to try a model or persona)."""

    PRE = "pre"
    POST = "post"
    AUTO = "auto"
    SHADOW = "shadow"


class OverrideAction(StrEnum):
    """What an operator's override of a user does."""

    GRANT = "grant"
    BLOCK = "block"


class Decision(StrEnum):
    """What the listener decided about a new mention, in the order decide() checks: stored
    once (mentions.decision) and never changed, whatever happens to the mention after."""

    ACCEPTED = "accepted"
    OWN_POST = "own_post"
    REPOST = "repost"  # a repost of a post that mentions the bot asks nothing new
    # an edit of a post whose chain the bot already answers (or answered): once per chain
    EDITED_AFTER_REPLY = "edited_after_reply"
    # the conversation's reply settings leave the bot out: X would refuse the reply
    REPLIES_RESTRICTED = "replies_restricted"
    UNKNOWN_AUTHOR = "unknown_author"
    EMPTY = "empty"
    TOO_LONG = "too_long"  # longer than any post X takes: hostile input
    BLOCKED = "blocked"
    SPAM = "spam"
    LOOP = "loop"
    NOT_SUBSCRIBED = "not_subscribed"
    UPSELL = "upsell"  # not answered by the model: the operator's upsell is the reply
    THREAD_CAP = "thread_cap"
    # the tier's daily token budget is spent (a decision, not a secret)
    TOKEN_BUDGET = "token_budget"  # noqa: S105
    QUOTA_HOUR = "quota_hour"
    QUOTA_DAY = "quota_day"


class Reason(StrEnum):
    """Why a mention or a reply is not simply where its status says (their `reason`
    columns): why it failed, how it went out, why it waits. None when the status says it
    all (an answered mention, a posted reply, a shadowed one); an ignored mention's why is
    its Decision."""

    # a mention that failed
    LLM_REJECTED = "llm_rejected"
    EMPTY_OUTPUT = "empty_output"
    REFUSAL = "refusal"
    PERSONA_LEAK = "persona_leak"  # twice the reply reproduced the system prompt: held
    UNKNOWN_TIER = "unknown_tier"
    TOO_LONG = "too_long"  # the mention does not fit the model's context
    # how a reply went out (None: posted as asked), or why it waits
    RECONCILED = "reconciled"  # found on X after an attempt whose answer was lost
    THREAD_CUT = "thread_cut"  # X refused a later part: the parts before it are the answer
    WAITING_BUDGET = "waiting_budget"
    POSTING_PAUSED = "posting_paused"
    RATE_LIMITED = "rate_limited"
    # pay-per-use: X takes no calls of that kind until the account can pay (402, 429 capped)
    CREDITS_DEPLETED = "credits_depleted"
    USAGE_CAPPED = "usage_capped"
    # a reply that failed
    DUPLICATE_CONTENT = "duplicate_content"
    PLATFORM_REFUSED = "platform_refused"
    # X will not take the reply: the mention is gone (deleted, author suspended/protected),
    # or the conversation's reply settings leave the bot out. Never retried, the unit back.
    TARGET_GONE = "target_gone"
    REPLIES_RESTRICTED = "replies_restricted"
    # moderation: a reply a moderator (or the review deadline) stopped
    MODERATOR_REJECTED = "moderator_rejected"
    REVIEW_EXPIRED = "review_expired"
    TOO_OLD = "too_old"  # waited longer than reply_max_age_s: an answer nobody needs now
    # either, when the system gives up
    STUCK = "stuck"
    RETRIES_EXHAUSTED = "retries_exhausted"
    INTERNAL_ERROR = "internal_error"


class UsageBy(StrEnum):
    """What a token usage report (`mentionbot usage --by`) sums per UTC day."""

    TIER = "tier"
    USER = "user"


class Flag(StrEnum):
    """What moderators are warned of on a reply, set when it was generated."""

    URL_REMOVED = "url_removed"  # the output rules removed a link
    MENTION_REMOVED = "mention_removed"  # ... or an @mention
    TRUNCATED = "truncated"  # cut at X's length limit
    REGENERATED = "regenerated"  # the first answer was empty or a refusal
    PERSONA_OVERLAP = "persona_overlap"  # words of the system prompt in the reply
    PERSONA_LEAK = "persona_leak"  # ... so many that it was held, never posted
    INJECTION_LIKE = "injection_like"  # the mention reads like a prompt injection


class Role(StrEnum):
    """What a dashboard account may do: moderators review; admins also run the bot."""

    MODERATOR = "moderator"
    ADMIN = "admin"


class AuditAction(StrEnum):
    """Every moderator action the audit log records."""

    SIGN_IN = "sign_in"
    APPROVE = "approve"
    EDIT = "edit"
    REJECT = "reject"
    REGENERATE = "regenerate"
    TAKE_DOWN = "take_down"
    MARK_REVIEWED = "mark_reviewed"
    NOTE = "note"
    GRANT = "grant"
    REVOKE = "revoke"
    BLOCK = "block"
    UNBLOCK = "unblock"
    SET_POLICY = "set_policy"
    PAUSE_POSTING = "pause_posting"
    RESUME_POSTING = "resume_posting"
    ADD_MODERATOR = "add_moderator"
    REMOVE_MODERATOR = "remove_moderator"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (an action name, not a password)


class UnknownTierError(ValueError):
    """A tier name that is not one of Tier (never silently treated as another tier)."""


def as_effective_tier(value: str) -> EffectiveTier:
    """A stored effective tier as its member (BLOCKED, or a Tier)."""
    return BLOCKED if value == BLOCKED else Tier(value)


def parse_tier(name: str) -> Tier:
    """The Tier called `name`; UnknownTierError listing the tiers otherwise."""
    try:
        return Tier(name)
    except ValueError:
        known = ", ".join(t.value for t in Tier)
        raise UnknownTierError(f"unknown tier {name!r}; tiers are {known}") from None
