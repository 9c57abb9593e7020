"""@mentions in model output: none at the start, at most a policy's number of live ones.

Surplus @mentions are de-linked by dropping the "@" ("ask @jack" -> "ask jack"): the sentence
still reads and nobody is notified. The first ``cap`` occurrences (in text order) stay live; a
repeat of a handle counts again. Mentions inside a kept URL are not mentions.
"""

from __future__ import annotations

import re

# Same pinned library models.text relies on; this class keeps our mention rule identical to the
# one X uses to decide what to link.
from twitter_text.regexp.latin_accent_chars import latin_accent_chars as _LATIN_ACCENTS

from models.postprocess.urls import url_spans

__all__ = ["AT", "cap_mentions", "count_mentions", "strip_leading_mentions"]

# twitter-text's validMentionOrList: an at-sign ("@" or fullwidth U+FF20) not preceded by a
# handle character or another at-sign (except after "RT"), a handle of up to 20 characters and
# an optional list slug, not followed by another at-sign, an accented Latin letter or "://".
AT = "@\uff20"
_MENTION = re.compile(
    r"(?:(?<![A-Za-z0-9_!#$%&*@\uff20])|(?<=(?<![A-Za-z0-9_+~.-])[Rr][Tt])"
    r"|(?<=(?<![A-Za-z0-9_+~.-])[Rr][Tt]:))"
    # Atomic: twitter-text checks what follows the longest match and never tries a shorter one.
    r"[@\uff20](?>([A-Za-z0-9_]{1,20})(/[A-Za-z][A-Za-z0-9_-]{0,24})?)"
    r"(?![@\uff20" + _LATIN_ACCENTS.pattern + r"]|://)"
)
_LEADING_JUNK = re.compile(r"\A[\s,;:.!?\u2026\u2013\u2014]+")


def strip_leading_mentions(text: str) -> str:
    """Drop @handles (and stray at-signs) at the start: X would read the reply as theirs."""
    rest = text
    while True:
        body = _LEADING_JUNK.sub("", rest)
        mention = _MENTION.match(body)
        if mention:
            rest = body[mention.end() :]
        elif body and body[0] in AT:
            rest = body[1:]
        else:
            return text if rest is text else body


def cap_mentions(text: str, cap: int, never: frozenset[str] = frozenset()) -> str:
    """Keep the first ``cap`` mentions live; the rest lose their at-sign, and so do the
    handles in ``never`` (lower-case: the bot's own, so its reply is not a mention of it)."""
    kept_urls = url_spans(text)  # only allowed URLs are left by now
    live = 0
    out: list[str] = []
    last = 0
    for mention in _MENTION.finditer(text):
        start, end = mention.span()
        if any(s < end and start < e for s, e in kept_urls):
            continue
        if live < cap and mention.group(1).lower() not in never:
            live += 1
            continue
        out.append(text[last:start])
        last = start + 1  # drop the at-sign, keep the name
    out.append(text[last:])
    return "".join(out)


def count_mentions(text: str) -> int:
    """How many live mentions ``text`` has."""
    return len(text) - len(cap_mentions(text, 0))  # one at-sign dropped per live mention
