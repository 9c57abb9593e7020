"""Which mentions the bot answers, and why: every mention passes through decide()."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from bot.mentions.schema import Mention, PlatformUser
from bot.platform.protocol import Author, Post
from bot.settings import Settings
from bot.subscribers import quotas
from bot.subscribers.tiers import Policy, effective_tier, policy_for
from bot.vocab import BLOCKED, Decision, EffectiveTier, MentionStatus, Tier

# Far above anything X accepts (280 weighted, 25k for long posts): input this size is hostile.
MAX_MENTION_CHARS = 25_000
_HANDLE = re.compile(r"(?<![\w@])@\w{1,15}")
# The handles X puts before a reply's text, when the platform did not say where they end.
_LEADING_HANDLES = re.compile(r"\s*(?:@\w{1,15}(?:\s+|$))+")
_QUOTA_DECISIONS = {"hour": Decision.QUOTA_HOUR, "day": Decision.QUOTA_DAY}
# A mention in these states has (or will have) an answer: an edit chain's one answer, and
# what the per-thread cap counts (of the mentions the model answers: not the upsells).
ANSWERING = (MentionStatus.QUEUED, MentionStatus.GENERATING, MentionStatus.ANSWERED)
TAKEN_ON = Mention.status.in_(ANSWERING) & (Mention.decision == Decision.ACCEPTED)


@dataclass(frozen=True)
class GatingRules:
    """The abuse limits an operator sets (from Settings)."""

    thread_cap: int = 3
    loop_max_per_minute: int = 5
    loop_cooldown_s: float = 600.0
    spam_max_mentions: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> GatingRules:
        """The operator's limits."""
        return cls(
            thread_cap=settings.thread_cap,
            loop_max_per_minute=settings.loop_max_per_minute,
            loop_cooldown_s=settings.loop_cooldown_s,
            spam_max_mentions=settings.spam_max_mentions,
        )


@dataclass(frozen=True)
class Verdict:
    """What decide() gives a new mention: its Decision (stored on the mention), the tier it
    was decided under, and what the decision gives it (a priority, the upsell, a quota unit)."""

    decision: Decision
    tier: EffectiveTier | None = None
    priority: int | None = None
    upsell_text: str | None = None
    quota_taken: bool = False

    @property
    def accepted(self) -> bool:
        """Whether the model answers it (queued for the generate worker)."""
        return self.decision is Decision.ACCEPTED


class Facts(Protocol):
    """What decide() needs to know beyond the post, and the units it takes.

    Two implementations: `SessionFacts` asks the database for each mention (the reference,
    one mention at a time), and `bot.mentions.page.PageFacts` reads a whole page's facts
    in a few set-based statements and keeps the page's own effects in memory. The rules
    themselves, and their order, exist once: in decide_with().
    """

    def chain_answered(self, root: str) -> bool: ...
    def root_stored(self, root: str) -> bool: ...
    def tier(self, user_id: int) -> EffectiveTier: ...
    def looping(self, post: Post, user_id: int, rules: GatingRules) -> bool: ...
    def claim_upsell(self, user_id: int, policy: Policy) -> bool: ...
    def answered_in(self, conversation_id: str) -> int: ...
    def token_budget_spent(self, tier: Tier, budget: int) -> bool: ...
    def take_quota(self, user_id: int, policy: Policy) -> str | None: ...


def decide(
    session: Session,
    post: Post,
    author: Author | None,
    user: PlatformUser | None,
    bot_user_id: str,
    rules: GatingRules,
    tier_policies: Mapping[Tier, Policy],
    now: datetime,
) -> Verdict:
    """Decide one mention inside the caller's transaction, asking the database as it goes."""
    facts = SessionFacts(session, now)
    user_id = user.id if user is not None else None
    return decide_with(facts, post, author, user_id, bot_user_id, rules, tier_policies)


