"""X's weighted post length, and cutting model output down to it.

The weights come from ``twitter-text-parser`` (a port of X's own twitter-text config v3): most
CJK characters and every emoji count 2, every URL counts 23 however long it is, the rest 1.
Note that the ellipsis "…" (U+2026) itself counts 2.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from twitter_text import extract_emojis_with_indices, extract_urls_with_indices, parse_tweet

from models.text import ASCII_TERMINATORS, CJK_TERMINATORS, CLOSERS, normalise_text

__all__ = ["ELLIPSIS", "MAX_WEIGHTED_LENGTH", "fit_to_limit", "fits", "weighted_length"]

MAX_WEIGHTED_LENGTH = 280
ELLIPSIS = "…"

# Dropped before an ellipsis so a cut never reads "word,…" (ASCII, dashes, CJK comma forms).
_WEAK_TRAILERS = frozenset(",;:-\u2013\u2014\u3001\uff0c\uff1b\uff1a")
_ZWJ = "\u200d"

AtomKind = Literal["url", "emoji", "char"]


@dataclass(frozen=True, slots=True)
class _Atom:
    """An indivisible run of text: a URL, an emoji sequence, or a character and its marks."""

    start: int
    end: int
    kind: AtomKind


# Whatever a URL could be made of: a scheme, or a dot with something after it ("x.com").
_MAYBE_URL = re.compile(r"://|\.[^\s.]")
# X weighs every code point below U+1100 as 1 (twitter-text's config v3); among them only
# these two are emoji, which weigh 2.
_WEIGHT_ONE_BELOW = "\u1100"
_LOW_EMOJI = frozenset("\u00a9\u00ae")


def weighted_length(text: str) -> int:
    """Return the length X counts for ``text`` (280 is the limit for a post)."""
    return _weighted_length(text)


# Fitting a reply asks for the same texts' weights several times.
@lru_cache(maxsize=4096)
def _weighted_length(text: str) -> int:
    # Text of weight-one code points without an emoji or a URL weighs its length in NFC (the
    # form parse_tweet counts). parse_tweet costs about a millisecond a call (its emoji
    # scan): a fifth of the generate worker's CPU before this shortcut, which
    # tests/unit/models/test_xlength.py checks against it.
    if (
        max(text, default="") < _WEIGHT_ONE_BELOW
        and _LOW_EMOJI.isdisjoint(text)
        and not _MAYBE_URL.search(text)
    ):
        return len(unicodedata.normalize("NFC", text))
    return int(parse_tweet(text).weightedLength)


def fits(text: str, limit: int = MAX_WEIGHTED_LENGTH) -> bool:
    """Return True if ``text`` weighs at most ``limit``."""
    return weighted_length(text) <= limit


def fit_to_limit(
    text: str, limit: int = MAX_WEIGHTED_LENGTH, *, min_sentence_share: float = 0.5
) -> str:
    """Trim ``text`` (whitespace, invalid code points) and cut it until it fits ``limit``."""
    # parse_tweet counts the normalised form; cutting the same form keeps the library's entity
    # indices valid for our string.
    clean = normalise_text(text).strip()
    if fits(clean, limit):
        return clean
    cutter = _Cutter(clean)
    return (
        # A sentence cut that keeps only "Yes." of a long answer loses more than a word cut
        # with an ellipsis would, so it has to keep a fair share of the limit to win.
        cutter.at_sentence(limit, min_weight=min_sentence_share * limit)
        or cutter.at_word(limit)
        or cutter.hard(limit, with_ellipsis=True)
        # Only reached when the limit is below the ellipsis' own weight.
        or cutter.hard(limit, with_ellipsis=False)
        or ""
    )


def _is_extender(ch: str) -> bool:
    # Characters that belong to the grapheme before them: combining marks, variation selectors,
    # emoji skin-tone modifiers, tag characters, and a joiner (which also takes what follows).
    cp = ord(ch)
    return (
        ch == _ZWJ
        or unicodedata.category(ch) in {"Mn", "Me", "Mc"}
        or 0xFE00 <= cp <= 0xFE0F
        or 0xE0100 <= cp <= 0xE01EF
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xE0020 <= cp <= 0xE007F
    )


def _atomise(text: str) -> list[_Atom]:
    """Split ``text`` into atoms that a cut may fall between but never inside."""
    spans: dict[int, tuple[int, AtomKind]] = {}
    for url in extract_urls_with_indices(text):
        start, end = url["indices"]
        spans[start] = (end, "url")
    url_ranges = sorted((s, e) for s, (e, _) in spans.items())
    for emoji in extract_emojis_with_indices(text):
        start, end = emoji["indices"]
        if not any(s < end and start < e for s, e in url_ranges):
            spans[start] = (end, "emoji")

    atoms: list[_Atom] = []
    i = 0
    while i < len(text):
        end, kind = spans.get(i, (i + 1, "char"))
        atoms.append(_Atom(i, end, kind))
        i = end
    return _glue(text, atoms)


def _glue(text: str, atoms: list[_Atom]) -> list[_Atom]:
    """Merge atoms that render as one glyph: joiners and modifiers bind to their neighbours."""
    # The library's emoji data is Unicode 12 (2019): newer ZWJ sequences such as a black bird
    # (bird + ZWJ + black square) come back as separate emoji, and a cut between them would
    # leave half a glyph and a dangling joiner.
    glued: list[_Atom] = []
    for atom in atoms:
        prev = glued[-1] if glued else None
        if (
            prev is not None
            and "url" not in (prev.kind, atom.kind)
            and (text[prev.end - 1] == _ZWJ or _is_extender(text[atom.start]))
        ):
            kind: AtomKind = "emoji" if "emoji" in (prev.kind, atom.kind) else "char"
            glued[-1] = _Atom(prev.start, atom.end, kind)
        else:
            glued.append(atom)
    return glued


@lru_cache(maxsize=4096)
def _atom_weight(piece: str) -> int:
    return weighted_length(piece)


class _Cutter:
    """Finds the longest cut of one text, of each kind, that fits a limit."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.atoms = _atomise(text)
        self.cum = [0]
        for atom in self.atoms:
            self.cum.append(self.cum[-1] + self._weight(atom))

    def _weight(self, atom: _Atom) -> int:
        piece = self.text[atom.start : atom.end]
        # URLs weigh the same whatever their length; don't fill the cache with them.
        return weighted_length(piece) if atom.kind == "url" else _atom_weight(piece)

    def _char(self, k: int) -> str:
        atom = self.atoms[k]
        return self.text[atom.start : atom.end] if atom.kind == "char" else ""

    def _trim(self, k: int, *, weak: bool) -> int:
        """Drop trailing whitespace (and weak punctuation) atoms from the prefix of k atoms."""
        while k > 0:
            ch = self._char(k - 1)
            if ch.isspace() or (weak and ch in _WEAK_TRAILERS):
                k -= 1
            else:
                break
        return k

    def _best(self, counts: list[int], limit: int, *, with_ellipsis: bool) -> str | None:
        # Prefix sums give the weight cheaply; the chosen string is then checked with the
        # library itself, because a cut can turn a tail into a URL ("foo.barbaz" -> "foo.bar").
        seen: set[int] = set()
        for count in sorted(counts, reverse=True):
            k = self._trim(count, weak=with_ellipsis)
            if k == 0 or k in seen:
                continue
            seen.add(k)
            body = self.text[: self.atoms[k - 1].end]
            suffix = ""
            if with_ellipsis:
                # Keep the ellipsis off a URL's tail so nobody reads it as part of the link.
                suffix = " " + ELLIPSIS if self.atoms[k - 1].kind == "url" else ELLIPSIS
            if self.cum[k] + _atom_weight(suffix) > limit:
                continue
            candidate = body + suffix
            if fits(candidate, limit):
                return candidate
        return None

    def at_sentence(self, limit: int, min_weight: float = 0.0) -> str | None:
        """Longest prefix ending a sentence (no ellipsis), if one fits."""
        counts = []
        n = len(self.atoms)
        for k in range(1, n + 1):
            j = k - 1
            while j >= 0 and self._char(j) in CLOSERS:
                j -= 1
            if j < 0:
                continue
            last = self._char(j)
            followed_by_space = k == n or self._char(k).isspace()
            if self.cum[k] < min_weight:
                continue
            if last in CJK_TERMINATORS or (last in ASCII_TERMINATORS and followed_by_space):
                counts.append(k)
        return self._best(counts, limit, with_ellipsis=False)

    def at_word(self, limit: int) -> str | None:
        """Longest prefix ending before whitespace, with an ellipsis, if one fits."""
        counts = [k for k in range(1, len(self.atoms)) if self._char(k).isspace()]
        return self._best(counts, limit, with_ellipsis=True)

    def hard(self, limit: int, *, with_ellipsis: bool) -> str | None:
        """Longest prefix ending on any atom boundary, if one fits."""
        counts = list(range(1, len(self.atoms)))
        return self._best(counts, limit, with_ellipsis=with_ellipsis)
