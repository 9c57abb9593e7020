"""The sandbox's control API under /sandbox/: seed posts, inject faults, read stats, reset."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.sandbox.limits import RateLimit
from bot.sandbox.params import ID_PATTERN
from bot.sandbox.records import Billing, Fault, Post, UnknownPost, UnknownUser
from bot.sandbox.render import XJSONResponse, format_time
from bot.sandbox.store import Store
from bot.sandbox.text import NOT_UNICODE, lone_surrogate, mentions_username, reply_prefix
from bot.sandbox.x_api import store_of

Subscription = Literal["None", "Basic", "Premium", "PremiumPlus"]
VerifiedType = Literal["blue", "business", "government", "none"]
ReplySettings = Literal["everyone", "following", "mentionedUsers", "subscribers", "verified"]
Endpoint = Literal["me", "mentions", "tweet_lookup", "user_tweets", "create_tweet", "delete_tweet"]


class PostIn(BaseModel):
    """A post to seed, by a user created or updated on the way."""

    author_id: str = Field(pattern=ID_PATTERN)
    username: str = Field(pattern="^[A-Za-z0-9_]{1,15}$")
    name: str | None = Field(default=None, description="Defaults to the username (new users).")
    subscription_type: Subscription | None = Field(
        default=None, description='Defaults to "None" for new users; unchanged when omitted.'
    )
    verified_type: VerifiedType | None = None
    text: str = Field(min_length=1)
    in_reply_to: str | None = Field(default=None, pattern=ID_PATTERN)
    reply_settings: Literal[
        "everyone", "following", "mentionedUsers", "subscribers", "verified"
    ] = Field(default="everyone", description="Who may reply (a conversation's first post).")
    quote_of: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Quote this post (referenced_tweets quoted)."
    )
    repost_of: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description='Repost this post: the text becomes X\'s "RT @author: <its text>" and'
        " the given text is ignored (referenced_tweets retweeted).",
    )
    auto_populate_reply_metadata: bool = Field(
        default=True,
        description="A reply's text starts with the thread's handles (the parent's author and"
        " the accounts it mentions), as X's apps post it; display_text_range starts after them.",
    )
    created_at: datetime | None = Field(
        default=None, description="Back-date the post (its id follows); simulates a late post."
    )
    decode_escapes: bool = Field(
        default=False,
        description="Decode \\uXXXX escapes written in the text: the way to seed a lone"
        " surrogate, which X's timelines can carry but a JSON body here may not.",
    )

    @field_validator("text", "name")
    @classmethod
    def well_formed(cls, value: str | None) -> str | None:
        """Refuse what no UTF-8 can carry (pydantic lets `str | None` fields through)."""
        return _well_formed(value) if value is not None else None

    def stored_text(self) -> str:
        """The text to store (escapes decoded when asked)."""
        if not self.decode_escapes:
            return self.text
        return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), self.text)


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _well_formed(value: str) -> str:
    bad = lone_surrogate(value)
    if bad:
        raise ValueError(f"{NOT_UNICODE} Found {bad}.")
    return value


class PostOut(BaseModel):
    """A stored post."""

    id: str
    text: str
    author_id: str
    conversation_id: str
    in_reply_to: str | None
    in_reply_to_user_id: str | None
    created_at: str
    deleted: bool
    display_text_range: list[int]
    edit_history: list[str]


class EditIn(BaseModel):
    """A post's new text (after the same reply handles, which X keeps)."""

    text: str = Field(min_length=1)

    @field_validator("text")
    @classmethod
    def well_formed(cls, value: str) -> str:
        """Refuse what no UTF-8 can carry."""
        return _well_formed(value)


class RateLimitIn(BaseModel):
    """A request budget per window, replacing the endpoint's default."""

    limit: int = Field(ge=0)
    window_s: int = Field(ge=1)


class UsageCapIn(BaseModel):
    """Which of X's pay-per-use usage caps is reached (X's UsageCapExceededProblem)."""

    model_config = ConfigDict(extra="forbid")

    period: Literal["Daily", "Monthly"] = "Monthly"
    scope: Literal["Account", "Product"] = "Product"