def decide_with(
    facts: Facts,
    post: Post,
    author: Author | None,
    user: int | None,
    bot_user_id: str,
    rules: GatingRules,
    tier_policies: Mapping[Tier, Policy],
) -> Verdict:
    """The rules, cheapest checks first; the first that applies gives the decision."""
    refused = _refused_post(facts, post, bot_user_id)
    if refused is not None:
        return Verdict(refused)
    if author is None or user is None:
        return Verdict(Decision.UNKNOWN_AUTHOR)
    refused = _refused_text(post)
    if refused is not None:
        return Verdict(refused)
    tier = facts.tier(user)
    if tier is BLOCKED:
        return Verdict(Decision.BLOCKED, tier=tier)
    refused = _refused_author(facts, post, user, rules)
    if refused is not None:
        return Verdict(refused, tier=tier)
    return _by_policy(facts, post, user, tier, rules, policy_for(tier_policies, tier))


def _refused_post(facts: Facts, post: Post, bot_user_id: str) -> Decision | None:
    """Posts the bot never answers, whoever wrote them: its own, reposts, edits of a chain
    it answers, conversations it may not reply in."""
    if post.author_id == bot_user_id:
        return Decision.OWN_POST
    if post.repost_of is not None:
        return Decision.REPOST
    if post.edit_root is not None and facts.chain_answered(post.edit_root):
        return Decision.EDITED_AFTER_REPLY
    if _replies_restricted(facts, post):
        return Decision.REPLIES_RESTRICTED
    return None


def _refused_text(post: Post) -> Decision | None:
    """A text that asks nothing, or is too long to be a question."""
    if not post.text.strip() or _says_nothing(post):
        return Decision.EMPTY
    if len(post.text) > MAX_MENTION_CHARS:
        return Decision.TOO_LONG
    return None


def _refused_author(facts: Facts, post: Post, user: int, rules: GatingRules) -> Decision | None:
    """An author the bot does not answer now: mass-tagging, or looping."""
    if len(_HANDLE.findall(written_text(post))) > rules.spam_max_mentions:
        return Decision.SPAM
    if facts.looping(post, user, rules):
        return Decision.LOOP
    return None


def _by_policy(
    facts: Facts, post: Post, user: int, tier: Tier, rules: GatingRules, policy: Policy
) -> Verdict:
    """What the author's tier gives them: an answer within the thread cap, the token budget
    and their quota, or (a tier the model does not answer) the upsell now and then."""
    if not policy.answered:
        if policy.upsell_text and facts.claim_upsell(user, policy):
            return Verdict(
                Decision.UPSELL, tier=tier, priority=policy.priority, upsell_text=policy.upsell_text
            )
        return Verdict(Decision.NOT_SUBSCRIBED, tier=tier)
    if post.conversation_id and facts.answered_in(post.conversation_id) >= rules.thread_cap:
        return Verdict(Decision.THREAD_CAP, tier=tier)
    # Before the quota, so a tier out of tokens costs the user no unit. Workers count tokens
    # after generating: mentions accepted before the budget ran out may still overshoot it.
    if facts.token_budget_spent(tier, policy.daily_token_budget):
        return Verdict(Decision.TOKEN_BUDGET, tier=tier)
    spent = facts.take_quota(user, policy)
    if spent is not None:
        return Verdict(_QUOTA_DECISIONS[spent], tier=tier)
    return Verdict(Decision.ACCEPTED, tier=tier, priority=policy.priority, quota_taken=True)


def _replies_restricted(facts: Facts, post: Post) -> bool:
    """Whether X would refuse our reply (its 403 "Reply to this conversation is not
    allowed..."): the conversation limits who may reply and its first post did not mention
    the bot. A mention that is that first post did; otherwise the first post is one of our
    stored mentions exactly when it mentioned us. Following and subscribing are not known
    here, so those settings count as closed to the bot unless it was mentioned."""
    if post.reply_settings in (None, "everyone") or post.in_reply_to_post_id is None:
        return False
    root = post.conversation_id
    return root is None or not facts.root_stored(root)


