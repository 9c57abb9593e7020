"""The pipeline benchmark's mentions: who sends what, on the sandbox and to the bare server.

Both sides get the same prompts: the bare client builds each request with the generate
worker's own code (`prompting.build_prompt`, then `generate.complete`, which calls the model as the
worker does), from the mention text, author and thread the sandbox will hand the listener.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import select

from bot.bench.llm import BENCH_MENTIONS, BENCH_THREAD, run_concurrently
from bot.bench.pipeline_stats import Timeline
from bot.db.engine import SessionFactory
from bot.mentions.schema import Mention, PlatformUser
from bot.platform.snowflake import snowflake_ms
from bot.replies import generate, prompting
from bot.replies.claims import ClaimedMention
from bot.replies.deps import ReplyDeps
from bot.replies.schema import Reply
from bot.subscribers.tiers import Policy
from bot.vocab import Tier

# X's subscription_type for each tier the bench sends from: both answered, both post-moderated
# (the reply is posted at once, reviewed after).
SUBSCRIPTION = {Tier.PREMIUM_PLUS: "PremiumPlus", Tier.PREMIUM: "Premium"}
# Under the premium tier's 10 replies an hour (and premium_plus's 50): none is refused.
MENTIONS_PER_AUTHOR = 5
# X's mentions timeline reaches back this many posts (docs/design.md; the sandbox does the same).
REACH_BACK = 800
PARENT_AUTHOR = ("4242", BENCH_THREAD[0].author_username)


@dataclass(frozen=True)
class Planned:
    """One mention the bench sends: its author, tier and text, and whether it is a reply."""

    index: int
    author_id: str
    username: str
    tier: Tier
    text: str
    threaded: bool

    def stored_text(self) -> str:
        """The text X hands the listener: a reply starts with its thread's handles."""
        return f"@{PARENT_AUTHOR[1]} {self.text}" if self.threaded else self.text


DEFAULT_TIERS = (Tier.PREMIUM_PLUS, Tier.PREMIUM, Tier.PREMIUM)
# Under overload, the paying tiers as a busy account sees them (bench gating's mix): one
# mention in ten from premium_plus. Served first, they must not wait for the other nine.
OVERLOAD_TIERS = (Tier.PREMIUM_PLUS, *(Tier.PREMIUM,) * 9)


