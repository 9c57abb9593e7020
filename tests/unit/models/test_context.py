"""Thread context within a token budget: nearest first, whole posts, oldest-first result."""

from models.context import PER_POST_OVERHEAD_TOKENS, fit_thread
from models.prompt import ContextPost


def count(text: str) -> int:
    return len(text.split())


def posts(*texts: str) -> list[ContextPost]:
    return [ContextPost("someone", t) for t in texts]


def test_everything_fits_and_comes_back_oldest_first() -> None:
    nearest_first = posts("c c", "b b", "a a")
    assert [p.text for p in fit_thread(nearest_first, 100, count)] == ["a a", "b b", "c c"]


def test_nearest_posts_win_and_no_post_is_cut() -> None:
    nearest_first = posts("near " * 5, "middle " * 5, "far " * 5)
    budget = 2 * (5 + PER_POST_OVERHEAD_TOKENS)
    kept = fit_thread(nearest_first, budget, count)
    assert [p.text for p in kept] == ["middle " * 5, "near " * 5]


def test_no_hole_in_the_middle() -> None:
    # The second post does not fit; the small third one would, but it is not taken.
    nearest_first = posts("x", "y " * 50, "z")
    assert [p.text for p in fit_thread(nearest_first, 20, count)] == ["x"]


def test_zero_budget_means_no_context() -> None:
    assert fit_thread(posts("a"), 0, count) == []
