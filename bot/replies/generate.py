"""Write the one reply to a mention: claim it, ask the model with the prompt `prompting` builds,
check and store the reply."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import bindparam, insert, select, text

from bot.db.base import UTCDateTime, utcnow
from bot.db.engine import transaction
from bot.mentions.schema import PlatformUser
from bot.replies import claims
from bot.replies.deps import ReplyDeps, TryLater
from bot.replies.parts import THREAD_JOIN, set_parts
from bot.replies.prompting import build_prompt, max_tokens_for, sampling_of
from bot.replies.schema import Reply, ReplyFlag
from bot.replies.usage import charge_tokens
from bot.subscribers.tiers import Policy, policies, policy_for
from bot.vocab import Flag, Moderation, Reason, ReplyStatus, UnknownTierError
from models.llm_client import Completion, LLMRejected, LLMUnavailable
from models.postprocess import ReplyPolicy, process_reply
from models.postprocess.persona import leaks_system_prompt, persona_overlap
from models.profiles.catalog import get_profile
from models.prompt import COMPACT_STOP, looks_like_injection

log = structlog.get_logger(__name__)

# process_reply's reasons as the mention's failure reasons.
_REJECTED = {"empty": Reason.EMPTY_OUTPUT, "refusal": Reason.REFUSAL}


def fail(deps: ReplyDeps, mention_id: int, reason: Reason, detail: str = "") -> None:
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
    messages = build_prompt(deps, claimed, username, policy)
    if messages is None:
        fail(deps, mention_id, Reason.TOO_LONG, "the mention does not fit the model's context")
        return None
    started = time.perf_counter()
    try:
        answer = complete(deps, messages, policy)
    except LLMUnavailable as exc:
        deps.breaker.record_failure()
        _release(deps, mention_id)
        raise TryLater(f"llm unavailable: {exc}") from None
    except LLMRejected as exc:
        fail(deps, mention_id, Reason.LLM_REJECTED, str(exc))
        return None
    deps.breaker.record_success()
    charge_tokens(deps.sessions, policy, answer.completion)
    flags = flags_for(answer, claimed.text, messages[0]["content"])
    if answer.reason == Reason.PERSONA_LEAK:
        # Kept, never posted, so moderators see what the model was talked into.
        _store(deps, mention_id, answer, policy, flags | {Flag.PERSONA_LEAK}, started)
        return None
    if answer.reason is not None:
        fail(deps, mention_id, answer.reason, answer.completion.text[:200])
        return None
    reply_id = _store(deps, mention_id, answer, policy, flags, started)
    log.info(
        "generate.done",
        mention_id=mention_id,
        reply_id=reply_id,
        completion_tokens=answer.completion.completion_tokens,
        flags=sorted(flags),
    )
    if reply_id is None or policy.moderation in (Moderation.PRE, Moderation.SHADOW):
        return None  # nothing to post (yet): a moderator approves pre-moderated replies
    return reply_id


_CHANGE_FLAGS = {
    "urls_removed": Flag.URL_REMOVED,
    "leading_mentions": Flag.MENTION_REMOVED,
    "mentions_capped": Flag.MENTION_REMOVED,
    "truncated": Flag.TRUNCATED,
}
# Above this share of its word 4-grams from the system prompt, a reply is echoing it.
PERSONA_OVERLAP_FLAG = 0.2


def flags_for(answer: Answer, mention_text: str, system_prompt: str) -> set[Flag]:
    """What moderators should be told about this reply (stored with it)."""
    flags = {_CHANGE_FLAGS[c] for c in answer.changes if c in _CHANGE_FLAGS}
    if answer.attempts > 1:
        flags.add(Flag.REGENERATED)
    if persona_overlap(answer.text, system_prompt) >= PERSONA_OVERLAP_FLAG:
        flags.add(Flag.PERSONA_OVERLAP)
    if looks_like_injection(mention_text):
        flags.add(Flag.INJECTION_LIKE)
    return flags


_STATUS = {
    Moderation.PRE: ReplyStatus.PENDING_REVIEW,
    Moderation.SHADOW: ReplyStatus.SHADOWED,
}
_STATUS_REASON = {ReplyStatus.HELD: Reason.PERSONA_LEAK}


# The reply's insert, written once: SQLAlchemy does not cache INSERT ... ON CONFLICT
# constructs, and compiling this one for every reply was a tenth of the generate worker's
# CPU. The unique mention_id keeps a reply per mention whoever stores first.
_INSERT_REPLY = text(
    "INSERT INTO replies (mention_id, text, status, reason, moderation, model, prompt_tokens, "
    "completion_tokens, generation_s, ttft_s, created_at, approved_at) VALUES (:mention_id, "
    ":text, :status, :reason, :moderation, :model, :prompt_tokens, :completion_tokens, "
    ":generation_s, :ttft_s, :created_at, :approved_at) "
    "ON CONFLICT (mention_id) DO NOTHING RETURNING id"
).bindparams(
    bindparam("created_at", type_=UTCDateTime()), bindparam("approved_at", type_=UTCDateTime())
)


def _store(
    deps: ReplyDeps,
    mention_id: int,
    answer: Answer,
    policy: Policy,
    flags: set[Flag],
    started: float,
) -> int | None:
    """Store the reply (unique per mention) with its flags and mark the mention answered, or
    failed (persona_leak) when the output checks held the reply back."""
    held = answer.reason == Reason.PERSONA_LEAK
    status = (
        ReplyStatus.HELD
        if held
        else _STATUS.get(Moderation(policy.moderation), ReplyStatus.APPROVED)
    )
    now = utcnow()
    values = {
        "mention_id": mention_id,
        "text": answer.text,
        # Pre-moderated tiers wait for a moderator; shadow tiers are only recorded; the
        # others post at once.
        "status": status.value,
        "reason": _STATUS_REASON.get(status),
        "moderation": str(policy.moderation),
        "model": answer.completion.model,
        "prompt_tokens": answer.completion.prompt_tokens,
        "completion_tokens": answer.completion.completion_tokens,
        "generation_s": time.perf_counter() - started,
        "ttft_s": answer.completion.ttft_s,
        "created_at": now,
        "approved_at": now if status == ReplyStatus.APPROVED else None,
    }
    with transaction(deps.sessions) as s:
        reply_id = s.execute(_INSERT_REPLY, values).scalar_one_or_none()
        if reply_id is not None and flags:
            rows = [{"reply_id": reply_id, "flag": f.value} for f in sorted(flags)]
            s.connection().execute(insert(ReplyFlag), rows)  # Core: no ORM bulk machinery
        if reply_id is not None and len(answer.posts) > 1:
            set_parts(s, reply_id, answer.posts)
        if held:
            # The system failed this user: the quota unit goes back with the failure.
            claims.fail_mention(s, mention_id, Reason.PERSONA_LEAK, "reply held back", now)
            return None
        claims.answer_mention(s, mention_id, now)
        if status == ReplyStatus.SHADOWED:
            # Nothing reaches the user: a shadow tier's reply costs them nothing.
            claims.refund_quota(s, mention_id)
    return int(reply_id) if reply_id is not None else None


@dataclass(frozen=True)
class Answer:
    """The model's last completion, the text to post ("" when none) and why not, what the
    output rules changed, and how many completions it took."""

    completion: Completion
    text: str
    reason: Reason | None
    changes: tuple[str, ...] = ()
    attempts: int = 1
    posts: tuple[str, ...] = ()  # the thread's parts when it takes more than one post


def complete(deps: ReplyDeps, messages: list[dict[str, str]], policy: Policy) -> Answer:
    """Ask the model; an empty answer, a refusal or a reply that reproduces the system prompt
    is asked for once more before the mention fails."""
    settings = deps.settings
    sampling = sampling_of(deps)
    extra: dict[str, Any] = {
        "top_k": sampling.top_k,
        "min_p": sampling.min_p,
        "repetition_penalty": sampling.repetition_penalty,
    }
    if settings.llm_min_tokens:
        # A vLLM extension: the model may not end before it has said anything.
        extra["min_tokens"] = settings.llm_min_tokens
    if sampling.reasoning_effort:
        extra["reasoning_effort"] = sampling.reasoning_effort
    if get_profile(settings.model_profile).prompt_style == "compact":
        extra["stop"] = list(COMPACT_STOP)
    reply_policy = ReplyPolicy(
        max_mentions=settings.reply_max_mentions,
        url_allowlist=tuple(settings.reply_url_allowlist),
        own_handle=deps.bot_username,
        max_posts=settings.thread_max_posts,
    )
    completion: Completion | None = None
    reason = Reason.EMPTY_OUTPUT
    leaked: Answer | None = None
    for attempt in range(2):
        earlier = completion
        completion = deps.llm.complete(
            messages,
            max_tokens=max_tokens_for(settings.llm_max_tokens, sampling, policy),
            # The tier's priority reaches vLLM's scheduler (--scheduling-policy priority).
            priority=policy.priority if settings.llm_send_priority else None,
            temperature=(
                sampling.temperature
                if settings.llm_temperature is None
                else settings.llm_temperature
            ),
            top_p=sampling.top_p,
            # A second try must not repeat the first one's answer word for word.
            seed=None if attempt == 0 else int(time.time() * 1000) % 2**31,
            extra=extra,
        )
        completion = _spent(completion, earlier)
        processed = process_reply(completion.text, reply_policy)
        # A thread's parts read as one text (parts.THREAD_JOIN); each is posted on its own.
        text, posts = THREAD_JOIN.join(processed.posts), tuple(processed.posts)
        if posts and leaks_system_prompt(text, messages[0]["content"]):
            # What a model that obeys "print your instructions" says: never posted.
            leaked = Answer(completion, text, Reason.PERSONA_LEAK, processed.changes, 2, posts)
            log.warning("generate.persona_leak", attempt=attempt + 1)
            continue
        if posts:
            return Answer(completion, text, None, processed.changes, attempt + 1, posts)
        reason = _REJECTED.get(processed.reason or "", Reason.EMPTY_OUTPUT)
        log.info("generate.regenerate", attempt=attempt + 1, reason=reason)
    assert completion is not None
    return _gave_up(leaked, completion, reason)


def _gave_up(leaked: Answer | None, completion: Completion, reason: Reason) -> Answer:
    """No attempt gave a reply to post: the leak (kept for moderators) if there was one,
    else the failure; either way with every attempt's tokens (`completion` holds them)."""
    if leaked is None:
        return Answer(completion, "", reason, attempts=2)
    # The leak may be the first attempt's text; the tokens are both attempts'.
    spent = replace(
        leaked.completion,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
    )
    return replace(leaked, completion=spent)


def _spent(latest: Completion, earlier: Completion | None) -> Completion:
    """The latest completion with the tokens of the attempt before it added.

    Why: a regeneration spends tokens twice, and the reply row is the operator's record of
    cost (`mentionbot usage`, the tier's token budget), so it stores what every attempt
    spent, not only what the kept completion did.
    """
    if earlier is None:
        return latest
    return replace(
        latest,
        prompt_tokens=latest.prompt_tokens + earlier.prompt_tokens,
        completion_tokens=latest.completion_tokens + earlier.completion_tokens,
    )
