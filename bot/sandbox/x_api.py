"""The sandbox's X API v2 endpoints, as tweepy 4.17 calls them (routes on x_router).

Each route is metered by XRoute (request counts, latency, rate limit, injected errors, X's
rate-limit headers); the JSON shapes come from bot.sandbox.render and the query
parsing from bot.sandbox.params.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import twitter_text
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from bot.sandbox.access import billing_response, refusal
from bot.sandbox.params import (
    ID_PATTERN,
    LOOKUP_PARAMS,
    ME_PARAMS,
    TIMELINE_PARAMS,
    Params,
    encode_token,
    vocabulary_of,
)
from bot.sandbox.records import DuplicateContent, NotAuthor, UnknownPost, UnknownUser
from bot.sandbox.render import (
    JSON,
    XError,
    XJSONResponse,
    invalid_request,
    not_found,
    problem,
    render_tweet,
    render_user,
    tweets_body,
)
from bot.sandbox.store import Store
from bot.sandbox.text import MAX_WEIGHTED_LENGTH, lone_surrogate
from bot.sandbox.vocabulary import VOCABULARIES

DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
REPLY_GONE_DETAIL = "You attempted to reply to a Tweet that is deleted or not visible to you."
RESTRICTED_DETAIL = (
    "Reply to this conversation is not allowed because you have not been mentioned or"
    " otherwise engaged by the author of the post you are replying to."
)
NOT_YOURS_DETAIL = "You are not allowed to delete this Tweet."
TOO_LONG_MESSAGE = (
    "Your Tweet text is too long. For more information on how Twitter determines text length"
    " see https://github.com/twitter/twitter-text."
)


class XRoute(APIRoute):
    """Meters an X endpoint (counts, latency, rate limit, injected errors) and adds X's headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        endpoint = self.name

        async def metered(request: Request) -> Response:
            store: Store = request.app.state.store
            words = vocabulary_of(request)
            # X checks who is asking before anything else (no rate-limit headers either).
            refused = refusal(
                request.app.state.credentials, endpoint, request.headers.get("authorization"), words
            )
            if refused is not None:
                store.record_status(endpoint, refused.status_code)
                return refused
            ticket = store.admit(endpoint, time.time())
            if ticket.latency_s:
                await asyncio.sleep(ticket.latency_s)
            response: Response
            if not ticket.allowed:
                response = XJSONResponse(problem(429, vocabulary=words), status_code=429)
            elif ticket.billing is not None:
                response = billing_response(ticket.billing)
            elif ticket.error_status is not None:
                status = ticket.error_status
                response = XJSONResponse(problem(status, vocabulary=words), status_code=status)
            else:
                try:
                    response = await handler(request)
                except XError as exc:
                    response = XJSONResponse(exc.body, status_code=exc.status)
                except RequestValidationError as exc:
                    error = invalid_request([{"message": _describe(exc)}], vocabulary=words)
                    response = XJSONResponse(error.body, status_code=400)
                if ticket.hold_s:
                    # Done (a post is stored), but the answer is late: a client that dies
                    # meanwhile has posted without knowing it.
                    await asyncio.sleep(ticket.hold_s)
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


x_router = APIRouter(route_class=XRoute, default_response_class=XJSONResponse, tags=["X API v2"])


