"""The demo's sample accounts and mentions, and how it puts them on the sandbox."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from bot.db.engine import SessionFactory, transaction
from bot.vocab import OverrideAction


@dataclass(frozen=True)
class SampleAuthor:
    """A sample account that mentions the bot."""

    id: str
    username: str
    name: str
    subscription_type: str


# The --mentions sample comes from paying subscribers, spread so no one reaches a quota.
AUTHORS = [
    SampleAuthor("2000000000000000001", "alice_pp", "Alice", "PremiumPlus"),
    SampleAuthor("2000000000000000002", "bob_premium", "Bob", "Premium"),
    SampleAuthor("2000000000000000005", "emil_premium", "Emil", "Premium"),
    SampleAuthor("2000000000000000006", "fay_pp", "Fay", "PremiumPlus"),
    SampleAuthor("2000000000000000007", "gus_premium", "Gus", "Premium"),
    SampleAuthor("2000000000000000008", "hana_pp", "Hana", "PremiumPlus"),
]

# Besides the sample, every tier and rule shows its outcome once (not counted in `mentions`).
CHEN = SampleAuthor("2000000000000000003", "chen_basic", "Chen", "Basic")
DANA = SampleAuthor("2000000000000000004", "dana_free", "Dana", "None")
QUINN = SampleAuthor("2000000000000000009", "quinn_premium", "Quinn", "Premium")
SPAMMY = SampleAuthor("2000000000000000010", "tagger", "Tagger", "Premium")
BLOCKED = SampleAuthor("2000000000000000011", "blocked_bot", "Blocked", "PremiumPlus")
SHOWCASE: list[tuple[SampleAuthor, str]] = [
    (CHEN, "is this true? The Eiffel Tower grows in summer."),  # basic: pre-moderated (demo)
    (CHEN, "what is the tallest mountain in Africa?"),  # waits for a moderator too
    (DANA, "what is this?"),  # free: the upsell
    # premium: 10 an hour, then quota (distinct sums: X refuses a repeated reply text)
    *[(QUINN, f"what is {i} plus {i}?") for i in range(12)],
    (SPAMMY, "@a @b @c @d @e @f @g look at this"),  # mass-tag spam
    (BLOCKED, "hi"),  # blocked by the operator before the demo starts
]

QUESTIONS = [
    "is this true? The Great Wall of China is visible from space with the naked eye.",
    "what is the capital of Australia?",
    "what year did the first person walk on the moon?",
    "¿es verdad que los pulpos tienen tres corazones?",
    "is the moon made of cheese?",
    "explain like I'm five: why is the sky blue?",
    "how many legs does a spider have?",
    "est-ce vrai que le Mont Blanc est en Italie ?",
    "can you summarise this thread in one sentence?",
    "give me a fun fact about honeybees 🐝",
    "does drinking coffee dehydrate you?",
    "is it true that goldfish have a three-second memory?",
    "what is the boiling point of water in Celsius?",
    "who wrote Romeo and Juliet?",
    "what is the largest ocean on Earth?",
    "which planet is known as the Red Planet?",
    "is a tomato a fruit or a vegetable?",
    "what is 12 times 12?",
    "is it true that bats are blind?",
    "what is the chemical symbol for gold?",
    "how many days are in a leap year?",
    "what language has the most native speakers?",
    "can you explain this post in simple words?",
    "how far away is the sun?",
]

THREAD_ROOTS = [
    "Breaking: scientists confirm that bananas are berries but strawberries are not.",
    "Hot take: pineapple belongs on pizza and the data backs me up.",
]


def _post(
    http: httpx.Client, path: str, author: SampleAuthor, text: str, in_reply_to: str | None = None
) -> str:
    body: dict[str, Any] = {
        "author_id": author.id,
        "username": author.username,
        "name": author.name,
        "subscription_type": author.subscription_type,
        "text": text,
    }
    if in_reply_to:
        body["in_reply_to"] = in_reply_to
    r = http.post(path, json=body)
    r.raise_for_status()
    return str(r.json()["id"])


def inject(sandbox_url: str, bot_username: str, count: int) -> list[str]:
    """Post `count` sample mentions (every fourth inside a thread) via the control API."""
    ids: list[str] = []
    with httpx.Client(base_url=sandbox_url, timeout=10) as http:
        for i in range(count):
            author = AUTHORS[i % len(AUTHORS)]
            root = None
            if i % 4 == 1:
                # One thread per threaded mention: the per-conversation cap stays out of it.
                root = _post(
                    http,
                    "/sandbox/posts",
                    AUTHORS[(i + 2) % len(AUTHORS)],
                    f"{THREAD_ROOTS[i % len(THREAD_ROOTS)]} (#{i})",
                )
            text = f"@{bot_username} {QUESTIONS[i % len(QUESTIONS)]}"
            ids.append(_post(http, "/sandbox/mentions", author, text, root))
    return ids


def inject_showcase(sandbox_url: str, bot_username: str) -> list[str]:
    """One mention per tier and rule, so the demo shows every outcome."""
    with httpx.Client(base_url=sandbox_url, timeout=10) as http:
        return [
            _post(http, "/sandbox/mentions", author, f"@{bot_username} {text}")
            for author, text in SHOWCASE
        ]


def block_showcase_user(sessions: SessionFactory) -> None:
    """The operator blocks one account before the demo starts (as `subscribers block`)."""
    from bot.mentions.ingest import upsert_author
    from bot.platform.protocol import Author
    from bot.subscribers.tiers import add_override

    with transaction(sessions) as s:
        user_id = upsert_author(
            s, Author(BLOCKED.id, BLOCKED.username, BLOCKED.name, BLOCKED.subscription_type)
        )
        add_override(s, user_id, OverrideAction.BLOCK, "demo: a known reply-bot", "demo")


def pre_moderate_basic(sessions: SessionFactory) -> None:
    """The demo answers the basic tier with pre-moderation, so the dashboard has replies to
    approve (the shipped default leaves basic unanswered, with an upsell)."""
    from bot.subscribers.tiers import set_policy

    with transaction(sessions) as s:
        set_policy(
            s, "basic", answered=True, replies_per_hour=10, replies_per_day=50, moderation="pre"
        )


def duplicates_on_platform(sandbox_url: str, bot_user_id: str) -> tuple[int, int]:
    """(bot replies on the sandbox, extra replies beyond one per post)."""
    r = httpx.get(f"{sandbox_url}/sandbox/posts", params={"author_id": bot_user_id}, timeout=10)
    r.raise_for_status()
    posts = [p for p in r.json() if not p.get("deleted") and p.get("in_reply_to")]
    per_target = Counter(p["in_reply_to"] for p in posts)
    return len(posts), sum(n - 1 for n in per_target.values() if n > 1)
