"""The sandbox's X API v2 endpoints, as tweepy 4.17 calls them, and X's JSON shapes.

Tweets, users, errors and rate-limit headers are rendered here; the routes live on x_router.
"""

from __future__ import annotations

import asyncio
import string
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import twitter_text
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from bot.sandbox.store import (
    DuplicateContent,
    NotAuthor,
    Post,
    Store,
    UnknownPost,
    UnknownUser,
    User,
)

JSON = dict[str, Any]
INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
REPLY_GONE_DETAIL = "You attempted to reply to a Tweet that is deleted or not visible to you."
NOT_YOURS_DETAIL = "You are not allowed to delete this Tweet."
TOO_LONG_MESSAGE = (
    "Your Tweet text is too long. For more information on how Twitter determines text length"
    " see https://github.com/twitter/twitter-text."
)
MAX_WEIGHTED_LENGTH = 280
_ID_PATTERN = "^[0-9]{1,19}$"

# X validates field names against its full vocabulary: names it knows but the sandbox does not
# model are accepted and left out (as X leaves out fields a post has no value for).
# fmt: off
TWEET_FIELDS = frozenset((
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
    "conversation_id", "created_at", "display_text_range", "edit_controls",
    "edit_history_tweet_ids", "entities", "geo", "id", "in_reply_to_user_id", "lang",
    "media_metadata", "non_public_metrics", "note_tweet", "organic_metrics",
    "possibly_sensitive", "promoted_metrics", "public_metrics", "referenced_tweets",
    "reply_settings", "scopes", "source", "text", "withheld",
))
USER_FIELDS = frozenset((
    "affiliation", "connection_status", "created_at", "description", "entities", "id",
    "location", "most_recent_tweet_id", "name", "pinned_tweet_id", "profile_banner_url",
    "profile_image_url", "protected", "public_metrics", "receives_your_dm", "subscription",
    "subscription_type", "url", "username", "verified", "verified_followers_count",
    "verified_type", "withheld",
))
TWEET_EXPANSIONS = frozenset((
    "article.cover_media", "article.media_entities", "attachments.media_keys",
    "attachments.media_source_tweet", "attachments.poll_ids", "author_id",
    "edit_history_tweet_ids", "entities.mentions.username", "entities.note.mentions.username",
    "geo.place_id", "in_reply_to_user_id", "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id",
))
USER_EXPANSIONS = frozenset(("affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id"))
_OTHER_FIELDS = ("media.fields", "place.fields", "poll.fields")
LOOKUP_PARAMS = frozenset(("expansions", "tweet.fields", "user.fields", *_OTHER_FIELDS))
TIMELINE_PARAMS = LOOKUP_PARAMS | {
    "max_results", "pagination_token", "since_id", "until_id", "start_time", "end_time",
}
ME_PARAMS = frozenset(("expansions", "tweet.fields", "user.fields"))
# fmt: on
# Requesting an expansion makes X include the field it expands.
_IMPLIED_FIELDS = {
    "author_id": "author_id",
    "in_reply_to_user_id": "in_reply_to_user_id",
    "referenced_tweets.id": "referenced_tweets",
    "referenced_tweets.id.author_id": "referenced_tweets",
}


class XError(Exception):
    """An X API error answer."""

    def __init__(self, status: int, body: JSON) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class XJSONResponse(JSONResponse):
    """JSON with the content type X sends (tweepy's AsyncClient needs it on errors too)."""

    media_type = "application/json; charset=utf-8"


def format_time(moment: datetime) -> str:
    """Format a time the way X does: 2025-01-15T10:30:00.000Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def problem(status: int, detail: str | None = None) -> JSON:
    """Return X's plain problem body (403, 429, 5xx)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"detail": detail or phrase, "type": "about:blank", "title": phrase, "status": status}


def invalid_request(errors: list[JSON]) -> XError:
    """Return X's 400 for invalid parameters."""
    return XError(
        400,
        {
            "errors": errors,
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": INVALID_REQUEST,
        },
    )


def not_found(resource: str, parameter: str, value: str) -> JSON:
    """Return one of X's "Not Found Error" resource errors."""
    return {
        "value": value,
        "detail": f"Could not find {resource} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "type": NOT_FOUND,
    }


