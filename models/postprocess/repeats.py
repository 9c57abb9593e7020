"""Drop the loops of small models: a sentence said again ("The answer is 8. The answer is 8.
The answer is 8.") is said once, and a cut-off last fragment that only restarts an earlier
sentence goes too. Case, spacing and punctuation don't make a sentence new."""

from __future__ import annotations

import re

__all__ = ["drop_repeats"]

# After sentence-ending punctuation (Latin and CJK) and whitespace, or at a line break.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\s*\n\s*")
_NOT_WORD = re.compile(r"[\W_]+")


def _key(sentence: str) -> str:
    return _NOT_WORD.sub(" ", sentence.casefold()).strip()


def drop_repeats(text: str) -> str:
    """text without sentences that repeat an earlier one (first occurrence kept)."""
    pieces = [p for p in _SENTENCE_BREAK.split(text) if p.strip()]
    if len(pieces) < 2:
        return text
    seen: list[str] = []
    kept: list[str] = []
    for piece in pieces:
        key = _key(piece)
        if key and key in seen:
            continue
        seen.append(key)
        kept.append(piece)
    last = _key(kept[-1])
    if len(kept) > 1 and last and any(s.startswith(last) for s in seen[:-1]):
        kept.pop()  # "... like I'm five. I'm not sure": the loop, cut by the token limit
    if len(kept) == len(pieces):
        return text
    return " ".join(kept)
