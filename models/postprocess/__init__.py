"""Make model output worth posting on X: the pipeline a reply goes through before it is posted.

``process_reply`` is the full policy for a reply about to be posted: chat-template leftovers
(``template``), Markdown (``markdown``), links (``urls``), leading and surplus @mentions
(``mentions``), sentences said twice (``repeats``), whitespace, empty and refusal-only output
(``refusals``), and X's weighted length, optionally as a short numbered thread
(``fitting``). How much of a reply repeats the system prompt is ``persona`` (the generate
worker holds back a reply that leaks it). The minimal cleaning every stored text gets,
``strip_control_chars``, lives in ``models.text``.

Decisions where the rules leave room, in one place (each module's docstring has the detail):

- Surplus @mentions are de-linked by dropping the "@"; the first ``max_mentions`` stay live.
- Links outside the allowlist are removed. URL removal runs again after mentions are
  de-linked, because "@example.com" without its "@" is a link.
- "Too short" is measured in X's weighted length, so one CJK character or one emoji
  (weight 2) is a reply; a text with no letter, digit or symbol ("...") is empty.
- Refusal-only output (every sentence a refusal or refusal filler) is rejected, not posted.

This package imports the standard library, twitter-text and the rest of ``models/``; never
``bot/`` or ``workers/``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from models.postprocess.fitting import fit_posts
from models.postprocess.markdown import strip_markdown
from models.postprocess.mentions import cap_mentions, strip_leading_mentions
from models.postprocess.refusals import is_refusal
from models.postprocess.repeats import drop_repeats
from models.postprocess.template import strip_reasoning, strip_template_markers
from models.postprocess.urls import normalise_allowlist, remove_urls
from models.text import collapse_whitespace, normalise_text, strip_control_chars
from models.xlength import weighted_length

__all__ = ["Processed", "ReplyPolicy", "is_refusal", "process_reply"]

_MAX_INPUT = 50_000
# Invisible format controls (Unicode category Cf): bidi overrides, embeddings and isolates
# (U+202A-202E, U+2066-2069) can make a reply read backwards; zero-width spaces, joiners and
# the BOM can hide an "@" from our rules but not from a reader; tag characters (U+E0000-E007F)
# can smuggle invisible text. What stays: ZWNJ and ZWJ (scripts and emoji sequences need
# them) and the tags of a subdivision flag (black flag, tag letters, cancel tag).
_KEEP_FORMAT = frozenset("\u200c\u200d")
_TAG_RUN = re.compile("(\U0001f3f4?)([\U000e0000-\U000e007f]+)")
_FLAG_TAGS = re.compile("[\U000e0020-\U000e007e]+\U000e007f")


def _flag_tags_only(found: re.Match[str]) -> str:
    flag, tags = found.group(1), found.group(2)
    return flag + tags if flag and _FLAG_TAGS.fullmatch(tags) else flag


def strip_format_controls(text: str) -> str:
    """Drop invisible format characters (bidi controls, stray tags), keeping ZWJ/ZWNJ and
    the tags of subdivision flags."""
    text = _TAG_RUN.sub(_flag_tags_only, text)
    return "".join(
        ch
        for ch in text
        if ch in _KEEP_FORMAT
        or "\U000e0020" <= ch <= "\U000e007f"
        or unicodedata.category(ch) != "Cf"
    )


@dataclass(frozen=True)
class ReplyPolicy:
    """What a posted reply may contain and how long it may be."""

    # The author being answered is added by X's reply threading, so 0 or 1 is typical.
    max_mentions: int = 1
    # Hostnames; a URL stays only if its host is one of them or a subdomain of one.
    url_allowlist: tuple[str, ...] = ()
    limit: int = 280
    max_posts: int = 1
    min_chars: int = 2
    # The bot's own handle: never live in its reply (it would mention itself, and read its
    # own reply as a new mention).
    own_handle: str = ""

    def __post_init__(self) -> None:
        if self.max_mentions < 0 or self.min_chars < 0:
            raise ValueError("max_mentions and min_chars must be >= 0")
        if self.limit < 1 or self.max_posts < 1:
            raise ValueError("limit and max_posts must be >= 1")


@dataclass(frozen=True)
class Processed:
    """The posts to publish (empty when rejected), why not, and what was changed."""

    posts: list[str]
    reason: str | None = None  # "empty", "refusal" or None
    changes: tuple[str, ...] = ()


def process_reply(text: str, policy: ReplyPolicy = ReplyPolicy()) -> Processed:
    """Turn model output into posts that fit X and this policy, or say why there are none."""
    changes: list[str] = []

    def step(name: str, func: Callable[[str], str], value: str) -> str:
        out = func(value)
        if out != value and name not in changes:
            changes.append(name)
        return out

    allow = normalise_allowlist(policy.url_allowlist)
    own = frozenset({policy.own_handle.lower().lstrip("@")} - {""})
    text = _normalise(text[:_MAX_INPUT])
    text = step("reasoning", strip_reasoning, text)
    text = step("template_markers", strip_template_markers, text)
    dropped_links: list[str] = []
    text = step("markdown", lambda t: strip_markdown(t, allow, dropped_links), text)
    if dropped_links:
        changes.append("urls_removed")
    while True:
        # Each rule can expose work for another: a de-linked "@example.com" is a bare domain,
        # a removed URL can leave a mention at the start. Every rule only deletes, so this ends.
        before = text
        text = step("urls_removed", lambda t: remove_urls(t, allow), text)
        text = step("leading_mentions", strip_leading_mentions, text)
        text = step("mentions_capped", lambda t: cap_mentions(t, policy.max_mentions, own), text)
        if text == before:
            break
    text = step("repeats_removed", drop_repeats, text)
    text = collapse_whitespace(text)  # not an audit-worthy change

    if weighted_length(text) < policy.min_chars or not _has_substance(text):
        return Processed([], "empty", tuple(changes))
    if is_refusal(text):
        return Processed([], "refusal", tuple(changes))

    posts, fit_changes = fit_posts(
        text,
        limit=policy.limit,
        max_posts=policy.max_posts,
        max_mentions=policy.max_mentions,
        allow=allow,
    )
    changes.extend(c for c in fit_changes if c not in changes)
    if not posts:  # only when the limit is smaller than any visible piece of text
        return Processed([], "empty", tuple(changes))
    return Processed(posts, None, tuple(changes))


def _normalise(text: str) -> str:
    # The form xlength measures (NFC, "\n"), so cuts made later line up with its indices.
    return strip_format_controls(normalise_text(strip_control_chars(text)))


def _has_substance(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LNS" for ch in text)