class _XRoute(APIRoute):
    """Meters an X endpoint (counts, latency, rate limit, injected errors) and adds X's headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        endpoint = self.name

        async def metered(request: Request) -> Response:
            store: Store = request.app.state.store
            ticket = store.admit(endpoint, time.time())
            if ticket.latency_s:
                await asyncio.sleep(ticket.latency_s)
            response: Response
            if not ticket.allowed:
                response = XJSONResponse(problem(429), status_code=429)
            elif ticket.error_status is not None:
                status = ticket.error_status
                response = XJSONResponse(problem(status), status_code=status)
            else:
                try:
                    response = await handler(request)
                except XError as exc:
                    response = XJSONResponse(exc.body, status_code=exc.status)
                except RequestValidationError as exc:
                    error = invalid_request([{"message": _describe(exc)}])
                    response = XJSONResponse(error.body, status_code=400)
            response.headers.update(ticket.headers())
            store.record_status(endpoint, response.status_code)
            return response

        return metered


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"$.{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
    return "; ".join(parts) or "Invalid request body"


@dataclass(frozen=True)
class _View:
    tweet_fields: frozenset[str]
    user_fields: frozenset[str]
    expansions: frozenset[str]


class _Params:
    """Parses X query parameters, collecting every problem into one X-style 400."""

    def __init__(self, request: Request, allowed: frozenset[str]) -> None:
        self._query = request.query_params
        self.errors: list[JSON] = []
        for name in self._query:
            if name not in allowed:
                self._fail(
                    name,
                    self._query[name],
                    f"The query parameter [{name}] is not one of [{','.join(sorted(allowed))}]",
                )

    def _fail(self, name: str, value: str, message: str) -> None:
        self.errors.append({"parameters": {name: [value]}, "message": message})

    def check(self) -> None:
        """Raise the collected problems, if any."""
        if self.errors:
            raise invalid_request(self.errors)

    def post_id(self, name: str, value: str | None = None) -> int | None:
        """Parse an id parameter (query, or the path when value is given)."""
        raw = value if value is not None else self._query.get(name)
        if raw is None:
            return None
        if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 19):
            self._fail(name, raw, f"The `{name}` query parameter value [{raw}] is not valid")
            return None
        return int(raw)

    def max_results(self, default: int = 10, low: int = 5, high: int = 100) -> int:
        """Parse max_results, which X bounds."""
        raw = self._query.get("max_results")
        if raw is None:
            return default
        if raw.isascii() and raw.isdigit() and low <= int(raw) <= high:
            return int(raw)
        self._fail(
            "max_results",
            raw,
            f"The `max_results` query parameter value [{raw}] is not between {low} and {high}",
        )
        return default

    def names(self, name: str, known: frozenset[str]) -> frozenset[str]:
        """Parse a comma-separated list of names from a fixed vocabulary."""
        raw = self._query.get(name)
        if raw is None:
            return frozenset()
        values = frozenset(v for v in raw.split(",") if v)
        for bad in sorted(values - known):
            self._fail(
                name,
                bad,
                f"The `{name}` query parameter value [{bad}] is not one of"
                f" [{','.join(sorted(known))}]",
            )
        return values & known

    def time(self, name: str) -> datetime | None:
        """Parse an RFC 3339 time (tweepy sends seconds, others milliseconds)."""
        raw = self._query.get(name)
        if raw is None:
            return None
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            self._fail(name, raw, f"Invalid date format for parameter `{name}`: [{raw}]")
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def token(self) -> int | None:
        """Parse a pagination token this sandbox issued."""
        raw = self._query.get("pagination_token")
        if raw is None:
            return None
        decoded = decode_token(raw)
        if decoded is None:
            self._fail(
                "pagination_token",
                raw,
                f"The `pagination_token` query parameter value [{raw}] is not a valid token",
            )
        return decoded

    def view(self, expansions: frozenset[str] = TWEET_EXPANSIONS) -> _View:
        """Parse which fields and expansions the caller asked for."""
        asked = self.names("expansions", expansions)
        implied = {_IMPLIED_FIELDS[e] for e in asked if e in _IMPLIED_FIELDS}
        return _View(
            tweet_fields=self.names("tweet.fields", TWEET_FIELDS) | implied,
            user_fields=self.names("user.fields", USER_FIELDS),
            expansions=asked,
        )


_CURSOR_ALPHABET = string.digits + string.ascii_lowercase
_CURSOR_PREFIX = "sbx"


def encode_token(post_id: int) -> str:
    """Return the opaque next_token that continues below a post id."""
    digits = []
    while post_id:
        post_id, rest = divmod(post_id, 36)
        digits.append(_CURSOR_ALPHABET[rest])
    return _CURSOR_PREFIX + "".join(reversed(digits))


def decode_token(token: str) -> int | None:
    """Return the post id a next_token continues below, or None if it is not ours."""
    body = token.removeprefix(_CURSOR_PREFIX)
    if body == token or not body or any(c not in _CURSOR_ALPHABET for c in body):
        return None
    return int(body, 36)


def render_user(user: User, fields: frozenset[str]) -> JSON:
    """Render a user with only the fields asked for."""
    out: JSON = {"id": user.id, "name": user.name, "username": user.username}
    optional: JSON = {
        "created_at": format_time(user.created_at),
        "description": user.description,
        "protected": False,
        "subscription_type": user.subscription_type,
        "verified": user.verified_type != "none",
        "verified_type": user.verified_type,
    }
    out.update({k: v for k, v in optional.items() if k in fields})
    return out


def render_tweet(post: Post, fields: frozenset[str]) -> JSON:
    """Render a post with only the fields asked for (and only those it has values for)."""
    out: JSON = {"id": str(post.id), "text": post.text, "edit_history_tweet_ids": [str(post.id)]}
    optional: JSON = {
        "author_id": post.author_id,
        "conversation_id": str(post.conversation_id),
        "created_at": format_time(post.created_at),
    }
    if post.in_reply_to is not None:
        optional["in_reply_to_user_id"] = post.in_reply_to_user_id
        optional["referenced_tweets"] = [{"type": "replied_to", "id": str(post.in_reply_to)}]
    out.update({k: v for k, v in optional.items() if k in fields})
    return out


def _expand(store: Store, posts: list[Post], view: _View) -> tuple[JSON, list[JSON]]:
    user_ids: list[str] = []
    if "author_id" in view.expansions:
        user_ids += [p.author_id for p in posts]
    if "in_reply_to_user_id" in view.expansions:
        user_ids += [p.in_reply_to_user_id for p in posts if p.in_reply_to_user_id]
    includes: JSON = {}
    errors: list[JSON] = []
    if view.expansions & {"referenced_tweets.id", "referenced_tweets.id.author_id"}:
        wanted = list(dict.fromkeys(p.in_reply_to for p in posts if p.in_reply_to is not None))
        found = store.live_posts(wanted)
        errors += [
            not_found("tweet", "referenced_tweets.id", str(i)) for i in wanted if i not in found
        ]
        referenced = [found[i] for i in wanted if i in found]
        if referenced and "referenced_tweets.id" in view.expansions:
            includes["tweets"] = [render_tweet(p, view.tweet_fields) for p in referenced]
        if "referenced_tweets.id.author_id" in view.expansions:
            user_ids += [p.author_id for p in referenced]
    users = store.users(user_ids)
    if users:
        includes["users"] = [render_user(u, view.user_fields) for u in users]
    return includes, errors


def tweets_body(store: Store, posts: list[Post], view: _View, *, single: bool = False) -> JSON:
    """Render posts as X's data/includes/errors body."""
    body: JSON = {}
    if posts:
        rendered = [render_tweet(p, view.tweet_fields) for p in posts]
        body["data"] = rendered[0] if single else rendered
        includes, errors = _expand(store, posts, view)
        if includes:
            body["includes"] = includes
        if errors:
            body["errors"] = errors
    return body


