"""X's JSON shapes as the sandbox renders them: posts, users, errors, pagination tokens."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

from bot.sandbox.records import Post, User
from bot.sandbox.store import Store
from bot.sandbox.text import shortened
from bot.sandbox.vocabulary import CLASSIC, Vocabulary

JSON = dict[str, Any]
# v2.167's problem for a status that has no type of its own (its Problem is a oneOf of typed
# problems, with no about:blank): a spent rate limit makes the endpoint unavailable for now, 5xx
# is an internal error, any other 4xx a disallowed one.
_TYPED_BY_STATUS = {
    400: "invalid-request",
    404: "resource-not-found",
    429: "resource-unavailable",
}
# The typed problems that must say what kind of resource they are about.
_ABOUT_A_RESOURCE = ("resource-not-found", "resource-unavailable")


class XError(Exception):
    """An X API error answer."""

    def __init__(self, status: int, body: JSON) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class XJSONResponse(JSONResponse):
    """JSON with the content type X sends (tweepy's AsyncClient needs it on errors too).

    Text with a lone surrogate (X's JSON can carry one) cannot be encoded as UTF-8; it
    goes out as a \\udXXX escape, as X sends it, instead of failing the request with a 500.
    """

    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        """Serialise as compact UTF-8 JSON, escaping what UTF-8 cannot carry."""
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(
                content, ensure_ascii=True, allow_nan=False, indent=None, separators=(",", ":")
            ).encode("ascii")


def format_time(moment: datetime) -> str:
    """Format a time the way X does: 2025-01-15T10:30:00.000Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def problem(status: int, detail: str | None = None, *, vocabulary: Vocabulary = CLASSIC) -> JSON:
    """Return X's problem body for a status (403, 404, 429, 5xx): the generic about:blank one
    in the classic vocabulary, typed by the status in v2.167 (whose resource is the endpoint
    when the type must name one)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body: JSON = {"detail": detail or phrase, "type": "about:blank", "title": phrase}
    if vocabulary.typed_problems:
        default = "internal-error" if status >= 500 else "disallowed-resource"
        kind = _TYPED_BY_STATUS.get(status, default)
        body["type"] = vocabulary.problem_types + kind
        if kind in _ABOUT_A_RESOURCE:
            body["resource_type"] = "endpoint"
    body["status"] = status
    return body


def invalid_request(errors: list[JSON], *, vocabulary: Vocabulary = CLASSIC) -> XError:
    """Return X's 400 for invalid parameters."""
    return XError(
        400,
        {
            "errors": errors,
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": vocabulary.problem_types + "invalid-request",
        },
    )


def not_found(
    resource: str, parameter: str, value: str, *, vocabulary: Vocabulary = CLASSIC
) -> JSON:
    """Return one of X's "Not Found Error" resource errors."""
    return {
        "value": value,
        "detail": f"Could not find {resource} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "type": vocabulary.problem_types + "resource-not-found",
    }


@dataclass(frozen=True)
class View:
    """Which fields and expansions a request asked for."""

    tweet_fields: frozenset[str]
    user_fields: frozenset[str]
    expansions: frozenset[str]
    # The names the answer uses (the fields and expansions above are in the sandbox's).
    vocabulary: Vocabulary = CLASSIC


def render_user(user: User, fields: frozenset[str]) -> JSON:
    """Render a user with only the fields asked for."""
    out: JSON = {"id": user.id, "name": user.name, "username": user.username}
    optional: JSON = {
        "created_at": format_time(user.created_at),
        "description": user.description,
        "protected": user.protected,
        "subscription_type": user.subscription_type,
        "verified": user.verified_type != "none",
        "verified_type": user.verified_type,
    }
    out.update({k: v for k, v in optional.items() if k in fields})
    return out


def render_tweet(post: Post, fields: frozenset[str], vocabulary: Vocabulary = CLASSIC) -> JSON:
    """Render a post with only the fields asked for (and only those it has values for), under
    the vocabulary's names."""
    # A long post's `text` is its start; the whole of it only under note_tweet, when asked.
    short = shortened(post.text)
    text = post.text if short is None else short
    history = [str(i) for i in post.edit_history or (post.id,)]
    out: JSON = {
        "id": str(post.id),
        "text": text,
        vocabulary.wire("edit_history_tweet_ids"): history,
    }
    optional: JSON = {
        "author_id": post.author_id,
        "conversation_id": str(post.conversation_id),
        "created_at": format_time(post.created_at),
        "display_text_range": [post.display_start, len(text)],
        "reply_settings": post.reply_settings,
    }
    if short is not None:
        optional["note_tweet"] = {"text": post.text}
    refs = [{"type": kind, "id": str(ref)} for kind, ref in post.references]
    if post.in_reply_to is not None:
        optional["in_reply_to_user_id"] = post.in_reply_to_user_id
        refs.insert(0, {"type": "replied_to", "id": str(post.in_reply_to)})
    if refs:
        optional["referenced_tweets"] = refs
    out.update({vocabulary.wire(k): v for k, v in optional.items() if k in fields})
    return out


def _referenced(post: Post) -> list[int]:
    """The ids a post's referenced_tweets names: the replied-to post, then quoted/reposted."""
    parent = [post.in_reply_to] if post.in_reply_to is not None else []
    return parent + [ref for _, ref in post.references]


def expand(store: Store, posts: list[Post], view: View) -> tuple[JSON, list[JSON]]:
    """The includes a view's expansions ask for, and an error for each referenced post gone."""
    words = view.vocabulary
    user_ids: list[str] = []
    if "author_id" in view.expansions:
        user_ids += [p.author_id for p in posts]
    if "in_reply_to_user_id" in view.expansions:
        user_ids += [p.in_reply_to_user_id for p in posts if p.in_reply_to_user_id]
    includes: JSON = {}
    errors: list[JSON] = []
    if view.expansions & {"referenced_tweets.id", "referenced_tweets.id.author_id"}:
        wanted = list(dict.fromkeys(i for p in posts for i in _referenced(p)))
        found = store.live_posts(wanted)
        parameter = words.wire_expansion("referenced_tweets.id")
        errors += [
            not_found("tweet", parameter, str(i), vocabulary=words)
            for i in wanted
            if i not in found
        ]
        referenced = [found[i] for i in wanted if i in found]
        if referenced and "referenced_tweets.id" in view.expansions:
            includes[words.wire("tweets")] = [
                render_tweet(p, view.tweet_fields, words) for p in referenced
            ]
        if "referenced_tweets.id.author_id" in view.expansions:
            user_ids += [p.author_id for p in referenced]
    users = store.users(user_ids)
    if users:
        includes["users"] = [render_user(u, view.user_fields) for u in users]
    return includes, errors


def tweets_body(store: Store, posts: list[Post], view: View, *, single: bool = False) -> JSON:
    """Render posts as X's data/includes/errors body."""
    body: JSON = {}
    if posts:
        rendered = [render_tweet(p, view.tweet_fields, view.vocabulary) for p in posts]
        body["data"] = rendered[0] if single else rendered
        includes, errors = expand(store, posts, view)
        if includes:
            body["includes"] = includes
        if errors:
            body["errors"] = errors
    return body
