"""What goes into the prompt within token budgets: the mention (cut with a marker if it must
be) and the thread context (nearest ancestors first, whole posts only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from models.prompt import ContextPost

# What the prompt adds around each post (fence, author line) beyond the post's own tokens.
PER_POST_OVERHEAD_TOKENS = 8


def fit_thread(
    nearest_first: Sequence[ContextPost], budget_tokens: int, count: Callable[[str], int]
) -> list[ContextPost]:
    """Keep ancestors from the nearest back while they fit; returned oldest first.

    It stops at the first post that does not fit rather than skipping to older ones: a thread
    with a hole in the middle reads worse than a shorter one. A post is never cut.
    """
    kept: list[ContextPost] = []
    used = 0
    for post in nearest_first:
        cost = count(post.text) + PER_POST_OVERHEAD_TOKENS
        if used + cost > budget_tokens:
            break
        kept.append(post)
        used += cost
    return list(reversed(kept))


# Shown where a too-long mention was cut, so the model knows it reads only the start.
CUT_MARKER = " [\u2026]"


def fit_text(text: str, budget_tokens: int, count: Callable[[str], int]) -> str:
    """`text` if it fits `budget_tokens`, else its longest start that fits with CUT_MARKER.

    A tokenizer never spends more tokens than the text has UTF-8 bytes, so short texts cost
    no count at all; a long one takes a binary search over its length (about a dozen counts
    for a few thousand characters, each a cached /tokenize call).
    """
    if len(text.encode("utf-8", "surrogatepass")) <= budget_tokens or count(text) <= budget_tokens:
        return text
    lo, hi = 0, len(text)  # text[:lo] + marker fits; text[:hi] + marker does not (yet known)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(text[:mid].rstrip() + CUT_MARKER) <= budget_tokens:
            lo = mid
        else:
            hi = mid
    return text[:lo].rstrip() + CUT_MARKER if lo else ""
