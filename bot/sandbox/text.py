"""Post text as X treats it: the handles a text mentions, the handles X puts before a reply's
text, and the well-formed Unicode X accepts."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import twitter_text

# Handles are ASCII word characters; a preceding word character means an e-mail address.
_MENTION = re.compile(r"(?<![A-Za-z0-9_])@([A-Za-z0-9_]+)")
# A Python str decoded from JSON holds a surrogate code point only when it was unpaired.
_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_UNICODE = (
    "Not valid Unicode: a lone surrogate. A \\u escape in the range \\ud800-\\udfff must"
    " be half of a surrogate pair (high, then low); or send the character as UTF-8."
)
# X stops adding the thread's handles to a reply at 50.
MAX_REPLY_HANDLES = 50


def mentioned_usernames(text: str) -> frozenset[str]:
    """Return the lower-cased handles a text mentions."""
    return frozenset(m.lower() for m in _MENTION.findall(text))


def mentions_username(text: str, username: str) -> bool:
    """Tell whether a text mentions a handle (case-insensitive, whole handle)."""
    return username.lower() in mentioned_usernames(text)


def reply_handles(parent_author: str, parent_text: str, skip: Iterable[str]) -> list[str]:
    """The handles X puts before a reply's text: the parent's author, then every account the
    parent mentions (its own leading handles first), once each, without `skip` (the replier)."""
    left_out = {h.lower() for h in skip}
    handles: dict[str, str] = {}
    for handle in (parent_author, *_MENTION.findall(parent_text)):
        if handle.lower() not in left_out:
            handles.setdefault(handle.lower(), handle)
    return list(handles.values())[:MAX_REPLY_HANDLES]


def reply_prefix(handles: Iterable[str]) -> str:
    """The text before a reply's own: "@a @b " (display_text_range starts after it)."""
    return "".join(f"@{h} " for h in handles)


def lone_surrogate(text: str) -> str | None:
    """Describe the first unpaired UTF-16 surrogate in a text, or None when it is well formed."""
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return f"a lone surrogate (\\u{ord(found.group()):04x}) at index {found.start()}"


# X's limit on a post's `text`; a longer post (a note tweet) keeps its whole text apart.
MAX_WEIGHTED_LENGTH = 280


def shortened(text: str) -> str | None:
    """What X puts in `text` for a post over 280 weighted characters (its start, up to the
    limit, its links as t.co ones; the whole text is in `note_tweet.text`), or None when the
    text fits."""
    if len(text) <= MAX_WEIGHTED_LENGTH // 2 and "." not in text:
        return None  # at most 2 per character, and no room for a link's fixed 23
    parsed = twitter_text.parse_tweet(text)
    if parsed.weightedLength <= MAX_WEIGHTED_LENGTH:
        return None
    return tco_links(text[: parsed.validRangeEnd + 1].rstrip())


_TCO_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def tco(url: str) -> str:
    """A t.co link for a URL, the same one every time (10 characters of its hash)."""
    n = int.from_bytes(hashlib.sha256(url.encode("utf-8", "surrogatepass")).digest()[:8], "big")
    code = ""
    for _ in range(10):
        n, digit = divmod(n, len(_TCO_ALPHABET))
        code += _TCO_ALPHABET[digit]
    return f"https://t.co/{code}"


def tco_links(text: str) -> str:
    """Every link in a text as X writes it in `text`: wrapped in t.co."""
    out, last = [], 0
    for found in twitter_text.extract_urls_with_indices(text):
        start, end = found["indices"]
        out += [text[last:start], tco(found["url"])]
        last = end
    return "".join(out) + text[last:]
