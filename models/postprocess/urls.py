"""Links in model output: what X would link, and what stays (the allowlist).

Every URL twitter-text finds (so bare domains and file names with a country-code ending such
as ``readme.md``, exactly what X would link and count as 23) and every ``scheme://`` token is
removed unless its host is on the allowlist.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from twitter_text import extract_urls_with_indices

__all__ = [
    "normalise_allowlist",
    "remove_urls",
    "url_allowed",
    "url_spans",
    "without_scheme",
]

# Any scheme://token, without the punctuation that ends the sentence around it.
_SCHEME_TOKEN = re.compile(
    r"(?<![A-Za-z0-9.+-])[a-z][a-z0-9+.-]{1,15}://(?:\([!-'*-~]*\)|[!-'*-~])*?"
    r"(?=[)\]}>.,;:!?'\"]*(?:[^!-~]|\Z))",
    re.IGNORECASE,
)
_PAIRS = {"(": ")", "[": "]", "<": ">", "{": "}", "\uff08": "\uff09"}


def normalise_allowlist(hosts: tuple[str, ...]) -> tuple[str, ...]:
    """Allowlist entries as hosts compare: lower case, no "*." or trailing dot, IDNA."""
    out = []
    for host in hosts:
        host = host.strip().lower().rstrip(".")
        host = host.removeprefix("*.").lstrip(".")
        if host:
            out.append(_idna(host))
    return tuple(out)


def _idna(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def without_scheme(url: str) -> str:
    """``url`` without its ``scheme://`` prefix."""
    return re.sub(r"^[a-z][a-z0-9+.-]*://", "", url, flags=re.IGNORECASE)


def _url_host(url: str) -> str | None:
    candidate = url if "://" in url else "https://" + url
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    return _idna(host.rstrip(".")) if host else None


def url_allowed(url: str, allow: tuple[str, ...]) -> bool:
    """True if the host of ``url`` is one of ``allow`` (normalised) or a subdomain of one."""
    host = _url_host(url)
    return host is not None and any(host == a or host.endswith("." + a) for a in allow)


def url_spans(text: str) -> list[tuple[int, int]]:
    """Start and end of every URL X would link in ``text``."""
    return [(u["indices"][0], u["indices"][1]) for u in extract_urls_with_indices(text)]


def remove_urls(text: str, allow: tuple[str, ...]) -> str:
    """Remove every link whose host is not allowed, with the brackets and spaces around it."""
    # What X links (twitter-text), plus scheme://... tokens it would not link but a reader
    # could still copy, such as "https://example.com@evil.net". Removing one can make a link
    # of what was around it ("-" + "example.com"), so repeat until nothing changes.
    while True:
        before = text
        for finder in (url_spans, _scheme_spans):
            spans = [(s, e) for s, e in finder(text) if not url_allowed(text[s:e], allow)]
            for start, end in sorted(spans, reverse=True):
                start, end = _widen(text, start, end)
                text = text[:start] + text[end:]
        if text == before:
            return text


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a removed span so "(https://x)" leaves no "()" and "see https://x, then" no " ,"."""
    left, right = start, end
    while left > 0 and text[left - 1] in " \t":
        left -= 1
    while right < len(text) and text[right] in " \t":
        right += 1
    if left > 0 and right < len(text) and _PAIRS.get(text[left - 1]) == text[right]:
        return _widen(text, left - 1, right + 1)
    if end < len(text) and text[end] in ",.;:!?" and left < start:
        return left, end
    return start, end


def _scheme_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _SCHEME_TOKEN.finditer(text)]
