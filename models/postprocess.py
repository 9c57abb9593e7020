"""Make model output safe to store and post: no control characters, fitted to X's length."""

from __future__ import annotations

import re

from models.xlength import fit_to_limit

# C0 controls other than tab/newline/CR, DEL, C1 controls, lone surrogates and U+FFFD (what a
# byte-level tokenizer emits for a broken UTF-8 sequence). Postgres rejects NUL outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def strip_control_chars(text: str) -> str:
    """Drop characters no database, prompt or post should carry; keep everything else."""
    return _CONTROL.sub("", text)


def clean_reply(text: str, limit: int = 280) -> str:
    """Model text → postable text: controls removed, spaces collapsed, fitted to `limit`."""
    text = _SPACES.sub(" ", strip_control_chars(text))
    text = "\n".join(line.strip() for line in text.splitlines()).strip()
    return fit_to_limit(text, limit) if text else ""
