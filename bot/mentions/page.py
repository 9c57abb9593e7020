"""A whole page of mentions decided with a few set-based statements instead of ~10 per mention.

`PageFacts` reads, before the first decision, everything decide_with() may ask about the
page (edit chains, thread roots, overrides, loop and thread counts, token budgets, quota
counters: one query each, skipped when no post needs it) and then keeps the page's own
effects in memory, in page order: a mention stored earlier in the page counts towards the
loop and thread caps of the later ones, a unit taken earlier is no longer there for the
next, an upsell claimed once is not claimed again. So every mention gets the reason it
would get deciding the page one mention at a time (tests/db/mentions/test_page.py compares
both on generated pages).

Concurrency is optimistic: nothing is locked while the page is decided (a lock on every
author for the whole page made concurrent listeners queue behind each other's pages), and
every write that another listener could have invalidated meanwhile is guarded: the quota
units in `quotas.take_many` (no count ever passes its limit), an upsell claim on the value
read, a mention by its unique key. When a guard fails the caller rolls the page back to
its savepoint and decides it again from a fresh read, this time with the page's quota
counters locked (in key order, as take_many writes them), so a busy user's page cannot
lose the race again and again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.mentions.gating import ANSWERING, TAKEN_ON, GatingRules, Verdict, loop_since
from bot.mentions.schema import Mention
from bot.platform.protocol import Post
from bot.subscribers import quotas
from bot.subscribers.tiers import Policy, active_overrides, resolve_tier
from bot.vocab import EffectiveTier, MentionStatus, Tier


@dataclass
class PageUser:
    """An author's row as the upsert returned it (locked until the listener commits)."""

    id: int
    subscription_type: str | None
    last_upsell_at: datetime | None
    cooldown_until: datetime | None


def _restricted_root(post: Post) -> str | None:
    """The conversation root _replies_restricted would look up for this post."""
    if post.reply_settings in (None, "everyone") or post.in_reply_to_post_id is None:
        return None
    return post.conversation_id


class PageFacts:
    """decide_with()'s facts for one page, read together, updated as the page is decided."""

    def __init__(
        self,
        session: Session,
        posts: Sequence[Post],
        users: dict[int, PageUser],
        tier_policies: Mapping[Tier, Policy],
        now: datetime,
        *,
        lock: bool = False,
    ) -> None:
        self.now, self.users = now, users
        ids = list(users)
        if lock:  # a second try: the counters are read under their row locks
            keys = [quotas.user_key(i, w) for i in ids for w in ("hour", "day")]
            quotas.lock_many(session, keys, (quotas.HOUR, quotas.DAY), now)
        convs = {p.conversation_id for p in posts if p.conversation_id}
        self._answered_roots = _answered_roots(session, {p.edit_root for p in posts} - {None})
        roots = {r for p in posts if (r := _restricted_root(p))}
        self._stored_roots = _stored_ids(session, roots)
        overrides = active_overrides(session, ids, now)
        self._tiers = {
            uid: resolve_tier(overrides.get(uid), u.subscription_type) for uid, u in users.items()
        }
        self._recent = _recent_counts(session, ids, convs, loop_since(now))
        self._taken_on = _taken_on_counts(session, convs)
        budgeted = [t for t, p in tier_policies.items() if p.daily_token_budget > 0]
        self._tier_tokens = quotas.used_many(
            session, [quotas.tier_tokens_key(t) for t in budgeted], quotas.DAY, now
        )
        self._hour = quotas.used_many(
            session, [quotas.user_key(i, "hour") for i in ids], quotas.HOUR, now
        )
        self._day = quotas.used_many(
            session, [quotas.user_key(i, "day") for i in ids], quotas.DAY, now
        )
        self.taken: Counter[int] = Counter()  # units per user, for take_many
        self.limits: dict[int, Policy] = {}
        self.upsells: set[int] = set()  # users whose last_upsell_at becomes now
        self.upsell_was: dict[int, datetime | None] = {}  # what it was: the claim's guard
        self.cooled: set[int] = set()  # users whose cool-down starts now

    # The Facts protocol (bot/mentions/gating.py), in memory.

    def chain_answered(self, root: str) -> bool:
        return root in self._answered_roots

    def root_stored(self, root: str) -> bool:
        return root in self._stored_roots

    def tier(self, user_id: int) -> EffectiveTier:
        return self._tiers[user_id]

    def looping(self, post: Post, user_id: int, rules: GatingRules) -> bool:
        user = self.users[user_id]
        if user.cooldown_until is not None and user.cooldown_until > self.now:
            return True
        if not post.conversation_id:
            return False
        if self._recent[(user_id, post.conversation_id)] >= rules.loop_max_per_minute:
            user.cooldown_until = self.now + timedelta(seconds=rules.loop_cooldown_s)
            self.cooled.add(user_id)
            return True
        return False

    def claim_upsell(self, user_id: int, policy: Policy) -> bool:
        user = self.users[user_id]
        since = self.now - timedelta(days=policy.upsell_every_days)
        if user.last_upsell_at is not None and user.last_upsell_at >= since:
            return False
        self.upsell_was[user_id] = user.last_upsell_at
        user.last_upsell_at = self.now
        self.upsells.add(user_id)
        return True

    def answered_in(self, conversation_id: str) -> int:
        return self._taken_on[conversation_id]

    def token_budget_spent(self, tier: Tier, budget: int) -> bool:
        return budget > 0 and self._tier_tokens.get(quotas.tier_tokens_key(tier), 0) >= budget

    def take_quota(self, user_id: int, policy: Policy) -> str | None:
        """Both windows or neither, as quotas.take_reply_quota (a limit of 0 gives none)."""
        hour_key, day_key = quotas.user_key(user_id, "hour"), quotas.user_key(user_id, "day")
        if policy.replies_per_hour <= 0 or self._hour.get(hour_key, 0) >= policy.replies_per_hour:
            return "hour"
        if policy.replies_per_day <= 0 or self._day.get(day_key, 0) >= policy.replies_per_day:
            return "day"
        self._hour[hour_key] = self._hour.get(hour_key, 0) + 1
        self._day[day_key] = self._day.get(day_key, 0) + 1
        self.taken[user_id] += 1
        self.limits[user_id] = policy
        return None

    # The page's own effects on the later mentions.

    def note(self, post: Post, author_row: int, verdict: Verdict) -> None:
        """What storing `post` (by `author_row`) with `verdict` changes for the mentions
        after it."""
        self._stored_roots.add(post.id)
        if verdict.accepted or verdict.upsell_text:  # queued or answered: answering
            self._answered_roots.add(post.id)
            if post.edit_root is not None:
                self._answered_roots.add(post.edit_root)
        if post.conversation_id:
            self._recent[(author_row, post.conversation_id)] += 1
            if verdict.accepted:
                self._taken_on[post.conversation_id] += 1

    def units(self) -> list[quotas.Units]:
        """Every quota unit the page took, per counter, for one guarded take_many."""
        out = []
        for user_id, n in self.taken.items():
            policy = self.limits[user_id]
            hour, day = quotas.user_key(user_id, "hour"), quotas.user_key(user_id, "day")
            out.append(quotas.Units(hour, quotas.HOUR, n, policy.replies_per_hour))
            out.append(quotas.Units(day, quotas.DAY, n, policy.replies_per_day))
        return out


