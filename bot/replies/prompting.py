"""The prompt for a mention: the chat messages within the model's window, and the thread context
(the mention's ancestors and quoted post, read from the database or from X) they carry.

The generate worker (`generate`) sends what `build_prompt` returns; the pipeline bench builds
its requests the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy import select

from bot.db.engine import transaction
from bot.mentions.schema import ReferencedPost
from bot.platform.protocol import PlatformError, Post
from bot.replies import claims
from bot.replies.deps import ReplyDeps
from bot.subscribers.tiers import Policy
from models.llm_client import LLMError
from models.profiles.catalog import get_profile
from models.profiles.definition import Sampling
from models.prompt import ContextPost, build_messages
from models.prompt_fit import fit_text, fit_thread

log = structlog.get_logger(__name__)

# What the prompt spends beyond the system message, the posts and the reply: the user
# message's framing lines and the chat template's markers.
PROMPT_OVERHEAD_TOKENS = 96


def build_prompt(
    deps: ReplyDeps, claimed: claims.ClaimedMention, username: str, policy: Policy
) -> list[dict[str, str]] | None:
    """The chat messages within the model's window: the mention first (cut with a marker
    if it must be), the thread with what is left; None when not even a cut mention fits."""
    settings, count = deps.settings, _token_counter(deps)
    profile = get_profile(settings.model_profile)
    style = profile.prompt_style
    system = build_messages(
        deps.persona, "", username, bot_username=deps.bot_username, style=style
    )[0]
    room = (
        profile.max_model_len
        - count(system["content"])
        - max_tokens_for(settings.llm_max_tokens, sampling_of(deps), policy)
        - PROMPT_OVERHEAD_TOKENS
    )
    mention = fit_text(claimed.text, min(settings.mention_token_budget, room), count)
    if not mention.strip():
        return None
    if mention != claimed.text:
        log.info("generate.mention_cut", chars=len(claimed.text), kept=len(mention))
    thread: list[ContextPost] = []
    if claimed.in_reply_to or claimed.quoted:  # counted only then: a count is a /tokenize call
        # A text never costs more tokens than its UTF-8 bytes: most mentions leave the whole
        # context budget without a count.
        short = (
            room - len(mention.encode("utf-8", "surrogatepass")) >= settings.context_token_budget
        )
        budget = min(settings.context_token_budget, room - (0 if short else count(mention)))
        thread = _thread_context(deps, claimed.in_reply_to, budget, quoted=claimed.quoted)
    return build_messages(
        deps.persona, mention, username, thread=thread, bot_username=deps.bot_username, style=style
    )


def _thread_context(
    deps: ReplyDeps, in_reply_to: str | None, budget: int, *, quoted: str | None = None
) -> list[ContextPost]:
    """The mention's ancestors, oldest first, nearest kept first within the token budget; a
    quote post's quoted post counts as the nearest (the question is about it). The posts
    the mentions page carried expanded are read from the database; only older ancestors
    are asked of X."""
    nearest_first: list[ContextPost] = []
    kept = _kept_posts(deps, [i for i in (quoted, in_reply_to) if i])
    next_id = in_reply_to
    try:
        if quoted:
            found = [kept[quoted]] if quoted in kept else deps.platform.get_posts([quoted])
            nearest_first += [_as_context(deps, p) for p in found]
        while next_id and len(nearest_first) < deps.settings.context_posts:
            posts = [kept[next_id]] if next_id in kept else deps.platform.get_posts([next_id])
            if not posts:
                break
            nearest_first.append(_as_context(deps, posts[0]))
            next_id = posts[0].in_reply_to_post_id
    except PlatformError as exc:
        # Context makes a reply better; its absence must not cost the user an answer.
        log.warning("generate.context_unavailable", error=str(exc))
    if budget <= 0:
        return []
    return fit_thread(nearest_first, budget, _token_counter(deps))


def _kept_posts(deps: ReplyDeps, ids: list[str]) -> dict[str, Post]:
    """The context posts the listener kept (bot.mentions.schema.ReferencedPost), by id."""
    if not ids:
        return {}
    with transaction(deps.sessions) as s:
        rows = s.scalars(
            select(ReferencedPost).where(ReferencedPost.platform_post_id.in_(ids))
        ).all()
    return {
        r.platform_post_id: Post(
            r.platform_post_id,
            r.text,
            author_id=r.author_id,
            in_reply_to_post_id=r.in_reply_to_post_id,
            author_username=r.author_username,
            display_start=r.display_start,
        )
        for r in rows
    }


def _as_context(deps: ReplyDeps, post: Post) -> ContextPost:
    return ContextPost(
        # By handle, never by numeric id: the model must tell who said what, and see which
        # posts are its own.
        author_username=post.author_username or "someone",
        # Without the handles X puts before a reply's own words.
        text=post.text[post.display_start or 0 :],
        by_bot=post.author_id == deps.bot_user_id,
    )


def _token_counter(deps: ReplyDeps) -> Callable[[str], int]:
    """Count with the served model's tokenizer; estimate if the server cannot say."""

    def count(text: str) -> int:
        try:
            return deps.llm.count_tokens(text)
        except LLMError:
            # A generous estimate (most tokenizers spend 3-4 characters a token).
            return len(text) // 2 + 1

    return count


def sampling_of(deps: ReplyDeps) -> Sampling:
    return get_profile(deps.settings.model_profile).sampling


def max_tokens_for(llm_max_tokens: int | None, sampling: Sampling, policy: Policy) -> int:
    """Tokens a request may generate: the reply's cap (MENTIONBOT_LLM_MAX_TOKENS, else the
    profile's, never above the tier's) plus the profile's reasoning allowance on top."""
    reply_cap = min(llm_max_tokens or sampling.max_tokens, policy.max_output_tokens)
    return reply_cap + sampling.reasoning_tokens
