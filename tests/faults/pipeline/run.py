"""What the fault, crash and hostile suites share: a run of the production processes on a
database and a Redis prefix of its own, a kill that lands in the state it targets, and the
checks every run must pass at the end."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.bench.cluster import Cluster
from bot.db import migrate
from bot.db.engine import make_engine, make_session_factory
from bot.mentions.schema import Mention
from bot.replies.schema import Reply
from bot.subscribers.schema import RateCounter
from bot.vocab import MentionStatus, ReplyStatus
from tests.fixtures.db import recreate_database
from tests.fixtures.factories.platform import sandbox_posts
from tests.fixtures.services import REDIS_URL, REPO, wait_for

BOT_ID = "1000000000000000001"  # the sandbox's bot account
FINAL_MENTION = {MentionStatus.IGNORED, MentionStatus.ANSWERED, MentionStatus.FAILED}
IN_FLIGHT_REPLY = {ReplyStatus.APPROVED, ReplyStatus.POSTING}
_T = TypeVar("_T")


@dataclass
class Run:
    """One run's processes, database and Redis prefix."""

    cluster: Cluster
    db: sessionmaker[Session]
    prefix: str

    @property
    def url(self) -> str:
        return self.cluster.sandbox_url


def new_run(name: str, llm_url: str, llm_model: str, **settings: str) -> Run:
    """A fresh database and Redis prefix, and (not yet started) processes pointed at them."""
    db_url = recreate_database(f"mentionbot_{name}_{os.getpid()}")
    migrate.upgrade(db_url)
    prefix = f"{name}{os.getpid()}:"
    env = {
        "MENTIONBOT_DATABASE_URL": db_url,
        "MENTIONBOT_BROKER_URL": REDIS_URL,
        "MENTIONBOT_BROKER_KEY_PREFIX": prefix,
        "MENTIONBOT_LLM_URL": llm_url,
        "MENTIONBOT_LLM_MODEL": llm_model,
        "MENTIONBOT_BOT_USER_ID": BOT_ID,
        "MENTIONBOT_LOG_FORMAT": "json",
        **{f"MENTIONBOT_{k.upper()}": v for k, v in settings.items()},
    }
    # X's own limit on posting (200 per 15 min) would make a long run wait for its window.
    limits = ("create_tweet=2000/900",)
    cluster = Cluster(env, REPO / "var" / "log", name=name, sandbox_limits=limits)
    return Run(cluster, make_session_factory(make_engine(db_url, pool_size=2)), prefix)


def _frozen(pid: int) -> bool:
    """Every thread of the process is stopped (state T in /proc): SIGSTOP has landed."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        if stat.rsplit(")", 1)[1].split()[0] not in ("T", "t"):
            return False
    return True


def kill_in_state(
    cluster: Cluster, role: str, state: Callable[[], _T], what: str, timeout_s: float = 60
) -> _T:
    """SIGKILL `role` while `state()` holds, and return what `state()` found.

    A state seen and then acted on can be gone by the time the signal lands (a generation
    ends, a commit goes through), the more so on a busy machine. So: wait (bounded) for the
    state, freeze the process with SIGSTOP so that it cannot move on, read the state again
    and kill the frozen process; if it moved on before the freeze, thaw it and wait again.
    """
    proc = cluster.procs[role]
    deadline = time.monotonic() + timeout_s
    while True:
        left = max(0.0, deadline - time.monotonic())
        wait_for(state, timeout=left, interval=0.05, what=what)
        proc.send_signal(signal.SIGSTOP)
        wait_for(lambda: _frozen(proc.pid), timeout=10, interval=0.01, what=f"{role} frozen")
        found = state()
        if found:
            cluster.kill(role)
            return found
        proc.send_signal(signal.SIGCONT)


def statuses(db: sessionmaker[Session]) -> tuple[Counter[str], Counter[str]]:
    """(mention statuses, reply statuses) with their counts."""
    with db() as s:
        mentions = Counter(
            {
                str(k): int(v)
                for k, v in s.execute(
                    select(Mention.status, func.count()).group_by(Mention.status)
                ).tuples()
            }
        )
        replies = Counter(
            {
                str(k): int(v)
                for k, v in s.execute(
                    select(Reply.status, func.count()).group_by(Reply.status)
                ).tuples()
            }
        )
    return mentions, replies


def settled(db: sessionmaker[Session], expected: int) -> bool:
    """Every one of `expected` mentions stored and final, no reply waiting to go out."""
    mentions, replies = statuses(db)
    if sum(mentions.values()) < expected:
        return False
    if any(mentions[s] for s in (MentionStatus.QUEUED, MentionStatus.GENERATING, "received")):
        return False
    return not any(replies[s] for s in IN_FLIGHT_REPLY)


def reasons(db: sessionmaker[Session]) -> dict[str, int]:
    """Mention outcomes as status:reason counts (the listener's decision where no reason)."""
    with db() as s:
        rows = s.execute(
            select(Mention.status, Mention.decision, Mention.reason, func.count()).group_by(
                Mention.status, Mention.decision, Mention.reason
            )
        ).tuples()
        found: Counter[str] = Counter()
        for status, decision, reason, n in rows:
            found[f"{status}:{reason or decision}"] += int(n)
        return dict(found)


def bot_posts_by_target(url: str) -> Counter[str]:
    """How many live replies the bot has on the sandbox under each post."""
    return Counter(
        str(p["in_reply_to"])
        for p in sandbox_posts(url, author_id=BOT_ID)
        if p.get("in_reply_to") and not p.get("deleted")
    )


def quota_units_held(db: sessionmaker[Session]) -> tuple[int, int]:
    """(units in the users' daily counters, mentions holding a unit)."""
    with db() as s:
        counted = s.scalar(
            select(func.coalesce(func.sum(RateCounter.used), 0)).where(
                RateCounter.key.like("user:%:day")
            )
        )
        holding = s.scalar(
            select(func.count()).select_from(Mention).where(Mention.quota_at.is_not(None))
        )
    return int(counted or 0), int(holding or 0)


def answered_targets(db: sessionmaker[Session]) -> dict[str, str]:
    """{mention post id: reply status} for every mention with a reply."""
    with db() as s:
        rows = s.execute(
            select(Mention.platform_post_id, Reply.status).join(
                Reply, Reply.mention_id == Mention.id
            )
        ).tuples()
        return {post_id: str(status) for post_id, status in rows}


def sandbox_statuses(url: str) -> dict[str, dict[str, int]]:
    """Response statuses the sandbox gave, per X endpoint."""
    stats: dict[str, dict[str, int]] = httpx.get(f"{url}/sandbox/stats", timeout=10).json()[
        "statuses"
    ]
    return stats


def summary(run: Run) -> dict[str, Any]:
    """Figures to print at the end of a run."""
    mentions, replies = statuses(run.db)
    return {
        "mentions": dict(mentions),
        "replies": dict(replies),
        "reasons": reasons(run.db),
        "x_statuses": sandbox_statuses(run.url),
    }