class FaultIn(BaseModel):
    """Misbehaviour to inject into one X endpoint, or every one ("*")."""

    model_config = ConfigDict(extra="forbid")  # a misspelt fault must not pass as no fault

    endpoint: Endpoint | Literal["*"]
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    error_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    status: int = Field(default=503, ge=400, le=599)
    rate_limit: RateLimitIn | None = None
    seed: int = Field(default=0, description="Seeds the error_ratio draws (reproducible runs).")
    hold_ms: int = Field(
        default=0,
        ge=0,
        le=120_000,
        description="Answer this late after doing the work (a post is stored, then answered).",
    )
    credits_depleted: bool = Field(
        default=False,
        description="Answer 402 CreditsDepleted (the pay-per-use account has no credits left)"
        " until the fault is cleared.",
    )
    usage_capped: UsageCapIn | None = Field(
        default=None,
        description="Answer 429 usage-capped with this period and scope until the fault is"
        " cleared (credits_depleted wins when both are set).",
    )

    def billing(self) -> Billing | None:
        """The pay-per-use refusal this fault makes, if any."""
        if self.credits_depleted:
            return Billing("credits_depleted")
        if self.usage_capped is not None:
            return Billing("usage_capped", self.usage_capped.period, self.usage_capped.scope)
        return None


class StatsOut(BaseModel):
    """Request counts and response statuses per X endpoint."""

    requests: dict[str, int]
    statuses: dict[str, dict[str, int]]


control_router = APIRouter(
    prefix="/sandbox", tags=["sandbox control"], default_response_class=XJSONResponse
)


def post_out(post: Post) -> PostOut:
    """Render a stored post for the control API."""
    return PostOut(
        id=str(post.id),
        text=post.text,
        author_id=post.author_id,
        conversation_id=str(post.conversation_id),
        in_reply_to=str(post.in_reply_to) if post.in_reply_to is not None else None,
        in_reply_to_user_id=post.in_reply_to_user_id,
        created_at=format_time(post.created_at),
        deleted=post.deleted,
        display_text_range=[post.display_start, len(post.text)],
        edit_history=[str(i) for i in post.edit_history or (post.id,)],
    )


def _referencing(store: Store, body: PostIn) -> tuple[str, tuple[tuple[str, int], ...]]:
    """The text to store and what the post quotes or reposts."""
    if body.repost_of is not None:
        original = store.post(int(body.repost_of))
        author = store.user(original.author_id) if original is not None else None
        if original is None or author is None or original.deleted:
            raise UnknownPost(body.repost_of)
        return f"RT @{author.username}: {original.text}", (("retweeted", original.id),)
    if body.quote_of is not None:
        return body.stored_text(), (("quoted", int(body.quote_of)),)
    return body.stored_text(), ()


def references_repost(references: tuple[tuple[str, int], ...]) -> bool:
    """A repost carries its original's text as it is (no @bot added)."""
    return any(kind == "retweeted" for kind, _ in references)


def _seed(store: Store, body: PostIn, *, mention_bot: bool) -> PostOut:
    store.upsert_user(
        body.author_id, body.username, body.name, body.subscription_type, body.verified_type
    )
    created_at = body.created_at
    if created_at is not None and created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    parent = int(body.in_reply_to) if body.in_reply_to else None
    try:
        handles: list[str] = []
        if parent is not None and body.auto_populate_reply_metadata:
            handles = store.reply_handles(parent, body.author_id)
        text, references = _referencing(store, body)
        bot = store.bot.username
        if (
            mention_bot
            and not references_repost(references)
            and not mentions_username(reply_prefix(handles) + text, bot)
        ):
            text = f"@{bot} {text}"
        post = store.add_post(
            body.author_id,
            text,
            parent,
            created_at=created_at,
            handles=handles,
            references=references,
            reply_settings=body.reply_settings,
        )
    except UnknownPost as exc:
        raise HTTPException(404, f"unknown post {exc}") from exc
    return post_out(post)


@control_router.post("/mentions", status_code=201)
def seed_mention(request: Request, body: PostIn) -> PostOut:
    """Post a mention of the bot (its text starts with @bot unless it mentions the bot, or a
    reply's thread handles do)."""
    return _seed(store_of(request), body, mention_bot=True)


@control_router.post("/posts", status_code=201)
def seed_post(request: Request, body: PostIn) -> PostOut:
    """Post as given (thread context, other users' posts); a reply after its thread's handles."""
    return _seed(store_of(request), body, mention_bot=False)


