"""`mentionbot demo`: the whole pipeline on one machine, on embedded defaults.

Real components throughout: the CPU vLLM engine serving the tiny MoE, the X API sandbox over
HTTP through tweepy, the listener, Celery workers. Only the storage defaults change: a SQLite
file and Celery's in-memory transport with the workers inside this process, unless
MENTIONBOT_DATABASE_URL / MENTIONBOT_BROKER_URL are set.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from bot import migrate
from bot.db import make_engine, make_session_factory, transaction
from bot.local_engine import local_engine
from bot.schema import Mention, MentionStatus, ReplyStatus
from bot.settings import Settings


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
    (CHEN, "is this true?"),  # basic: not answered, the upsell once
    (CHEN, "hello again?"),  # basic again: not_subscribed (upsell at most once a period)
    (DANA, "what is this?"),  # free: the upsell
    *[(QUINN, f"question {i} of 12?") for i in range(12)],  # premium: 10 an hour, then quota
    (SPAMMY, "@a @b @c @d @e @f @g look at this"),  # mass-tag spam
    (BLOCKED, "hi"),  # blocked by the operator before the demo starts
]

QUESTIONS = [
    "is this true? The Great Wall of China is visible from space with the naked eye.",
    "can you summarise this thread in one sentence?",
    "what year did the first person walk on the moon?",
    "¿es verdad que los pulpos tienen tres corazones?",
    "est-ce vrai que le Mont Blanc est en Italie ?",
    "explain like I'm five: why is the sky blue?",
    "is this chart misleading?",
    "何か面白い事実を教えて",
    "who is right here, them or me?",
    "give me a fun fact about honeybees 🐝",
    "does drinking coffee dehydrate you?",
    "is it true that goldfish have a three-second memory?",
]

THREAD_ROOTS = [
    "Breaking: scientists confirm that bananas are berries but strawberries are not.",
    "Hot take: pineapple belongs on pizza and the data backs me up.",
]


def _final(m: Mention) -> bool:
    if m.status in (MentionStatus.IGNORED, MentionStatus.FAILED):
        return True
    if m.status == MentionStatus.ANSWERED and m.reply is not None:
        return m.reply.status in (ReplyStatus.POSTED, ReplyStatus.POST_FAILED, ReplyStatus.REJECTED)
    return False


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


def block_showcase_user(sessions: Any) -> None:
    """The operator blocks one account before the demo starts (as `subscribers block`)."""
    from bot.listener import upsert_author
    from bot.platform import Author
    from bot.tiers import block

    with transaction(sessions) as s:
        user_id = upsert_author(
            s, Author(BLOCKED.id, BLOCKED.username, BLOCKED.name, BLOCKED.subscription_type)
        )
        block(s, user_id, note="demo: a known reply-bot", actor="demo")


def duplicates_on_platform(sandbox_url: str, bot_user_id: str) -> tuple[int, int]:
    """(bot replies on the sandbox, extra replies beyond one per post)."""
    r = httpx.get(f"{sandbox_url}/sandbox/posts", params={"author_id": bot_user_id}, timeout=10)
    r.raise_for_status()
    posts = [p for p in r.json() if not p.get("deleted") and p.get("in_reply_to")]
    per_target = Counter(p["in_reply_to"] for p in posts)
    return len(posts), sum(n - 1 for n in per_target.values() if n > 1)


def run_demo(
    settings: Settings,
    *,
    mentions: int = 12,
    exit_when_done: bool = True,
    as_json: bool = False,
    timeout_s: float = 600.0,
    showcase: bool = True,
) -> dict[str, Any]:
    """Run the demo and return its summary (also printed)."""
    from celery.contrib.testing.worker import start_worker

    from bot.gating import GatingRules
    from bot.listener import Listener
    from bot.sandbox.server import SandboxServer
    from bot.x_client import XPlatform
    from workers.celery_app import GENERATE_QUEUE, POST_QUEUE, create_app
    from workers.tasks import CelerySender

    console = Console(stderr=True)
    started = time.perf_counter()
    if "MENTIONBOT_LOG_LEVEL" not in os.environ:
        # The progress bar and the table tell the story; per-mention log lines would bury it.
        logging.getLogger().setLevel(logging.WARNING)
    run_dir = settings.var_dir / "demo"
    run_dir.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, Any] = {}
    if "MENTIONBOT_DATABASE_URL" not in os.environ:
        db_file = run_dir / f"demo-{int(time.time())}.db"
        overrides["database_url"] = f"sqlite:///{db_file}"
    if "MENTIONBOT_BROKER_URL" not in os.environ:
        overrides["broker_url"] = "memory://"

    with ExitStack() as stack:
        sandbox = stack.enter_context(SandboxServer())
        llm_url = stack.enter_context(local_engine(settings, console, "demo"))
        settings = settings.model_copy(
            update={
                **overrides,
                "x_api_url": sandbox.url,
                "llm_url": llm_url,
                "bot_user_id": None,
                "poll_interval_s": 0.5,
                "since_overlap_s": 5.0,
            }
        )
        migrate.upgrade(settings.database_url)
        sessions = make_session_factory(make_engine(settings.database_url))
        if showcase:
            block_showcase_user(sessions)
        platform = XPlatform.from_settings(settings)
        me = platform.me()
        settings = settings.model_copy(update={"bot_user_id": me.platform_id})

        celery = create_app(settings)
        stack.enter_context(
            start_worker(
                celery,
                pool="threads",
                concurrency=16,
                perform_ping_check=False,
                queues=[GENERATE_QUEUE, POST_QUEUE],
                shutdown_timeout=30,
            )
        )
        listener = Listener(
            platform,
            sessions,
            CelerySender(celery),
            me.platform_id,
            page_size=100,
            poll_interval_s=settings.poll_interval_s,
            overlap_s=settings.since_overlap_s,
            rules=GatingRules.from_settings(settings),
        )
        stop = threading.Event()
        thread = threading.Thread(target=listener.run, args=(stop,), name="listener", daemon=True)
        thread.start()
        stack.callback(thread.join, 10)
        stack.callback(stop.set)

        post_ids = inject(sandbox.url, me.username, mentions)
        showcase_ids = inject_showcase(sandbox.url, me.username) if showcase else []
        every = _wait(sessions, post_ids + showcase_ids, console, timeout_s, exit_when_done)
        total_posts, dups = duplicates_on_platform(sandbox.url, me.platform_id)

    main_ids = set(post_ids)
    rows = [m for m in every if m.platform_post_id in main_ids]
    summary = _summarise(rows, len(post_ids), dups, time.perf_counter() - started)
    # Every tier's and rule's outcome, over everything the demo injected.
    summary["outcomes"] = dict(Counter(f"{m.tier or '-'}:{m.reason}" for m in every))
    summary["llm_url"] = llm_url if "MENTIONBOT_LLM_URL" in os.environ else "local cpu engine"
    summary["replies_on_platform"] = total_posts
    _print(every, summary, console)
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    return summary


def _load(sessions: Any, post_ids: list[str]) -> list[Mention]:
    with transaction(sessions) as s:
        rows = list(
            s.scalars(
                select(Mention).where(Mention.platform_post_id.in_(post_ids)).order_by(Mention.id)
            )
        )
        for m in rows:
            _ = m.reply  # load while the session is open
        return rows


def _wait(
    sessions: Any, post_ids: list[str], console: Console, timeout_s: float, exit_when_done: bool
) -> list[Mention]:
    deadline = time.monotonic() + timeout_s
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("answering mentions", total=len(post_ids))
        while True:
            rows = _load(sessions, post_ids)
            done = sum(1 for m in rows if _final(m))
            counts = Counter(m.status.value for m in rows)
            progress.update(
                task,
                completed=done,
                description=(
                    "answering mentions " + " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
                ),
            )
            if done == len(post_ids) and exit_when_done:
                return rows
            if time.monotonic() > deadline:
                console.print(f"[red]timed out after {timeout_s:.0f}s[/red]")
                return rows
            time.sleep(0.25)


def _summarise(rows: list[Mention], injected: int, dups: int, wall_s: float) -> dict[str, Any]:
    latencies = [
        (m.reply.posted_at - m.posted_at).total_seconds()
        for m in rows
        if m.reply is not None and m.reply.posted_at is not None and m.posted_at is not None
    ]
    return {
        "mentions": injected,
        "seen": len(rows),
        "answered": sum(1 for m in rows if m.status == MentionStatus.ANSWERED),
        "posted": sum(1 for m in rows if m.reply and m.reply.status == ReplyStatus.POSTED),
        "ignored": sum(1 for m in rows if m.status == MentionStatus.IGNORED),
        "failed": sum(1 for m in rows if m.status == MentionStatus.FAILED)
        + sum(1 for m in rows if m.reply and m.reply.status == ReplyStatus.POST_FAILED),
        "duplicates_on_platform": dups,
        "p50_mention_to_reply_s": round(statistics.median(latencies), 3) if latencies else None,
        "max_mention_to_reply_s": round(max(latencies), 3) if latencies else None,
        "wall_s": round(wall_s, 1),
    }


def _print(rows: list[Mention], summary: dict[str, Any], console: Console) -> None:
    out = Console(file=sys.stdout, width=max(120, console.width))
    table = Table(title="mentions and replies", show_lines=True)
    table.add_column("from")
    table.add_column("tier")
    table.add_column("mention", max_width=44)
    table.add_column("outcome")
    table.add_column("reply (tiny random MoE: noise by design)", max_width=56)
    for m in rows:
        reply = m.reply
        outcome = m.reason or m.status.value
        if reply:
            outcome = f"{m.reason}: {reply.status.value}"
        table.add_row(
            f"@{m.author.username}", m.tier or "-", m.text, outcome, reply.text if reply else ""
        )
    out.print(table)
    out.print(" ".join(f"{k}={v}" for k, v in summary.items()))
