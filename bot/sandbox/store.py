"""In-memory state of the X API sandbox: users, posts, rate-limit windows, faults, counters."""

from __future__ import annotations

import bisect
import itertools
import math
import random
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot.platform.snowflake import snowflake
from bot.sandbox.limits import DAILY_LIMITS, ENDPOINTS, RateLimit, default_limits
from bot.sandbox.records import (
    DuplicateContent,
    Fault,
    NotAuthor,
    Post,
    SandboxError,
    Ticket,
    TimelinePage,
    UnknownPost,
    UnknownUser,
    User,
)
from bot.sandbox.text import mentioned_usernames, reply_handles, reply_prefix

MENTIONS_REACH_BACK = 800
USER_TWEETS_REACH_BACK = 3200


@dataclass
class _Window:
    limit: int
    reset_at: float
    used: int = 0


class Store:
    """Thread-safe state of one sandbox; one lock guards everything."""

    def __init__(self, bot: User, limits: Mapping[str, int | RateLimit] | None = None) -> None:
        self._lock = threading.Lock()
        self._bot = bot
        # The budgets every endpoint has whenever no fault replaces them (faults cleared too).
        self._limits = default_limits(limits)
        self._last_id = 0
        self._clear()

    def _clear(self) -> None:
        self._users: dict[str, User] = {self._bot.id: self._bot}
        self._posts: dict[int, Post] = {}
        self._ids: list[int] = []  # ascending; appended to except for back-dated posts
        self._faults: dict[str, Fault] = {}
        self._rngs: dict[str, random.Random] = {}
        self._windows: dict[str, _Window] = {}
        self._requests: Counter[str] = Counter()
        self._statuses: dict[str, Counter[int]] = {}

    @property
    def bot(self) -> User:
        """The authenticated account: it authors every post created through the X API."""
        return self._bot

    def reset(self) -> None:
        """Forget everything but the bot; ids keep increasing so none is ever reused."""
        with self._lock:
            self._clear()

    # users

    def upsert_user(
        self,
        user_id: str,
        username: str,
        name: str | None = None,
        subscription_type: str | None = None,
        verified_type: str | None = None,
    ) -> User:
        """Create a user or update the given attributes of an existing one."""
        with self._lock:
            old = self._users.get(user_id) or User(user_id, username, name or username)
            user = replace(
                old,
                username=username,
                name=name or old.name,
                subscription_type=subscription_type or old.subscription_type,
                verified_type=verified_type or old.verified_type,
            )
            self._users[user_id] = user
            if user_id == self._bot.id:
                self._bot = user
            return user

    def set_user_state(
        self, user_id: str, *, suspended: bool | None = None, protected: bool | None = None
    ) -> User:
        """Suspend or protect an account (or undo it); None leaves a flag as it is."""
        with self._lock:
            old = self._users.get(user_id)
            if old is None:
                raise UnknownUser(user_id)
            user = replace(
                old,
                suspended=old.suspended if suspended is None else suspended,
                protected=old.protected if protected is None else protected,
            )
            self._users[user_id] = user
            return user

    def may_reply(self, parent_id: int, replier_id: str) -> bool:
        """Whether the conversation's reply settings let `replier_id` answer in it: everyone,
        or the author of its first post, an account that post mentions, or (for "verified")
        a verified account. Nobody here follows or subscribes to anyone."""
        with self._lock:
            parent = self._posts.get(parent_id)
            root = self._posts.get(parent.conversation_id) if parent is not None else None
            replier = self._users.get(replier_id)
            if root is None or replier is None or root.reply_settings == "everyone":
                return True
            if replier_id == root.author_id or replier.username.lower() in root.mentions:
                return True
            return root.reply_settings == "verified" and replier.verified_type != "none"

    def _visible(self, post: Post | None) -> bool:
        """Live, by an account the bot may see (not suspended, not protected)."""
        if post is None or post.deleted:
            return False
        author = self._users.get(post.author_id)
        return author is None or not (author.suspended or author.protected)

    def user(self, user_id: str) -> User | None:
        """Return a user by id."""
        with self._lock:
            return self._users.get(user_id)

    def users(self, user_ids: Iterable[str]) -> list[User]:
        """Return the known users among the ids, in order, without repeats."""
        with self._lock:
            seen = dict.fromkeys(user_ids)
            return [self._users[uid] for uid in seen if uid in self._users]

    # posts

    def add_post(
        self,
        author_id: str,
        text: str,
        in_reply_to: int | None = None,
        *,
        post_id: int | None = None,
        created_at: datetime | None = None,
        handles: Sequence[str] = (),
        references: tuple[tuple[str, int], ...] = (),
        reply_settings: str = "everyone",
    ) -> Post:
        """Store a post as given (no duplicate check), after the reply `handles` if any, with
        what it quotes or reposts; for seeding and the control API."""
        with self._lock:
            for _, ref in references:
                if ref not in self._posts or self._posts[ref].deleted:
                    raise UnknownPost(str(ref))
            post = self._insert(author_id, text, in_reply_to, post_id, created_at, handles)
            if references or (reply_settings != "everyone" and in_reply_to is None):
                post = replace(post, references=references, reply_settings=reply_settings)
                self._posts[post.id] = post
            return post

    def create_post(
        self,
        author_id: str,
        text: str,
        in_reply_to: int | None = None,
        handles: Sequence[str] = (),
    ) -> Post:
        """Store a post the way X's create endpoint does, refusing duplicates."""
        full = reply_prefix(handles) + text
        with self._lock:
            if any(
                p.author_id == author_id and p.text == full and not p.deleted
                for p in self._posts.values()
            ):
                raise DuplicateContent(text)
            return self._insert(author_id, text, in_reply_to, None, None, handles)

    def edit_post(self, post_id: int, text: str) -> Post:
        """Edit a post as X does: a new post (a new id, after every other) with the new text
        after the same reply handles; every version lists the chain, the original first."""
        with self._lock:
            old = self._posts.get(post_id)
            if old is None or old.deleted:
                raise UnknownPost(str(post_id))
            new_id = self._next_id(None)
            chain = (*(old.edit_history or (old.id,)), new_id)
            full = old.text[: old.display_start] + text
            new = replace(old, id=new_id, text=full, mentions=mentioned_usernames(full))
            for version in chain[:-1]:
                self._posts[version] = replace(self._posts[version], edit_history=chain)
            self._posts[new_id] = replace(new, edit_history=chain)
            self._ids.append(new_id)
            self._last_id = new_id
            return self._posts[new_id]

    def reply_handles(
        self, parent_id: int, replier_id: str, exclude_user_ids: Iterable[str] = ()
    ) -> list[str]:
        """The handles X puts before the text of `replier_id`'s reply to a post: its author and
        the accounts it mentions, without the replier and `exclude_user_ids`."""
        with self._lock:
            parent = self._posts.get(parent_id)
            if parent is None or parent.deleted:
                raise UnknownPost(str(parent_id))
            author = self._users[parent.author_id]
            skip = [
                self._users[u].username for u in (replier_id, *exclude_user_ids) if u in self._users
            ]
        return reply_handles(author.username, parent.text, skip)

    def _insert(
        self,
        author_id: str,
        text: str,
        in_reply_to: int | None,
        post_id: int | None,
        created_at: datetime | None,
        handles: Sequence[str] = (),
    ) -> Post:
        if author_id not in self._users:
            raise UnknownUser(author_id)
        parent = None
        if in_reply_to is not None:
            parent = self._posts.get(in_reply_to)
            if parent is None or not self._visible(parent):
                raise UnknownPost(str(in_reply_to))
        if post_id is None:
            post_id = self._next_id(created_at)
        elif post_id in self._posts:
            raise SandboxError(f"post {post_id} exists")
        root = self._posts.get(parent.conversation_id) if parent is not None else None
        prefix = reply_prefix(handles) if parent is not None else ""
        text = prefix + text
        post = Post(
            id=post_id,
            text=text,
            author_id=author_id,
            conversation_id=parent.conversation_id if parent else post_id,
            in_reply_to=in_reply_to,
            in_reply_to_user_id=parent.author_id if parent else None,
            mentions=mentioned_usernames(text),
            display_start=len(prefix),
            reply_settings=root.reply_settings if root is not None else "everyone",
        )
        self._posts[post_id] = post
        if not self._ids or post_id > self._ids[-1]:
            self._ids.append(post_id)
        else:
            bisect.insort(self._ids, post_id)
        self._last_id = max(self._last_id, post_id)
        return post

    def _next_id(self, created_at: datetime | None) -> int:
        if created_at is not None:
            # A back-dated post (X surfacing a post late): take the first free sequence number.
            ms = int(created_at.timestamp() * 1000)
            seq = 0
            while snowflake(ms, seq) in self._posts:
                seq += 1
            return snowflake(ms, seq)
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        return max(snowflake(now_ms), self._last_id + 1)

    def post(self, post_id: int) -> Post | None:
        """Return a live (not deleted) post by id."""
        with self._lock:
            post = self._posts.get(post_id)
            return post if post is not None and self._visible(post) else None

    def live_posts(self, post_ids: Iterable[int]) -> dict[int, Post]:
        """Return the live posts among the ids."""
        with self._lock:
            found = (self._posts.get(pid) for pid in post_ids)
            return {p.id: p for p in found if p is not None and self._visible(p)}

    def posts(self, author_id: str | None = None, in_reply_to: int | None = None) -> list[Post]:
        """Return every post (deleted ones too), oldest first, optionally filtered."""
        with self._lock:
            return [
                p
                for p in (self._posts[i] for i in self._ids)
                if (author_id is None or p.author_id == author_id)
                and (in_reply_to is None or p.in_reply_to == in_reply_to)
            ]

    def delete_post(self, post_id: int, by: str) -> bool:
        """Delete a live post; False when there is none to delete."""
        with self._lock:
            post = self._posts.get(post_id)
            if post is None or post.deleted:
                return False
            if post.author_id != by:
                raise NotAuthor(str(post_id))
            self._posts[post_id] = replace(post, deleted=True)
            return True

    def timeline(
        self,
        kind: str,
        user_id: str,
        *,
        max_results: int,
        since_id: int | None = None,
        until_id: int | None = None,
        before_id: int | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        exclude_replies: bool = False,
    ) -> TimelinePage:
        """Return a page of a user's "mentions" or "tweets" timeline, newest first."""
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                raise UnknownUser(user_id)
            if kind == "mentions":
                handle = user.username.lower()
                reach = MENTIONS_REACH_BACK
                matches: Iterator[Post] = (p for p in self._newest() if handle in p.mentions)
            else:
                reach = USER_TWEETS_REACH_BACK
                matches = (p for p in self._newest() if p.author_id == user_id)
            window = list(itertools.islice(matches, reach))
        selected = [
            p
            for p in window
            if (since_id is None or p.id > since_id)
            and (until_id is None or p.id < until_id)
            and (before_id is None or p.id < before_id)
            and (start_time is None or p.created_at >= start_time)
            and (end_time is None or p.created_at <= end_time)
            and not (exclude_replies and p.in_reply_to is not None)
        ]
        return TimelinePage(selected[:max_results], len(selected) > max_results)

    def _newest(self) -> Iterator[Post]:
        for post_id in reversed(self._ids):
            post = self._posts[post_id]
            if self._visible(post):
                yield post

    # rate limits, faults, counters

    def set_fault(self, endpoint: str, fault: Fault) -> None:
        """Install a fault for one endpoint or "*"; a new rate limit starts a fresh window."""
        with self._lock:
            self._faults[endpoint] = fault
            self._rngs[endpoint] = random.Random(fault.seed)
            if fault.rate_limit is not None:
                for name in ENDPOINTS if endpoint == "*" else (endpoint,):
                    self._windows.pop(name, None)

    def clear_faults(self) -> None:
        """Remove every fault and restore the default limits (the ones the store was made with)."""
        with self._lock:
            self._faults.clear()
            self._rngs.clear()
            self._windows.clear()

    def limits(self) -> dict[str, RateLimit]:
        """The default limit of every endpoint (what applies without a rate-limit fault)."""
        return dict(self._limits)

    def faults(self) -> dict[str, Fault]:
        """Return the installed faults."""
        with self._lock:
            return dict(self._faults)

    def admit(self, endpoint: str, now: float) -> Ticket:
        """Count a request and decide its rate-limit, latency and injected error."""
        with self._lock:
            self._requests[endpoint] += 1
            key = endpoint if endpoint in self._faults else "*"
            fault = self._faults.get(key, Fault())
            window = self._window(endpoint, fault.rate_limit or self._limits[endpoint], now)
            daily = [
                (scope, self._window(name, self._limits[name], now))
                for name, scope, _ in DAILY_LIMITS.get(endpoint, ())
            ]
            allowed = all(w.used < w.limit for w in (window, *(d for _, d in daily)))
            if allowed:
                for w in (window, *(d for _, d in daily)):
                    w.used += 1
            error = None
            rng = self._rngs.get(key)
            if allowed and rng is not None and rng.random() < fault.error_ratio:
                error = fault.status
            return Ticket(
                limit=window.limit,
                remaining=window.limit - window.used,
                reset=math.ceil(window.reset_at),
                allowed=allowed,
                latency_s=fault.latency_ms / 1000,
                error_status=error,
                hold_s=fault.hold_ms / 1000,
                daily=tuple(
                    (scope, d.limit, d.limit - d.used, math.ceil(d.reset_at)) for scope, d in daily
                ),
                billing=fault.billing if allowed else None,
            )

    def _window(self, name: str, budget: RateLimit, now: float) -> _Window:
        """The current window of a limit (a new one once the last has reset)."""
        window = self._windows.get(name)
        if window is None or now >= window.reset_at:
            window = _Window(budget.limit, now + budget.window_s)
            self._windows[name] = window
        return window

    def record_status(self, endpoint: str, status: int) -> None:
        """Count a response status for the stats."""
        with self._lock:
            self._statuses.setdefault(endpoint, Counter())[status] += 1

    def stats(self) -> dict[str, dict[str, int] | dict[str, dict[str, int]]]:
        """Return request counts and response statuses per endpoint."""
        with self._lock:
            return {
                "requests": dict(self._requests),
                "statuses": {
                    name: {str(code): n for code, n in sorted(c.items())}
                    for name, c in self._statuses.items()
                },
            }
