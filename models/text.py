"""Text normalisation shared by xlength and postprocess: one form, one set of sentence rules.

``parse_tweet`` counts the NFC form with "\\n" line endings, so everything that measures or
cuts text works on that form and the library's entity indices line up with our strings.
"""

from __future__ import annotations

import re
import unicodedata

# The library keeps this pattern out of its top-level API; it is pinned (==3.0.0), and these
# code points (U+FFFE, U+FEFF, U+FFFF) make X reject the whole post.
from twitter_text.regexp.invalid_chars import invalid_chars as _INVALID_CHARS

__all__ = [
    "ASCII_TERMINATORS",
    "CJK_TERMINATORS",
    "CLOSERS",
    "collapse_whitespace",
    "normalise_text",
    "strip_control_chars",
]

ASCII_TERMINATORS = frozenset(".!?")
# CJK text has no spaces between sentences, so these end a sentence whatever follows.
CJK_TERMINATORS = frozenset("\u3002\uff01\uff1f")  # ideographic full stop, fullwidth ! and ?
# Closing quotes and brackets (ASCII, typographic, CJK) may sit between the stop and the space.
CLOSERS = frozenset("\"')]}\u00bb\u201d\u2019\u300d\u300f\u3011\uff09")

# C0 controls other than tab/newline/CR, DEL, C1 controls, lone surrogates and U+FFFD (what a
# byte-level tokenizer emits for a broken UTF-8 sequence). Postgres rejects NUL outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")
# Every line break a model or a client may send, including the Unicode line and paragraph
# separators, becomes the "\n" X counts.
_LINE_ENDINGS = re.compile(r"\r\n|\r|\u2028|\u2029")
_HSPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def strip_control_chars(text: str) -> str:
    """Drop characters no database, prompt or post should carry; keep everything else."""
    return _CONTROL.sub("", text)


def normalise_text(text: str) -> str:
    """The form X measures: NFC, "\\n" line endings, no code points X rejects."""
    text = unicodedata.normalize("NFC", text)
    text = _LINE_ENDINGS.sub("\n", text)
    text = _INVALID_CHARS.sub("", text)
    return text


def collapse_whitespace(text: str) -> str:
    """One space between words, no blank runs longer than one line, nothing at the ends."""
    text = _HSPACE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()