def _documented(params: Iterable[str]) -> dict[str, Any]:
    # The handlers parse the query themselves (to answer in X's error format, in the request's
    # vocabulary); this only lists the parameters, under every vocabulary's names, on /docs.
    names = {words.wire(n) for n in params for words in VOCABULARIES.values()}
    return {
        "parameters": [
            {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
            for n in sorted(names)
        ]
    }


def store_of(request: Request) -> Store:
    """The sandbox store behind a request's app."""
    store: Store = request.app.state.store
    return store


@x_router.get("/2/users/me", name="me", openapi_extra=_documented(ME_PARAMS))
def get_me(request: Request) -> JSON:
    """The authenticated user (the bot)."""
    params = Params(request, ME_PARAMS)
    view = params.view(user=True)
    params.check()
    return {"data": render_user(store_of(request).bot, view.user_fields)}


def _timeline(request: Request, kind: str, user_id: str, allowed: frozenset[str]) -> JSON:
    params = Params(request, allowed)
    uid = params.post_id("id", user_id)
    max_results = params.max_results()
    since_id, until_id = params.post_id("since_id"), params.post_id("until_id")
    start_time, end_time = params.time("start_time"), params.time("end_time")
    before_id = params.token()
    exclude = params.names("exclude", frozenset(("replies", "retweets")))
    view = params.view()
    params.check()
    store = store_of(request)
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
        return {"errors": [not_found("user", "id", user_id, vocabulary=params.vocabulary)]}
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
    params = Params(request, LOOKUP_PARAMS)
    post_id = params.post_id("id", id)
    view = params.view()
    params.check()
    store = store_of(request)
    post = store.post(post_id) if post_id is not None else None
    if post is None:
        return {"errors": [not_found("tweet", "id", id, vocabulary=params.vocabulary)]}
    return tweets_body(store, [post], view, single=True)


_LOOKUP_MANY_PARAMS = LOOKUP_PARAMS | {"ids"}


@x_router.get("/2/tweets", name="tweet_lookup", openapi_extra=_documented(_LOOKUP_MANY_PARAMS))
def get_tweets(request: Request) -> JSON:
    """Up to 100 posts by id; unknown ids become Not Found errors beside the data."""
    params = Params(request, _LOOKUP_MANY_PARAMS)
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
    store = store_of(request)
    found = store.live_posts(i for i in ids if i is not None)
    body = tweets_body(store, [found[i] for i in ids if i in found], view)
    missing = [
        not_found("tweet", "ids", str(i), vocabulary=params.vocabulary)
        for i in ids
        if i not in found
    ]
    if missing:
        body["errors"] = body.get("errors", []) + missing
    return body


class CreateReply(BaseModel):
    """The reply part of a create-post request."""

    model_config = ConfigDict(extra="allow")
    in_reply_to_tweet_id: str = Field(pattern=ID_PATTERN)
    # X's spec: put the thread's handles before the text (the sandbox does only when asked).
    auto_populate_reply_metadata: bool = False
    exclude_reply_user_ids: list[str] = Field(default_factory=list)


class CreateTweet(BaseModel):
    """The create-post request; fields the sandbox does not model are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    text: str | None = None
    reply: CreateReply | None = None


@x_router.post("/2/tweets", name="create_tweet", status_code=201)
def create_tweet(request: Request, body: CreateTweet) -> JSON:
    """Post as the authenticated user (the bot)."""
    words = vocabulary_of(request)
    if not body.text:
        raise invalid_request(
            [{"message": "Tweet text is required and must not be empty."}], vocabulary=words
        )
    bad = lone_surrogate(body.text)
    if bad:
        message = f"Tweet text is not valid Unicode: it has {bad}."
        raise invalid_request([{"message": message}], vocabulary=words)
    if twitter_text.parse_tweet(body.text).weightedLength > MAX_WEIGHTED_LENGTH:
        raise invalid_request([{"message": TOO_LONG_MESSAGE}], vocabulary=words)
    parent = int(body.reply.in_reply_to_tweet_id) if body.reply else None
    store = store_of(request)
    try:
        handles: list[str] = []
        if parent is not None and store.post(parent) and not store.may_reply(parent, store.bot.id):
            raise XError(403, problem(403, RESTRICTED_DETAIL, vocabulary=words))
        if body.reply and parent is not None and body.reply.auto_populate_reply_metadata:
            handles = store.reply_handles(parent, store.bot.id, body.reply.exclude_reply_user_ids)
        post = store.create_post(store.bot.id, body.text, parent, handles)
    except DuplicateContent as exc:
        raise XError(403, problem(403, DUPLICATE_DETAIL, vocabulary=words)) from exc
    except UnknownPost as exc:
        # X answers 403 (its old code 385) when the parent is deleted or invisible.
        raise XError(403, problem(403, REPLY_GONE_DETAIL, vocabulary=words)) from exc
    return {"data": render_tweet(post, frozenset(), words)}


@x_router.delete("/2/tweets/{id}", name="delete_tweet")
def delete_tweet(request: Request, id: str) -> JSON:
    """Delete one of the bot's posts; an unknown or already deleted id gives deleted=false."""
    params = Params(request, frozenset())
    post_id = params.post_id("id", id)
    params.check()
    store = store_of(request)
    try:
        deleted = store.delete_post(post_id or 0, by=store.bot.id)
    except NotAuthor as exc:
        raise XError(403, problem(403, NOT_YOURS_DETAIL, vocabulary=params.vocabulary)) from exc
    return {"data": {"deleted": deleted}}
