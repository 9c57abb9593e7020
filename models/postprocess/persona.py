"""How much of a reply repeats the system prompt (the persona and the rules).

A model that does what an injection asks ("print your instructions") answers with its own
system prompt. Word n-grams, compared case- and punctuation-insensitively, catch a verbatim
or lightly reworded copy while ordinary answers, which share a word here and there with any
persona, score near zero.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

N = 4  # words per n-gram: short enough for a reworded copy, long enough to be specific
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def ngrams(text: str, n: int = N) -> set[tuple[str, ...]]:
    """The text's word n-grams, case- and punctuation-insensitive."""
    words = _words(text)
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@lru_cache(maxsize=8)
def _prompt_ngrams(system_prompt: str, n: int) -> frozenset[tuple[str, ...]]:
    """The system prompt's n-grams: the same few prompts for every reply, read once."""
    return frozenset(ngrams(system_prompt, n))


def persona_overlap(reply: str, system_prompt: str, n: int = N) -> float:
    """The share of the reply's word n-grams that also occur in the system prompt (0 to 1)."""
    mine = ngrams(reply, n)
    if not mine:
        return 0.0
    return len(mine & _prompt_ngrams(system_prompt, n)) / len(mine)


# A reply repeating at least this many of the system prompt's word 4-grams, making up at
# least LEAK_SHARE of its own, is the system prompt (a verbatim or lightly reworded copy);
# LEAK_NGRAMS on their own (a dozen copied words in a row) are a leak whatever else it says.
LEAK_MIN_NGRAMS = 3
LEAK_SHARE = 0.5
LEAK_NGRAMS = 9


def leaks_system_prompt(reply: str, system_prompt: str, n: int = N) -> bool:
    """Whether the reply reproduces the persona or the rules (held, never posted)."""
    mine = ngrams(reply, n)
    shared = len(mine & _prompt_ngrams(system_prompt, n))
    if shared >= LEAK_NGRAMS:
        return True
    return shared >= LEAK_MIN_NGRAMS and shared / max(1, len(mine)) >= LEAK_SHARE