def plan(count: int, phase: int, tiers: Sequence[Tier] = DEFAULT_TIERS) -> list[Planned]:
    """`count` mentions for one phase: the bench's questions in turn, every other one a reply
    to a thread, the tiers in turn, each author (new to this phase) under its hourly quota."""
    out = []
    for i in range(count):
        _, text = BENCH_MENTIONS[i % len(BENCH_MENTIONS)]
        tier = tiers[i % len(tiers)]
        # Each author keeps one slot of the tier cycle, MENTIONS_PER_AUTHOR mentions each.
        k = (i // len(tiers)) // MENTIONS_PER_AUTHOR
        author = f"{phase}{i % len(tiers)}{k:05d}"
        # One name per author: the sandbox keeps the last one a user was posted with.
        username = f"{BENCH_MENTIONS[int(author) % len(BENCH_MENTIONS)][0]}{author}"
        out.append(Planned(i, author, username, tier, f"{text} (q{i})", threaded=i % 2 == 1))
    return out


def seed_parents(sandbox_url: str, count: int) -> list[str]:
    """One thread post per threaded mention (a conversation each: the per-thread reply cap
    and the loop guard must not refuse any)."""
    author_id, username = PARENT_AUTHOR
    body = {"author_id": author_id, "username": username, "text": BENCH_THREAD[0].text}
    with httpx.Client(base_url=sandbox_url, timeout=30) as client:
        return [
            client.post("/sandbox/posts", json=body).raise_for_status().json()["id"]
            for _ in range(count)
        ]


def inject(
    sandbox_url: str,
    mentions: Sequence[Planned],
    parents: Sequence[str],
    *,
    rate: float | None = None,
    on_sent: Callable[[int], None] = lambda _: None,
) -> list[str]:
    """Post the mentions on the sandbox, all at once (8 senders) or paced at `rate` a second;
    returns their post ids in plan order."""
    started = time.monotonic()
    sent = 0

    def one(m: Planned) -> str:
        nonlocal sent
        if rate:
            delay = started + m.index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        body: dict[str, object] = {
            "author_id": m.author_id,
            "username": m.username,
            "subscription_type": SUBSCRIPTION[m.tier],
            "text": m.text,
        }
        if m.threaded:
            body["in_reply_to"] = parents[m.index // 2]
        post_id = str(client.post("/sandbox/mentions", json=body).raise_for_status().json()["id"])
        sent += 1
        on_sent(sent)
        return post_id

    with (
        httpx.Client(base_url=sandbox_url, timeout=30) as client,
        ThreadPoolExecutor(max_workers=1 if rate else 8) as pool,
    ):
        return list(pool.map(one, mentions))


def claimed(m: Planned, parents: Sequence[str]) -> ClaimedMention:
    """The mention as the generate worker will claim it."""
    return ClaimedMention(
        text=m.stored_text(),
        in_reply_to=parents[m.index // 2] if m.threaded else None,
        author_row=0,  # read by the worker for the username only, given here
        tier=m.tier,
    )


def prompts(
    deps: ReplyDeps,
    mentions: Sequence[Planned],
    parents: Sequence[str],
    policies: dict[Tier, Policy],
) -> list[list[dict[str, str]]]:
    """Each mention's chat messages, built by the generate worker's own prompt builder (its
    thread read from the sandbox, as the worker reads it)."""
    out = []
    for m in mentions:
        messages = prompting.build_prompt(deps, claimed(m, parents), m.username, policies[m.tier])
        if messages is None:
            raise ValueError(f"bench mention {m.index} does not fit the model's context")
        out.append(messages)
    return out


def bare_round(
    deps: Sequence[ReplyDeps],
    mentions: Sequence[Planned],
    messages: Sequence[list[dict[str, str]]],
    policies: dict[Tier, Policy],
    concurrency: int,
    on_done: Callable[[], None] = lambda: None,
) -> tuple[float, int]:
    """Every request at `concurrency` in flight, the way the worker asks (`generate.complete`,
    its retry of an empty answer included), mention i to server i mod len(deps); returns
    (wall seconds, failures)."""

    def one(i: int) -> bool:
        generate.complete(deps[i % len(deps)], messages[i], policies[mentions[i].tier])
        return True

    wall, results = run_concurrently(one, len(mentions), concurrency, on_done)
    return wall, results.count(None)


def _epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


@dataclass
class Collected:
    """What the rows say about one phase's mentions."""

    timelines: list[Timeline]
    outcomes: dict[str, int]
    inputs_identical: bool  # stored text, thread and author as the bare client's prompts had
    mismatches: list[str]  # a few of the differences, if any


def collect(
    sessions: SessionFactory,
    post_ids: Sequence[str],
    mentions: Sequence[Planned],
    parents: Sequence[str],
    poll_times: Sequence[float],
) -> Collected:
    """Each posted reply's timeline, every mention's outcome, and whether the worker was given
    what the bare client's prompts were built from."""
    from bisect import bisect_left

    by_post = {p: m for p, m in zip(post_ids, mentions, strict=True)}
    with sessions() as s:
        rows = s.execute(
            select(Mention, Reply, PlatformUser.username)
            .join(PlatformUser, PlatformUser.id == Mention.author_id)
            .outerjoin(Reply, Reply.mention_id == Mention.id)
            .where(Mention.platform_post_id.in_(list(post_ids)))
        ).all()
    timelines: list[Timeline] = []
    outcomes: dict[str, int] = {}
    identical = len(rows) == len(post_ids)
    mismatches: list[str] = []
    for mention, reply, username in rows:
        planned = by_post[mention.platform_post_id]
        want = claimed(planned, parents)
        got = (mention.text, mention.in_reply_to_post_id, username)
        if got != (want.text, want.in_reply_to, planned.username):
            identical = False
            if len(mismatches) < 3:
                mismatches.append(f"stored {got!r}, the bare client had {want!r}")
        key = f"{mention.status}:{reply.status if reply is not None else '-'}"
        outcomes[key] = outcomes.get(key, 0) + 1
        if reply is None or reply.posted_at is None or reply.posting_at is None:
            continue
        received = mention.received_at.timestamp()
        at = bisect_left(poll_times, received)
        polled = poll_times[at] if at < len(poll_times) else None
        timelines.append(
            Timeline(
                tier=str(mention.tier),
                posted=snowflake_ms(mention.platform_post_id) / 1000,
                received=received,
                polled=polled if polled is not None and polled - received < 60 else None,
                generating=_epoch(mention.generating_at) or received,
                reply_created=reply.created_at.timestamp(),
                generation_s=float(reply.generation_s or 0.0),
                posting=reply.posting_at.timestamp(),
                replied=reply.posted_at.timestamp(),
            )
        )
    return Collected(timelines, outcomes, identical, mismatches)


def settled(sessions: SessionFactory, post_ids: Sequence[str]) -> int:
    """How many of these mentions are done: stored and ended, their reply (if any) posted or
    ended too."""
    done = 0
    with sessions() as s:
        rows = s.execute(
            select(Mention.status, Reply.status)
            .outerjoin(Reply, Reply.mention_id == Mention.id)
            .where(Mention.platform_post_id.in_(list(post_ids)))
        ).all()
    for mention_status, reply_status in rows:
        if mention_status in ("queued", "generating", "received"):
            continue
        if reply_status in ("approved", "posting"):
            continue
        done += 1
    return done
