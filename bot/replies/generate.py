"""Write the one reply to a mention: claim it, build the prompt, ask the model, store the reply."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select

from bot.db.base import utcnow
from bot.db.dialect import insert_for
from bot.db.engine import transaction
from bot.mentions.schema import PlatformUser
from bot.platform.protocol import PlatformError
from bot.replies import claims
from bot.replies.deps import ReplyDeps, TryLater
from bot.replies.schema import Reply
from bot.subscribers.tiers import Policy, policies, policy_for
from bot.vocab import Moderation, Reason, ReplyStatus, UnknownTierError
from models.context import fit_thread
from models.llm_client import Completion, LLMError, LLMRejected, LLMUnavailable
from models.postprocess import ReplyPolicy, process_reply
from models.profiles import get_profile
from models.prompt import ContextPost, build_messages

log = structlog.get_logger(__name__)

# process_reply's reasons as the mention's failure reasons.
_REJECTED = {"empty": Reason.EMPTY_OUTPUT, "refusal": Reason.REFUSAL}


def fail(deps: ReplyDeps, mention_id: int, reason: str, detail: str = "") -> None:
    """End a mention as failed with a reason (quota given back), unless it is final already."""
    with transaction(deps.sessions) as s:
        claims.fail_mention(s, mention_id, reason, detail, utcnow())


def park(deps: ReplyDeps, mention_id: int) -> None:
    """The task was parked for later (model server down): keep the sweeper away meanwhile."""
    with transaction(deps.sessions) as s:
        claims.touch_queued(s, mention_id, utcnow())


def _release(deps: ReplyDeps, mention_id: int) -> None:
    with transaction(deps.sessions) as s:
        claims.release_mention(s, mention_id, utcnow())


def generate_reply(deps: ReplyDeps, mention_id: int) -> int | None:
    """Write the reply for a mention; returns the reply id to post, or None if nothing to do."""
    now = utcnow()
    stale = now - timedelta(seconds=deps.settings.stuck_after_s)
    with transaction(deps.sessions) as s:
        if s.scalar(select(Reply.id).where(Reply.mention_id == mention_id)) is not None:
            return None
        claimed = claims.claim_mention(s, mention_id, stale, now)
        if claimed is None:
            log.info("generate.skip", mention_id=mention_id)
            return None
        username = s.scalar(
            select(PlatformUser.username).where(PlatformUser.id == claimed.author_row)
        )
        tier_policies = policies(s)
    try:
        policy = policy_for(tier_policies, claimed.tier)
    except UnknownTierError as exc:
        fail(deps, mention_id, Reason.UNKNOWN_TIER, str(exc))
        return None
    try:
        return _write_reply(deps, mention_id, claimed, username or "someone", policy)
    except Exception:
        # Hand the claim back so the retry (or the sweeper) can take it again at once.
        _release(deps, mention_id)
        raise


def _write_reply(
    deps: ReplyDeps,
    mention_id: int,
    claimed: claims.ClaimedMention,
    username: str,
    policy: Policy,
) -> int | None:
    """Prompt the model and store its reply for a mention this worker has claimed."""
    messages = build_messages(
        deps.persona,
        claimed.text,
        username,
        thread=_thread_context(deps, claimed.in_reply_to),
        bot_username=deps.bot_username,
    )
    started = time.perf_counter()
    try:
        completion, reply_text, reason = complete(deps, messages, policy)
    except LLMUnavailable as exc:
        deps.breaker.record_failure()
        _release(deps, mention_id)
        raise TryLater(f"llm unavailable: {exc}") from None
    except LLMRejected as exc:
        fail(deps, mention_id, Reason.LLM_REJECTED, str(exc))
        return None
    deps.breaker.record_success()
    if reason is not None:
        fail(deps, mention_id, reason, completion.text[:200])
        return None
    reply_id = _store(deps, mention_id, completion, reply_text, policy, started)
    log.info(
        "generate.done",
        mention_id=mention_id,
        reply_id=reply_id,
        completion_tokens=completion.completion_tokens,
    )
    if reply_id is None or policy.moderation == Moderation.PRE:
        return None  # nothing to post (yet): a moderator approves pre-moderated replies
    return reply_id


def _store(
    deps: ReplyDeps,
    mention_id: int,
    completion: Completion,
    text: str,
    policy: Policy,
    started: float,
) -> int | None:
    """Store the reply (unique per mention) and mark the mention answered, in one transaction."""
    pre = policy.moderation == Moderation.PRE
    with transaction(deps.sessions) as s:
        reply_id = s.execute(
            insert_for(s, Reply)
            .values(
                mention_id=mention_id,
                text=text,
                # Pre-moderated tiers wait for a moderator; the others post at once.
                status=ReplyStatus.PENDING_REVIEW if pre else ReplyStatus.APPROVED,
                moderation=policy.moderation,
                model=completion.model,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                generation_s=time.perf_counter() - started,
                ttft_s=completion.ttft_s,
                created_at=utcnow(),
                approved_at=None if pre else utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["mention_id"])
            .returning(Reply.id)
        ).scalar_one_or_none()
        claims.answer_mention(s, mention_id, utcnow())
    return int(reply_id) if reply_id is not None else None


def _thread_context(deps: ReplyDeps, in_reply_to: str | None) -> list[ContextPost]:
    """The mention's ancestors, oldest first, nearest kept first within the token budget."""
    nearest_first: list[ContextPost] = []
    next_id = in_reply_to
    try:
        while next_id and len(nearest_first) < deps.settings.context_posts:
            posts = deps.platform.get_posts([next_id])
            if not posts:
                break
            post = posts[0]
            nearest_first.append(
                ContextPost(author_username=post.author_id or "someone", text=post.text)
            )
            next_id = post.in_reply_to_post_id
    except PlatformError as exc:
        # Context makes a reply better; its absence must not cost the user an answer.
        log.warning("generate.context_unavailable", error=str(exc))
    return fit_thread(nearest_first, deps.settings.context_token_budget, _counter(deps))


