"""Thread context within a token budget: nearest ancestors first, whole posts only."""

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