class SessionFacts:
    """The facts of one mention, each read from the database when decide() asks."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session, self.now = session, now

    def chain_answered(self, root: str) -> bool:
        """Whether a version of this edit chain is answered or on its way to an answer (an
        edit appears again after since_id with a new id: the same question must not cost
        twice)."""
        in_chain = or_(Mention.platform_post_id == root, Mention.edit_root_id == root)
        found = self.session.scalar(
            select(Mention.id).where(in_chain, Mention.status.in_(ANSWERING)).limit(1)
        )
        return found is not None

    def root_stored(self, root: str) -> bool:
        found = self.session.scalar(select(Mention.id).where(Mention.platform_post_id == root))
        return found is not None

    def _user(self, user_id: int) -> PlatformUser:
        user = self.session.get(PlatformUser, user_id)
        if user is None:
            raise LookupError(f"platform user {user_id} is not stored")
        return user

    def tier(self, user_id: int) -> EffectiveTier:
        return effective_tier(self.session, self._user(user_id), self.now)

    def looping(self, post: Post, user_id: int, rules: GatingRules) -> bool:
        """An account (often another bot) mentioning us too fast in one conversation cools
        down."""
        user = self._user(user_id)
        if user.cooldown_until is not None and user.cooldown_until > self.now:
            return True
        if not post.conversation_id:
            return False
        recent = self.session.scalar(
            select(func.count())
            .select_from(Mention)
            .where(
                Mention.author_id == user.id,
                Mention.conversation_id == post.conversation_id,
                Mention.received_at > loop_since(self.now),
            )
        )
        if (recent or 0) >= rules.loop_max_per_minute:
            user.cooldown_until = self.now + timedelta(seconds=rules.loop_cooldown_s)
            self.session.flush()
            return True
        return False

    def claim_upsell(self, user_id: int, policy: Policy) -> bool:
        """At most one upsell per user per period: a guarded update, safe under concurrency."""
        since = self.now - timedelta(days=policy.upsell_every_days)
        claimed = self.session.execute(
            update(PlatformUser)
            .where(
                PlatformUser.id == user_id,
                or_(PlatformUser.last_upsell_at.is_(None), PlatformUser.last_upsell_at < since),
            )
            .values(last_upsell_at=self.now)
            .returning(PlatformUser.id)
        ).first()
        return claimed is not None

    def answered_in(self, conversation_id: str) -> int:
        """Mentions the bot took on in this conversation (the per-thread reply cap)."""
        count = self.session.scalar(
            select(func.count())
            .select_from(Mention)
            .where(Mention.conversation_id == conversation_id, TAKEN_ON)
        )
        return int(count or 0)

    def token_budget_spent(self, tier: Tier, budget: int) -> bool:
        return quotas.token_budget_spent(self.session, tier, budget, self.now)

    def take_quota(self, user_id: int, policy: Policy) -> str | None:
        return quotas.take_reply_quota(
            self.session, user_id, policy.replies_per_hour, policy.replies_per_day, self.now
        )


def loop_since(now: datetime) -> datetime:
    """Mentions received after this count towards the loop limit (a minute; when we read
    them: a backlog read at once after listener downtime can look like a burst, post times
    would be more exact)."""
    return now - timedelta(seconds=60)


# Whitespace and invisible format characters: a post that is only these and handles asks
# nothing.
_INVISIBLE = re.compile(r"[\s\u200b-\u200f\u2060-\u2069\u202a-\u202e\ufeff\u00ad]+")


def _says_nothing(post: Post) -> bool:
    """Only handles: nothing to answer, unless it is a reply ("@bot" alone under a post
    asks about that post, whose text the prompt carries as context)."""
    if post.in_reply_to_post_id is not None:
        return False
    return not _INVISIBLE.sub("", _HANDLE.sub("", post.text))


def written_text(post: Post) -> str:
    """The part of a post its author wrote: a reply's text starts with the handles of the
    thread's participants, put there by X (display_text_range says where they end; without
    it, a reply's leading run of handles is skipped). Mass-tagging counts only this part."""
    if post.display_start is not None:
        return post.text[post.display_start :]
    if post.in_reply_to_post_id is not None:
        found = _LEADING_HANDLES.match(post.text)
        return post.text[found.end() :] if found else post.text
    return post.text
