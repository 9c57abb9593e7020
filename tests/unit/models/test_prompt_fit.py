"""Thread context within a token budget: nearest first, whole posts, oldest-first result."""

from models.prompt import ContextPost
from models.prompt_fit import CUT_MARKER, PER_POST_OVERHEAD_TOKENS, fit_text, fit_thread


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


def chars(text: str) -> int:
    return len(text)


def test_a_mention_that_fits_is_never_counted() -> None:
    def no_count(_: str) -> int:
        raise AssertionError("a short text needs no /tokenize call")

    assert fit_text("is this true?", 64, no_count) == "is this true?"


def test_a_long_mention_is_cut_with_a_marker_to_the_budget() -> None:
    text = "日本語の質問" * 100  # 600 CJK characters
    fitted = fit_text(text, 100, chars)
    assert fitted.endswith(CUT_MARKER) and len(fitted) == 100
    assert text.startswith(fitted.removesuffix(CUT_MARKER))


def test_combining_marks_are_cut_like_anything_else() -> None:
    text = "a" + "\u0301" * 1000
    fitted = fit_text(text, 50, lambda t: len(t.encode()))  # two bytes a mark
    assert len(fitted.encode()) <= 50 and fitted.endswith(CUT_MARKER)


def test_nothing_fits_means_nothing() -> None:
    assert fit_text("word " * 50, 2, chars) == ""
