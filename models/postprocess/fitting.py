"""Fitting a reply to X's weighted length, as one post or a short numbered thread.

Threads split at sentence ends (when that keeps at least half a post), else at spaces, else
inside a word with an ellipsis; never just before an "@". Posts get a " 1/3" suffix only when
the whole text fits in ``max_posts`` numbered posts; otherwise the split is redone without
numbers to keep as much text as possible, and the last post is cut with ``fit_to_limit``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.postprocess.mentions import AT, cap_mentions, count_mentions, strip_leading_mentions
from models.postprocess.urls import remove_urls, url_spans
from models.text import ASCII_TERMINATORS, CJK_TERMINATORS, CLOSERS, collapse_whitespace
from models.xlength import ELLIPSIS, fit_to_limit, fits, weighted_length

__all__ = ["fit_posts"]

# As one string for str.rstrip and regex classes; sorted so the pattern is the same every run.
_CLOSER_CHARS = "".join(sorted(CLOSERS))
_CJK_STOP_RUN = re.compile(
    "[" + "".join(sorted(CJK_TERMINATORS)) + "][" + re.escape(_CLOSER_CHARS) + "]*"
)
_MIN_SENTENCE_SHARE = 0.5


@dataclass(frozen=True)
class _Cut:
    end: int  # the post is text[start:end]
    resume: int  # the next post starts here
    sentence: bool


def fit_posts(
    text: str, *, limit: int, max_posts: int, max_mentions: int, allow: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """Return the posts for ``text`` and the changes fitting made."""
    if fits(text, limit) or max_posts == 1:
        post = fit_to_limit(text, limit)
        return _guard([post], limit, max_mentions, allow), (["truncated"] if post != text else [])

    n = max_posts
    reserve = weighted_length(f" {n}/{n}")
    if limit - reserve >= reserve:
        posts, complete = _split(text, limit - reserve, n)
        posts = _guard(posts, limit - reserve, max_mentions, allow)
        if complete and len(posts) > 1:
            numbered = [f"{post} {i}/{len(posts)}" for i, post in enumerate(posts, 1)]
            if all(fits(p, limit) for p in numbered):
                return numbered, ["threaded", "numbered"]
    posts, complete = _split(text, limit, n)
    posts = _guard(posts, limit, max_mentions, allow)
    changes = ["threaded"] if len(posts) > 1 else []
    return posts, changes + ([] if complete else ["truncated"])


def _guard(posts: list[str], budget: int, cap: int, allow: tuple[str, ...]) -> list[str]:
    """Undo what a cut can create; every post fits, at most ``cap`` live mentions in all."""
    # A cut can make a link ("-evil.net" cut after the "-"), a leading at-sign, or a mention
    # ("@jack" cut off "@jacké"). Every rule only deletes, so the loop ends.
    out: list[str] = []
    left = cap
    for post in posts:
        while True:
            before = post
            post = cap_mentions(post, left)
            post = strip_leading_mentions(remove_urls(post, allow))
            post = collapse_whitespace(post)
            if not fits(post, budget):
                post = fit_to_limit(post, budget)
            if post == before:
                break
        if post:
            left -= count_mentions(post)
            out.append(post)
    return out


def _split(text: str, budget: int, max_posts: int) -> tuple[list[str], bool]:
    """Cut ``text`` into at most ``max_posts`` posts; True if nothing had to be dropped."""
    cuts = _cut_points(text)
    posts: list[str] = []
    start = 0
    while len(posts) < max_posts - 1:
        rest = text[start:]
        if fits(rest, budget):
            break
        cut = _choose_cut(text, start, cuts, budget)
        exact = True
        if cut is not None:
            post, resume = text[start : cut.end].strip(), cut.resume
        else:
            post, resume, exact = _hard_cut(text, start, budget)
        if not post or resume <= start:
            break
        posts.append(post)
        start = resume
        if not exact:
            return posts, False
    rest = text[start:].strip()
    last = fit_to_limit(rest, budget) if rest else ""
    if last:
        posts.append(last)
    return posts, last == rest


def _cut_points(text: str) -> list[_Cut]:
    urls = url_spans(text)

    def in_url(i: int) -> bool:
        return any(s < i < e for s, e in urls)

    cuts: list[_Cut] = []
    for space in re.finditer(r"\s+", text):
        s, e = space.span()
        if s == 0 or e == len(text) or in_url(s):
            continue
        before = text[:s].rstrip(_CLOSER_CHARS)[-1:]
        sentence = "\n" in space.group() or before in ASCII_TERMINATORS or before in CJK_TERMINATORS
        cuts.append(_Cut(s, e, sentence))
    for stop in _CJK_STOP_RUN.finditer(text):
        e = stop.end()
        if 0 < e < len(text) and not text[e].isspace() and not in_url(e):
            cuts.append(_Cut(e, e, True))
    return sorted(cuts, key=lambda c: c.end)


def _choose_cut(text: str, start: int, cuts: list[_Cut], budget: int) -> _Cut | None:
    best_word: _Cut | None = None
    best_sentence: _Cut | None = None
    for cut in cuts:
        if cut.end <= start:
            continue
        chunk = text[start : cut.end].strip()
        if not chunk:
            continue
        if not fits(chunk, budget):
            break
        if text[cut.resume : cut.resume + 1] in AT:
            continue  # the next post would start with an at-sign
        best_word = cut
        if cut.sentence:
            best_sentence = cut
    if best_sentence is not None:
        kept = weighted_length(text[start : best_sentence.end].strip())
        if kept >= _MIN_SENTENCE_SHARE * budget or best_word is None:
            return best_sentence
    return best_word


_FIRST_WORD = re.compile(r"\S+")


def _hard_cut(text: str, start: int, budget: int) -> tuple[str, int, bool]:
    """Cut one word that alone is too long (CJK without spaces); the post ends with "…"."""
    rest = text[start:]
    word = _FIRST_WORD.match(rest)
    post = fit_to_limit(word.group(0) if word else rest, budget)  # the cut is inside it
    body = post.removesuffix(ELLIPSIS).rstrip()
    if body and rest.startswith(body):
        resume = start + len(body)
        while resume < len(text) and text[resume].isspace():
            resume += 1
        return post, resume, True
    return post, len(text), False  # cannot tell where it cut: this post is the last
