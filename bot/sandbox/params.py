"""X's query parameters as the sandbox parses them, every problem collected into one 400."""

from __future__ import annotations

import string
from datetime import UTC, datetime

from fastapi import Request

from bot.sandbox.render import JSON, View, invalid_request
from bot.sandbox.vocabulary import CLASSIC, Vocabulary, spoken

ID_PATTERN = "^[0-9]{1,19}$"

_OTHER_FIELDS = ("media.fields", "place.fields", "poll.fields")
# In the classic names; Params asks the request's vocabulary for its own (post.fields in v2.167).
LOOKUP_PARAMS = frozenset(("expansions", "tweet.fields", "user.fields", *_OTHER_FIELDS))
TIMELINE_PARAMS = LOOKUP_PARAMS | {
    "max_results",
    "pagination_token",
    "since_id",
    "until_id",
    "start_time",
    "end_time",
}
ME_PARAMS = frozenset(("expansions", "tweet.fields", "user.fields"))
# Requesting an expansion makes X include the field it expands.
_IMPLIED_FIELDS = {
    "author_id": "author_id",
    "in_reply_to_user_id": "in_reply_to_user_id",
    "referenced_tweets.id": "referenced_tweets",
    "referenced_tweets.id.author_id": "referenced_tweets",
}


def vocabulary_of(request: Request) -> Vocabulary:
    """The vocabulary a request speaks: its query's, else the sandbox's default."""
    default: Vocabulary = getattr(request.app.state, "vocabulary", CLASSIC)
    return spoken(request.query_params, default)


class Params:
    """Parses X query parameters in the request's vocabulary, collecting every problem into one
    X-style 400 (`allowed` is in the classic names)."""

    def __init__(self, request: Request, allowed: frozenset[str]) -> None:
        self._query = request.query_params
        self.vocabulary = vocabulary_of(request)
        allowed = frozenset(self.vocabulary.wire(n) for n in allowed)
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
            raise invalid_request(self.errors, vocabulary=self.vocabulary)

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

    def view(self, *, user: bool = False) -> View:
        """Parse which fields and expansions the caller asked for (a user's expansions when
        `user`), in the sandbox's names."""
        words = self.vocabulary
        known = words.user_expansions if user else words.tweet_expansions
        asked = words.canonical(self.names("expansions", known), expansions=True)
        implied = {_IMPLIED_FIELDS[e] for e in asked if e in _IMPLIED_FIELDS}
        return View(
            tweet_fields=words.canonical(self.names(words.fields_param, words.tweet_fields))
            | implied,
            user_fields=self.names("user.fields", words.user_fields),
            expansions=asked,
            vocabulary=words,
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
