"""Which mentions the bot answers, and why: every mention passes through decide()."""

from __future__ import annotations

from dataclasses import dataclass

from bot.platform import Author, Post
from models.postprocess import strip_control_chars

# Far above anything X accepts (280 weighted, 25k for long posts): input this size is hostile.
MAX_MENTION_CHARS = 25_000


def clean_text(text: str) -> str:
    """Drop characters no database or prompt should carry (Postgres rejects NUL, and one
    such post must never block the whole poll)."""
    return strip_control_chars(text)


@dataclass(frozen=True)
class Decision:
    """Accept or ignore, with a reason code stored on the mention."""

    accepted: bool
    reason: str


def decide(post: Post, author: Author | None, bot_user_id: str) -> Decision:
    """Decide one mention; later issues add tiers, quotas and abuse rules here."""
    if post.author_id == bot_user_id:
        return Decision(False, "own_post")
    if author is None:
        return Decision(False, "unknown_author")
    if not post.text.strip():
        return Decision(False, "empty")
    if len(post.text) > MAX_MENTION_CHARS:
        return Decision(False, "too_long")
    return Decision(True, "accepted")
