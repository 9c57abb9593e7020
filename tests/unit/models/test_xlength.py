"""X weighted length and fitting model output into one post."""

from __future__ import annotations

import random

import pytest
from twitter_text import extract_emojis_with_indices, extract_urls_with_indices, parse_tweet

from models.xlength import ELLIPSIS, fit_to_limit, fits, weighted_length

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man-woman-girl-boy
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"
THUMBS_MEDIUM = "\U0001f44d\U0001f3fd"
FLAG_JP = "\U0001f1ef\U0001f1f5"
BLACK_BIRD = "\U0001f426\u200d\u2b1b"
LONG_URL = "https://example.com/" + "a" * 200


def _body(result: str) -> str:
    """The kept text without the ellipsis a cut may add."""
    if result.endswith(" " + ELLIPSIS):
        return result[: -len(ELLIPSIS) - 1]
    return result.removesuffix(ELLIPSIS)


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < pos < end for start, end in spans)


# -- weighted_length / fits --------------------------------------------------------------------


def test_ascii_280_fits_281_does_not() -> None:
    assert weighted_length("a" * 280) == 280
    assert fits("a" * 280)
    assert not fits("a" * 281)


def test_cjk_counts_two() -> None:
    assert weighted_length("日") == 2
    assert fits("日" * 140)
    assert not fits("日" * 141)
    assert weighted_length("한국어") == 6


def test_latin_cyrillic_and_typographic_punctuation_count_one() -> None:
    assert weighted_length("é") == 1
    assert weighted_length("Привет") == 6
    assert weighted_length("\u2014\u2019\u201c") == 3  # em dash, curly quotes


def test_emoji_count_two_including_sequences() -> None:
    for emoji in ("\U0001f637", FAMILY, RAINBOW_FLAG, THUMBS_MEDIUM, FLAG_JP):
        assert weighted_length(emoji) == 2, repr(emoji)
    assert fits(FAMILY * 140)
    assert not fits(FAMILY * 141)


def test_ellipsis_itself_counts_two() -> None:
    # U+2026 lies outside twitter-text's weight-1 ranges; fit_to_limit must budget for it.
    assert weighted_length(ELLIPSIS) == 2


def test_urls_count_23_whatever_their_length() -> None:
    assert weighted_length("https://x.co") == 23
    assert weighted_length(LONG_URL) == 23
    assert weighted_length("see example.com") == 4 + 23  # bare domains are linked too
    assert fits(LONG_URL * 1 + " " + "b" * 256)
    assert not fits(LONG_URL + " " + "b" * 257)


def test_custom_limit() -> None:
    assert fits("abc", limit=3)
    assert not fits("abcd", limit=3)


# -- fit_to_limit --------------------------------------------------------------------------------


def test_text_that_fits_is_returned_unchanged_apart_from_outer_whitespace() -> None:
    text = "Yes, that's true.\n\nSource: the agency's 2024 report."
    assert fit_to_limit(text) == text
    assert fit_to_limit("  \n" + text + "\r\n ") == text
    assert fit_to_limit("") == ""


def test_crlf_and_invalid_code_points_are_cleaned() -> None:
    assert fit_to_limit("a\r\nb\ufeff") == "a\nb"
    # One line-ending rule with postprocess (models.text): CR and the Unicode separators too.
    assert fit_to_limit("a\rb\u2028c\u2029d") == "a\nb\nc\nd"


def test_sentence_boundary_preferred() -> None:
    first = "The claim is false. " * 8  # 160
    text = first + "And here is a long tail that goes on " * 10
    result = fit_to_limit(text)
    assert result == first.strip()
    assert not result.endswith(ELLIPSIS)
    assert fits(result)


def test_sentence_boundary_accepts_closing_quotes_and_other_terminators() -> None:
    text = 'He said "it is true." ' * 7 + "Really? " * 3 + "and then " * 30
    result = fit_to_limit(text)
    assert result.endswith("Really?")
    assert fits(result)


def test_short_leading_sentence_does_not_swallow_the_answer() -> None:
    # "Yes." alone would throw away almost the whole answer: a word cut keeps far more.
    text = "Yes. " + "because the record shows it " * 20
    result = fit_to_limit(text)
    assert result.endswith(ELLIPSIS)
    assert weighted_length(result) > 250
    # ...unless the caller asks for the strict rule.
    assert fit_to_limit(text, min_sentence_share=0) == "Yes."


def test_cjk_sentence_boundary_needs_no_space() -> None:
    text = "これは本当です。" * 20 + "しかし" * 30
    result = fit_to_limit(text)
    assert result.endswith("。")
    assert fits(result)
    assert text.startswith(result)


def test_word_boundary_with_ellipsis_fallback() -> None:
    text = "word, " * 60  # no sentence end anywhere
    result = fit_to_limit(text)
    assert result.endswith("word" + ELLIPSIS)  # the trailing comma is dropped too
    assert fits(result)
    assert weighted_length(result) > 270


def test_hard_cut_when_no_boundary_fits() -> None:
    result = fit_to_limit("x" * 500)
    assert result == "x" * 278 + ELLIPSIS
    assert weighted_length(result) == 280