def _counter(deps: ReplyDeps) -> Callable[[str], int]:
    """Count with the served model's tokenizer; estimate if the server cannot say."""

    def count(text: str) -> int:
        try:
            return deps.llm.count_tokens(text)
        except LLMError:
            # A generous estimate (most tokenizers spend 3-4 characters a token).
            return len(text) // 2 + 1

    return count


def complete(
    deps: ReplyDeps, messages: list[dict[str, str]], policy: Policy
) -> tuple[Completion, str, Reason | None]:
    """Ask the model; an empty answer is asked for once more before the mention fails.

    Returns the last completion, the text to post ("" when none) and the failure reason.
    """
    settings = deps.settings
    sampling = get_profile(settings.model_profile).sampling
    extra: dict[str, Any] = {
        "top_k": sampling.top_k,
        "min_p": sampling.min_p,
        "repetition_penalty": sampling.repetition_penalty,
    }
    if settings.llm_min_tokens:
        # A vLLM extension: the model may not end before it has said anything.
        extra["min_tokens"] = settings.llm_min_tokens
    reply_policy = ReplyPolicy(
        max_mentions=settings.reply_max_mentions,
        url_allowlist=tuple(settings.reply_url_allowlist),
    )
    completion: Completion | None = None
    reason = Reason.EMPTY_OUTPUT
    for attempt in range(2):
        completion = deps.llm.complete(
            messages,
            max_tokens=min(
                settings.llm_max_tokens or sampling.max_tokens, policy.max_output_tokens
            ),
            # The tier's priority reaches vLLM's scheduler (--scheduling-policy priority).
            priority=policy.priority if settings.llm_send_priority else None,
            temperature=(
                sampling.temperature
                if settings.llm_temperature is None
                else settings.llm_temperature
            ),
            top_p=sampling.top_p,
            # A second try must not repeat the first one's empty answer word for word.
            seed=None if attempt == 0 else int(time.time() * 1000) % 2**31,
            extra=extra,
        )
        processed = process_reply(completion.text, reply_policy)
        if processed.posts:
            # One post per mention for now; threads of several posts are not posted yet.
            return completion, processed.posts[0], None
        reason = _REJECTED.get(processed.reason or "", Reason.EMPTY_OUTPUT)
        log.info("generate.regenerate", attempt=attempt + 1, reason=reason)
    assert completion is not None
    return completion, "", reason
