"""The Platform protocol on X, through tweepy.Client (the only code that talks to X).

tweepy 4.17 hard-codes https://api.twitter.com; its public `session` seam is how the client
is pointed at another host (the sandbox): RedirectSession rewrites the host of every request.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from typing import Any

import requests
import structlog
import tweepy

from bot.platform.protocol import (
    Author,
    DuplicatePost,
    MentionsPage,
    PermanentPlatformError,
    PlatformError,
    Post,
    RateLimit,
    RateLimited,
    RepliesRestricted,
    TargetGone,
    TransientPlatformError,
)
from bot.platform.refusals import CreditsGate, account_refusal
from bot.settings import Settings

log = structlog.get_logger(__name__)

TWEET_FIELDS = [
    "conversation_id",
    "created_at",
    "referenced_tweets",
    "in_reply_to_user_id",
    "author_id",
    # Where the author's own text begins: X puts the thread's handles before a reply's text.
    "display_text_range",
    # A post over 280 weighted characters comes with a shortened `text`; the whole of it is
    # here, and only when asked for.
    "note_tweet",
    # Who may reply: a restricted conversation is skipped before any generation is spent.
    "reply_settings",
]
USER_FIELDS = ["username", "name", "subscription_type", "verified_type"]
# The referenced posts' authors too: their handles are what the thread context shows.
EXPANSIONS = ["author_id", "referenced_tweets.id", "referenced_tweets.id.author_id"]
# Lookups (thread context) only need each author's handle.
LOOKUP_EXPANSIONS = ["author_id"]
LOOKUP_USER_FIELDS = ["username"]
# X's JSON can carry an unpaired surrogate escape (\ud800); json decodes it to a str that
# no UTF-8 encoder (Postgres, httpx, logs) accepts, so it never leaves this module.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
DUPLICATE_DETAIL = "duplicate content"
# X's 403 details for a reply it will not take (matched on words: there is no code).
GONE_DETAIL = "deleted or not visible to you"
RESTRICTED_DETAIL = "Reply to this conversation is not allowed"


def _endpoint(method: str, url: str) -> str:
    """Name the endpoint a request went to, for per-endpoint rate-limit bookkeeping."""
    path = url.split("?", 1)[0]
    if path.endswith("/mentions"):
        return "mentions"
    if method == "POST" and path.endswith("/2/tweets"):
        return "create"
    if "/users/" in path and path.endswith("/tweets"):
        return "user_tweets"
    if method == "DELETE":
        return "delete"
    return "lookup"


X_HOSTS = ("https://api.twitter.com", "https://api.x.com")
# What the bot signs a sandbox's requests with when it has no X credentials (the sandbox's
# default Credentials accept these).
SANDBOX_KEY = "sandbox"
# The tweepy.Client methods the pay-per-use gate holds back, by the endpoint names rate
# limits are kept under (users/me, asked once at start-up, is not held back).
CALL_ENDPOINTS = {
    "get_users_mentions": "mentions",
    "get_tweets": "lookup",
    "get_users_tweets": "user_tweets",
    "create_tweet": "create",
    "delete_tweet": "delete",
}


class RedirectSession(requests.Session):
    """A requests session that sends X API calls to base_url instead.

    OAuth 1.0a signs the rewritten URL (auth is applied after the rewrite); the sandbox
    checks the keys, not the signature, and real X is never reached through a rewritten
    session.
    """

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def rewrite(self, url: str) -> str:
        """Return the URL with X's host replaced by the base URL."""
        for host in X_HOSTS:
            if url == host or url.startswith(host + "/"):
                return self.base_url + url[len(host) :]
        return url

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send the request, rewritten to the base URL when it targets X."""
        if isinstance(url, bytes):
            url = url.decode()
        return super().request(method, self.rewrite(url), *args, **kwargs)


class XSession(RedirectSession):
    """A requests session with a default timeout that records rate-limit headers."""

    def __init__(self, base_url: str | None, timeout_s: float = 30.0) -> None:
        super().__init__(base_url or "https://api.twitter.com")
        self.timeout_s = timeout_s
        self._limits: dict[str, RateLimit] = {}
        self._lock = threading.Lock()
        self.hooks["response"].append(self._record)
        # One connection per worker thread; the default pool of 10 drops the rest.
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        # tweepy passes no timeout; a hung connection must not hang a worker forever.
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)

    def _record(self, response: requests.Response, *_a: Any, **_k: Any) -> None:
        h = response.headers
        if "x-rate-limit-remaining" not in h:
            return
        try:
            rl = RateLimit(
                limit=int(h.get("x-rate-limit-limit", "0")),
                remaining=int(h["x-rate-limit-remaining"]),
                reset_at=float(h.get("x-rate-limit-reset", "0")),
            )
        except ValueError:
            return
        name = _endpoint(response.request.method or "GET", response.request.url or "")
        daily = _daily_limit(h)
        with self._lock:
            self._limits[name] = rl
            if daily is not None:
                self._limits[f"{name}_24h"] = daily

    def limit(self, endpoint: str) -> RateLimit | None:
        """The latest figures seen for `endpoint`."""
        with self._lock:
            return self._limits.get(endpoint)


def well_formed(text: str) -> str:
    """The text without unpaired surrogates (what X's JSON may carry and UTF-8 cannot)."""
    return _LONE_SURROGATE.sub("", text)


def _display_start(tweet: Any, text: str) -> int | None:
    """Where the author's own text begins in the cleaned text (None when X did not say).

    display_text_range counts code points, as Python's str does; only what is dropped before
    the start moves it."""
    span = tweet.data.get("display_text_range")
    if not (isinstance(span, list) and span and isinstance(span[0], int) and span[0] >= 0):
        return None
    return min(len(well_formed(tweet.text[: span[0]])), len(text))


def _request_error(exc: tweepy.HTTPException) -> PlatformError:
    """The protocol's error for an X error about the request (not about the account)."""
    if isinstance(exc, tweepy.TooManyRequests):
        return _rate_limited(exc)
    if isinstance(exc, tweepy.Forbidden):
        return _forbidden(exc)
    if isinstance(exc, tweepy.TwitterServerError):
        return TransientPlatformError(f"server error {exc.response.status_code}")
    return PermanentPlatformError(f"http {exc.response.status_code}: {exc.api_messages}")


def _rate_limited(exc: tweepy.TooManyRequests) -> RateLimited:
    headers = exc.response.headers
    reset = float(headers.get("x-rate-limit-reset") or time.time() + 60)
    daily = _daily_limit(headers)
    if daily is not None and daily.remaining <= 0:
        # The day's posts are spent: the 15-minute reset would only earn another 429.
        reset = max(reset, daily.reset_at)
    return RateLimited(reset)


def _forbidden(exc: tweepy.Forbidden) -> PlatformError:
    """A 403 about the request: a duplicate, a post gone, replies restricted, or else."""
    if any(DUPLICATE_DETAIL in str(m) for m in exc.api_messages) or DUPLICATE_DETAIL in str(exc):
        return DuplicatePost("duplicate content")
    said = " ".join(str(m) for m in exc.api_messages) + " " + str(exc)
    if GONE_DETAIL in said:
        return TargetGone("the post is deleted or not visible")
    if RESTRICTED_DETAIL in said:
        return RepliesRestricted("the conversation's reply settings")
    return PermanentPlatformError(f"forbidden: {exc.api_messages}")


def _daily_limit(headers: Any) -> RateLimit | None:
    """The tighter of X's 24-hour posting windows (x-user-limit-24hour-*, x-app-limit-...),
    when the response carries them."""
    found: list[RateLimit] = []
    for scope in ("user", "app"):
        prefix = f"x-{scope}-limit-24hour-"
        if prefix + "remaining" not in headers:
            continue
        try:
            found.append(
                RateLimit(
                    limit=int(headers.get(prefix + "limit", "0")),
                    remaining=int(headers[prefix + "remaining"]),
                    reset_at=float(headers.get(prefix + "reset", "0")),
                )
            )
        except ValueError:
            continue
    return min(found, key=lambda rl: rl.remaining) if found else None


def _post(tweet: Any, usernames: dict[str, str] | None = None) -> Post:
    refs = {ref.type: str(ref.id) for ref in getattr(tweet, "referenced_tweets", None) or []}
    in_reply_to = refs.get("replied_to")
    author_id = str(tweet.author_id) if tweet.author_id is not None else None
    note = (tweet.data.get("note_tweet") or {}).get("text")
    history = getattr(tweet, "edit_history_tweet_ids", None) or []
    edit_root = str(history[0]) if history and str(history[0]) != str(tweet.id) else None
    text = well_formed(note or tweet.text)
    return Post(
        id=str(tweet.id),
        text=text,
        author_id=author_id,
        conversation_id=str(tweet.conversation_id) if tweet.conversation_id else None,
        in_reply_to_post_id=in_reply_to,
        created_at=tweet.created_at,
        author_username=(usernames or {}).get(author_id or ""),
        display_start=_display_start(tweet, text),
        edit_root=edit_root,
        quoted_post_id=refs.get("quoted"),
        repost_of=refs.get("retweeted"),
        reply_settings=getattr(tweet, "reply_settings", None),
    )


def _usernames(resp: Any) -> dict[str, str]:
    """Handle by user id, from a response's expanded users."""
    return {str(u.id): well_formed(u.username) for u in (resp.includes or {}).get("users", [])}


def _author(user: Any) -> Author:
    return Author(
        platform_id=str(user.id),
        username=well_formed(user.username),
        name=well_formed(user.name or ""),
        subscription_type=user.data.get("subscription_type"),
        verified_type=user.data.get("verified_type"),
    )


class XPlatform:
    """Platform on the X API v2 (or the sandbox, which speaks the same HTTP)."""

    def __init__(
        self, client: tweepy.Client, session: XSession, *, credits_probe_s: float = 60.0
    ) -> None:
        self.client = client
        self.session = session
        self.gate = CreditsGate(credits_probe_s)
        # Reads use the app's bearer token when there is one; otherwise the user context.
        self.read_user_auth = client.bearer_token is None

    @classmethod
    def from_settings(cls, settings: Settings) -> XPlatform:
        """Build the tweepy client from settings, pointed at the sandbox when one is set."""

        def secret(value: Any) -> str | None:
            return value.get_secret_value() if value is not None else None

        consumer_key = secret(settings.x_consumer_key)
        bearer = secret(settings.x_bearer_token)
        creds: dict[str, str | None]
        if settings.x_api_url and consumer_key is None and bearer is None:
            # A sandbox with nothing configured: the keys its defaults accept.
            creds = dict.fromkeys(
                ("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
                SANDBOX_KEY,
            )
        else:
            creds = {
                "consumer_key": consumer_key,
                "consumer_secret": secret(settings.x_consumer_secret),
                "access_token": secret(settings.x_access_token),
                "access_token_secret": secret(settings.x_access_token_secret),
            }
        client = tweepy.Client(bearer_token=bearer, wait_on_rate_limit=False, **creds)
        session = XSession(settings.x_api_url)
        client.session = session
        return cls(client, session, credits_probe_s=settings.credits_probe_s)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # While X refuses this kind of call for pay-per-use, the gate answers for it.
        endpoint = CALL_ENDPOINTS.get(getattr(fn, "__name__", ""))
        if endpoint is None:
            return self._send(fn, *args, **kwargs)
        with self.gate.attempt(endpoint):
            return self._send(fn, *args, **kwargs)

    def _send(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # Map tweepy's exceptions onto the protocol's transient/permanent split.
        try:
            return fn(*args, **kwargs)
        except tweepy.HTTPException as exc:
            # About the account, not the request: credentials, pay-per-use.
            refused = account_refusal(
                exc,
                user_context=bool(kwargs.get("user_auth")),
                probe_at=time.time() + self.gate.probe_s,
            )
            raise (refused or _request_error(exc)) from None
        except requests.RequestException as exc:
            raise TransientPlatformError(f"connection: {type(exc).__name__}") from None

    def me(self) -> Author:
        """The bot account."""
        resp = self._call(self.client.get_me, user_auth=True, user_fields=USER_FIELDS)
        return _author(resp.data)

    def mentions(
        self,
        user_id: str,
        *,
        since_id: str | None = None,
        until_id: str | None = None,
        pagination_token: str | None = None,
        max_results: int = 100,
    ) -> MentionsPage:
        """One page of mentions with authors expanded (docs/design.md §2 step 1 fields)."""
        resp = self._call(
            self.client.get_users_mentions,
            user_id,
            since_id=since_id,
            until_id=until_id,
            pagination_token=pagination_token,
            max_results=max_results,
            expansions=EXPANSIONS,
            tweet_fields=TWEET_FIELDS,
            user_fields=USER_FIELDS,
            user_auth=self.read_user_auth,
        )
        includes = resp.includes or {}
        usernames = _usernames(resp)
        return MentionsPage(
            posts=[_post(t, usernames) for t in resp.data or []],
            authors={str(u.id): _author(u) for u in includes.get("users", [])},
            next_token=(resp.meta or {}).get("next_token"),
            referenced={str(t.id): _post(t, usernames) for t in includes.get("tweets", [])},
        )

    def get_posts(self, ids: Sequence[str]) -> list[Post]:
        """Look up to 100 posts by id, each with its author's handle."""
        if not ids:
            return []
        resp = self._call(
            self.client.get_tweets,
            list(ids)[:100],
            expansions=LOOKUP_EXPANSIONS,
            tweet_fields=TWEET_FIELDS,
            user_fields=LOOKUP_USER_FIELDS,
            user_auth=self.read_user_auth,
        )
        usernames = _usernames(resp)
        return [_post(t, usernames) for t in resp.data or []]

    def create_reply(self, text: str, in_reply_to_post_id: str) -> str:
        """Post a reply; returns the new post id."""
        resp = self._call(
            self.client.create_tweet,
            text=text,
            in_reply_to_tweet_id=in_reply_to_post_id,
            user_auth=True,
        )
        return str(resp.data["id"])

    def delete_post(self, post_id: str) -> bool:
        """DELETE /2/tweets/:id as the bot; False when X says there was nothing to delete."""
        resp = self._call(self.client.delete_tweet, post_id, user_auth=True)
        return bool((resp.data or {}).get("deleted"))

    def find_reply(self, author_id: str, in_reply_to_post_id: str) -> str | None:
        """Search the author's posts newer than the target for a reply to it."""
        token: str | None = None
        for _ in range(8):
            resp = self._call(
                self.client.get_users_tweets,
                author_id,
                since_id=in_reply_to_post_id,
                max_results=100,
                pagination_token=token,
                tweet_fields=TWEET_FIELDS,
                user_auth=self.read_user_auth,
            )
            for tweet in resp.data or []:
                if _post(tweet).in_reply_to_post_id == in_reply_to_post_id:
                    return str(tweet.id)
            token = (resp.meta or {}).get("next_token")
            if not token:
                return None
        return None

    def rate_limit(self, endpoint: str) -> RateLimit | None:
        """The latest rate-limit figures for an endpoint (`mentions`, `create`, ...)."""
        return self.session.limit(endpoint)