def test_hard_cut_never_splits_zwj_emoji() -> None:
    result = fit_to_limit(FAMILY * 200)
    body = _body(result)
    assert fits(result)
    assert body == FAMILY * (len(body) // len(FAMILY))
    assert len(body) // len(FAMILY) == 139  # 139 * 2 + ellipsis 2 = 280


def test_hard_cut_never_splits_skin_tone_or_flags() -> None:
    for emoji in (THUMBS_MEDIUM, FLAG_JP, RAINBOW_FLAG):
        body = _body(fit_to_limit("a" + emoji * 200))
        assert (len(body) - 1) % len(emoji) == 0, repr(emoji)


def test_emoji_newer_than_the_library_data_is_not_split() -> None:
    # twitter-text-parser's emoji table is Unicode 12: it sees this Unicode 15 sequence as
    # bird + ZWJ + black square and over-counts it (5, where X says 2). Over-counting only
    # cuts a little early; splitting the sequence would post a broken glyph.
    assert weighted_length(BLACK_BIRD) == 5
    body = _body(fit_to_limit(BLACK_BIRD * 100))
    assert body == BLACK_BIRD * (len(body) // len(BLACK_BIRD))
    body = _body(fit_to_limit("x" + BLACK_BIRD * 100, limit=9))
    assert body == "x" + BLACK_BIRD


def test_combining_marks_stay_with_their_letter() -> None:
    # NFC has no precomposed form for q + combining acute, so it stays two code points.
    grapheme = "q\u0301"
    body = _body(fit_to_limit(grapheme * 300))
    assert len(body) % 2 == 0
    assert body.endswith(grapheme)


def test_url_never_cut_in_half() -> None:
    text = "x" * 270 + " " + LONG_URL + " end"
    result = fit_to_limit(text)
    assert fits(result)
    assert "example.com" not in result or LONG_URL in result
    # The URL costs 23 wherever it is, so one near the front survives a cut later on.
    text = "see " + LONG_URL + " " + "y" * 300
    result = fit_to_limit(text)
    assert LONG_URL in result
    assert fits(result)


def test_ellipsis_kept_off_a_url() -> None:
    text = "see " + LONG_URL + " " + "z" * 300
    assert fit_to_limit(text) == "see " + LONG_URL + " " + ELLIPSIS


def test_tiny_limits_still_fit() -> None:
    assert fit_to_limit("abcdef", limit=3) == "a" + ELLIPSIS
    assert fit_to_limit("abcdef", limit=1) == "a"
    assert fit_to_limit("日本", limit=1) == ""
    assert fit_to_limit("abc", limit=0) == ""


def test_cut_that_would_create_a_url_is_rejected() -> None:
    # "foo.barbaz" weighs 10, but its prefixes "foo.bar" and "foo.ba" are links (.bar and .ba
    # are TLDs) worth 23: the estimate from prefix sums must be checked against the real count.
    assert weighted_length("foo.barbaz") == 10
    assert weighted_length("foo.bar" + ELLIPSIS) == 25
    result = fit_to_limit("foo.barbaz", limit=9)
    assert result == "foo.b" + ELLIPSIS
    assert fits(result, 9)


_PIECES = [
    "word",
    "the",
    "claim",
    "is",
    "false.",
    "true!",
    "why?",
    "日本語",
    "中文。",
    "한국어",
    "Привет",
    "\U0001f637",
    FAMILY,
    RAINBOW_FLAG,
    THUMBS_MEDIUM,
    FLAG_JP,
    BLACK_BIRD,
    "\u2764\ufe0f\u200d\U0001f525",  # heart on fire, Unicode 13.1
    "https://example.com/path?q=1",
    LONG_URL,
    "example.org",
    "q\u0301",
    "“quoted.”",
    "—",
    "…",
    ",",
    "a" * 40,
]
_SEPARATORS = [" ", " ", " ", "", "\n", "  "]


@pytest.mark.parametrize("seed", range(4))
def test_result_always_fits_on_random_mixed_text(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        n = rng.randint(1, 100)
        text = "".join(rng.choice(_PIECES) + rng.choice(_SEPARATORS) for _ in range(n))
        limit = rng.choice([280, 280, 280, 140, 50, 24, 5])
        result = fit_to_limit(text, limit)
        assert fits(result, limit), (text, limit, result)

        clean = text.strip()
        if fits(clean, limit):
            assert result == clean
            continue
        body = _body(result)
        assert clean.startswith(body), (text, result)
        cut = len(body)
        urls = [tuple(u["indices"]) for u in extract_urls_with_indices(clean)]
        emojis = [tuple(e["indices"]) for e in extract_emojis_with_indices(clean)]
        assert not _inside(cut, urls), (text, result)
        assert not _inside(cut, emojis), (text, result)
        assert clean[cut : cut + 1] not in {"\u200d", "\ufe0f", "\u0301"}, (text, result)
        assert clean[cut - 1 : cut] != "\u200d", (text, result)


def test_the_shortcut_weighs_as_parse_tweet_does() -> None:
    """weighted_length skips parse_tweet for weight-one text without an emoji or a URL: on
    random texts (dots, slashes, digits, accents, combining marks, the two low emoji, CJK and
    emoji, so that every branch is taken) both must agree."""
    rng = random.Random(7)
    pieces = [
        "word",
        " ",
        "x.com",
        "e.g.",
        "...",
        "a. b",
        "http://t.co/x",
        "#1",
        "*",
        "\n",
        "@handle",
        "3.14",
        "end.",
        "#",
        "~!?",
        "   ",
        "www",
        "ok.",
        "a://",
        "café",
        "e\u0301",
        "\u00a9",
        "\u00ae",
        "Ωμέγα",
        "привет",
        "日本",
        "\U0001f44d",
        "\u2026",
        "#\ufe0f\u20e3",
        "\u10ff",
        "\u1100",
    ]
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
        assert weighted_length(text) == parse_tweet(text).weightedLength, text