def _answered_roots(session: Session, roots: set[str | None]) -> set[str]:
    """The edit chains among `roots` with a version answered or on its way to an answer."""
    wanted = {r for r in roots if r is not None}
    if not wanted:
        return set()
    rows = session.execute(
        select(Mention.platform_post_id, Mention.edit_root_id).where(
            or_(Mention.platform_post_id.in_(wanted), Mention.edit_root_id.in_(wanted)),
            Mention.status.in_(ANSWERING),
        )
    )
    return {r for pair in rows.tuples() for r in pair if r in wanted}


def _stored_ids(session: Session, post_ids: set[str]) -> set[str]:
    if not post_ids:
        return set()
    found = session.scalars(
        select(Mention.platform_post_id).where(Mention.platform_post_id.in_(post_ids))
    )
    return set(found)


def _recent_counts(
    session: Session, user_ids: list[int], convs: set[str], since: datetime
) -> Counter[tuple[int, str]]:
    """Mentions per (author, conversation) received since `since`: the loop check's count."""
    if not user_ids or not convs:
        return Counter()
    rows = session.execute(
        select(Mention.author_id, Mention.conversation_id, func.count())
        .where(
            Mention.author_id.in_(user_ids),
            Mention.conversation_id.in_(convs),
            Mention.received_at > since,
        )
        .group_by(Mention.author_id, Mention.conversation_id)
    )
    return Counter({(a, str(c)): int(n) for a, c, n in rows.tuples()})


def _taken_on_counts(session: Session, convs: set[str]) -> Counter[str]:
    """Mentions the bot took on per conversation: the thread cap's count."""
    if not convs:
        return Counter()
    rows = session.execute(
        select(Mention.conversation_id, func.count())
        .where(Mention.conversation_id.in_(convs), TAKEN_ON)
        .group_by(Mention.conversation_id)
    )
    return Counter({str(c): int(n) for c, n in rows.tuples()})


def status_of(verdict: Verdict) -> MentionStatus:
    """The state a verdict stores its mention in."""
    if verdict.accepted:
        return MentionStatus.QUEUED
    return MentionStatus.ANSWERED if verdict.upsell_text else MentionStatus.IGNORED