x_router = APIRouter(route_class=_XRoute, default_response_class=XJSONResponse, tags=["X API v2"])


def _documented(params: Iterable[str]) -> dict[str, Any]:
    # The handlers parse the query themselves (to answer in X's error format); this only lists
    # the parameters on /docs.
    return {
        "parameters": [
            {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
            for n in sorted(params)
        ]
    }


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


@x_router.get("/2/users/me", name="me", openapi_extra=_documented(ME_PARAMS))
def get_me(request: Request) -> JSON:
    """The authenticated user (the bot)."""
    params = _Params(request, ME_PARAMS)
    view = params.view(USER_EXPANSIONS)
    params.check()
    return {"data": render_user(_store(request).bot, view.user_fields)}


def _timeline(request: Request, kind: str, user_id: str, allowed: frozenset[str]) -> JSON:
    params = _Params(request, allowed)
    uid = params.post_id("id", user_id)
    max_results = params.max_results()
    since_id, until_id = params.post_id("since_id"), params.post_id("until_id")
    start_time, end_time = params.time("start_time"), params.time("end_time")
    before_id = params.token()
    exclude = params.names("exclude", frozenset(("replies", "retweets")))
    view = params.view()
    params.check()
    store = _store(request)
    try:
        page = store.timeline(
            kind,
            str(uid),
            max_results=max_results,
            since_id=since_id,
            until_id=until_id,
            before_id=before_id,
            start_time=start_time,
            end_time=end_time,
            exclude_replies="replies" in exclude,
        )
    except UnknownUser:
        return {"errors": [not_found("user", "id", user_id)]}
    body = tweets_body(store, page.posts, view)
    meta: JSON = {"result_count": len(page.posts)}
    if page.posts:
        meta["newest_id"] = str(page.posts[0].id)
        meta["oldest_id"] = str(page.posts[-1].id)
    if page.has_more:
        meta["next_token"] = encode_token(page.posts[-1].id)
    body["meta"] = meta
    return body


@x_router.get("/2/users/{id}/mentions", name="mentions", openapi_extra=_documented(TIMELINE_PARAMS))
def get_users_mentions(request: Request, id: str) -> JSON:
    """Posts mentioning the user, newest first (the 800 most recent at most)."""
    return _timeline(request, "mentions", id, TIMELINE_PARAMS)


_USER_TWEETS_PARAMS = TIMELINE_PARAMS | {"exclude"}


@x_router.get(
    "/2/users/{id}/tweets", name="user_tweets", openapi_extra=_documented(_USER_TWEETS_PARAMS)
)
def get_users_tweets(request: Request, id: str) -> JSON:
    """The user's own posts, newest first."""
    return _timeline(request, "tweets", id, _USER_TWEETS_PARAMS)


@x_router.get("/2/tweets/{id}", name="tweet_lookup", openapi_extra=_documented(LOOKUP_PARAMS))
def get_tweet(request: Request, id: str) -> JSON:
    """One post by id; an unknown id is a 200 with a Not Found error, as on X."""
    params = _Params(request, LOOKUP_PARAMS)
    post_id = params.post_id("id", id)
    view = params.view()
    params.check()
    store = _store(request)
    post = store.post(post_id) if post_id is not None else None
    if post is None:
        return {"errors": [not_found("tweet", "id", id)]}
    return tweets_body(store, [post], view, single=True)


_LOOKUP_MANY_PARAMS = LOOKUP_PARAMS | {"ids"}


@x_router.get("/2/tweets", name="tweet_lookup", openapi_extra=_documented(_LOOKUP_MANY_PARAMS))
def get_tweets(request: Request) -> JSON:
    """Up to 100 posts by id; unknown ids become Not Found errors beside the data."""
    params = _Params(request, _LOOKUP_MANY_PARAMS)
    raw = [i for i in request.query_params.get("ids", "").split(",") if i]
    if not 1 <= len(raw) <= 100:
        params.errors.append(
            {
                "parameters": {"ids": [request.query_params.get("ids", "")]},
                "message": f"The number of values in the `ids` query parameter list [{len(raw)}]"
                " is not between 1 and 100",
            }
        )
    ids = [params.post_id("ids", i) for i in dict.fromkeys(raw)]
    view = params.view()
    params.check()
    store = _store(request)
    found = store.live_posts(i for i in ids if i is not None)
    body = tweets_body(store, [found[i] for i in ids if i in found], view)
    missing = [not_found("tweet", "ids", str(i)) for i in ids if i not in found]
    if missing:
        body["errors"] = body.get("errors", []) + missing
    return body


class CreateReply(BaseModel):
    """The reply part of a create-post request."""

    model_config = ConfigDict(extra="allow")
    in_reply_to_tweet_id: str = Field(pattern=_ID_PATTERN)


class CreateTweet(BaseModel):
    """The create-post request; fields the sandbox does not model are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    text: str | None = None
    reply: CreateReply | None = None


@x_router.post("/2/tweets", name="create_tweet", status_code=201)
def create_tweet(request: Request, body: CreateTweet) -> JSON:
    """Post as the authenticated user (the bot); no OAuth check is made."""
    if not body.text:
        raise invalid_request([{"message": "Tweet text is required and must not be empty."}])
    if twitter_text.parse_tweet(body.text).weightedLength > MAX_WEIGHTED_LENGTH:
        raise invalid_request([{"message": TOO_LONG_MESSAGE}])
    parent = int(body.reply.in_reply_to_tweet_id) if body.reply else None
    store = _store(request)
    try:
        post = store.create_post(store.bot.id, body.text, parent)
    except DuplicateContent as exc:
        raise XError(403, problem(403, DUPLICATE_DETAIL)) from exc
    except UnknownPost as exc:
        # X answers 403 (its old code 385) when the parent is deleted or invisible.
        raise XError(403, problem(403, REPLY_GONE_DETAIL)) from exc
    return {"data": render_tweet(post, frozenset())}


@x_router.delete("/2/tweets/{id}", name="delete_tweet")
def delete_tweet(request: Request, id: str) -> JSON:
    """Delete one of the bot's posts; an unknown or already deleted id gives deleted=false."""
    params = _Params(request, frozenset())
    post_id = params.post_id("id", id)
    params.check()
    store = _store(request)
    try:
        deleted = store.delete_post(post_id or 0, by=store.bot.id)
    except NotAuthor as exc:
        raise XError(403, problem(403, NOT_YOURS_DETAIL)) from exc
    return {"data": {"deleted": deleted}}