@control_router.post("/posts/{post_id}/edit", status_code=201)
def edit_post(request: Request, post_id: str, body: EditIn) -> PostOut:
    """Edit a post as X does: a new post id, listed after the original in every version's
    edit_history (and newer than anything, so it comes again after a since_id)."""
    if not post_id.isdigit():
        raise HTTPException(404, f"unknown post {post_id}")
    try:
        return post_out(store_of(request).edit_post(int(post_id), body.text))
    except UnknownPost as exc:
        raise HTTPException(404, f"unknown post {post_id}") from exc


@control_router.delete("/posts/{post_id}")
def delete_post(request: Request, post_id: str) -> dict[str, bool]:
    """Delete any post as its author would (the mention the bot was about to answer...)."""
    store = store_of(request)
    post = store.post(int(post_id)) if post_id.isdigit() else None
    if post is None:
        raise HTTPException(404, f"unknown post {post_id}")
    return {"deleted": store.delete_post(post.id, by=post.author_id)}


class UserStateIn(BaseModel):
    """What happens to an account: suspended by X, or protected by its owner (or undone)."""

    suspended: bool | None = None
    protected: bool | None = None


@control_router.post("/users/{user_id}/state")
def set_user_state(request: Request, user_id: str, body: UserStateIn) -> dict[str, bool]:
    """Suspend or protect an account: its posts leave the bot's sight and can't be answered."""
    try:
        user = store_of(request).set_user_state(
            user_id, suspended=body.suspended, protected=body.protected
        )
    except UnknownUser as exc:
        raise HTTPException(404, f"unknown user {user_id}") from exc
    return {"suspended": user.suspended, "protected": user.protected}


@control_router.get("/posts")
def list_posts(
    request: Request, author_id: str | None = None, in_reply_to: str | None = None
) -> list[PostOut]:
    """Every post, deleted ones too, oldest first."""
    parent = int(in_reply_to) if in_reply_to and in_reply_to.isdigit() else None
    if in_reply_to and parent is None:
        return []
    return [post_out(p) for p in store_of(request).posts(author_id, parent)]


@control_router.post("/faults")
def set_fault(request: Request, body: FaultIn) -> dict[str, FaultIn]:
    """Install a fault; the endpoint's own fault wins over "*"."""
    limit = body.rate_limit
    store_of(request).set_fault(
        body.endpoint,
        Fault(
            latency_ms=body.latency_ms,
            error_ratio=body.error_ratio,
            status=body.status,
            rate_limit=RateLimit(limit.limit, limit.window_s) if limit else None,
            seed=body.seed,
            hold_ms=body.hold_ms,
            billing=body.billing(),
        ),
    )
    return _faults(store_of(request).faults())


@control_router.delete("/faults")
def clear_faults(request: Request) -> dict[str, FaultIn]:
    """Remove every fault and restore the default rate limits (GET /sandbox/limits)."""
    store_of(request).clear_faults()
    return {}


def _faults(faults: Mapping[str, Fault]) -> dict[str, FaultIn]:
    return {
        name: FaultIn.model_validate(
            {
                "endpoint": name,
                "latency_ms": f.latency_ms,
                "error_ratio": f.error_ratio,
                "status": f.status,
                "rate_limit": vars(f.rate_limit) if f.rate_limit else None,
                "seed": f.seed,
                "hold_ms": f.hold_ms,
                **_billing_fields(f.billing),
            }
        )
        for name, f in faults.items()
    }


def _billing_fields(billing: Billing | None) -> dict[str, object]:
    if billing is None:
        return {}
    if billing.kind == "credits_depleted":
        return {"credits_depleted": True}
    return {"usage_capped": {"period": billing.period, "scope": billing.scope}}


@control_router.get("/limits")
def limits(request: Request) -> dict[str, RateLimitIn]:
    """Every X endpoint's default rate limit: what applies while no fault replaces it, and what
    DELETE /sandbox/faults and /sandbox/reset restore (`mentionbot sandbox --limit` sets it)."""
    return {
        name: RateLimitIn(limit=rl.limit, window_s=rl.window_s)
        for name, rl in store_of(request).limits().items()
    }


@control_router.post("/reset")
def reset(request: Request) -> dict[str, bool]:
    """Forget users, posts, faults, windows and counters; keep the bot."""
    store_of(request).reset()
    return {"reset": True}


@control_router.get("/stats")
def stats(request: Request) -> StatsOut:
    """Request counts and response statuses per X endpoint."""
    return StatsOut.model_validate(store_of(request).stats())


@control_router.get("/health")
def health() -> dict[str, str]:
    """Liveness, for waiting on start-up."""
    return {"status": "ok"}
