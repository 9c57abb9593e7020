"""The soak: mentions at a steady rate through the whole pipeline, for minutes.

The production processes (bot/bench/cluster.py) run on a scratch database and a Redis prefix
of their own; the bench posts mentions on the sandbox at `rate` per second, samples the rows
in flight every few seconds, and after the last mention measures how long the pipeline takes
to drain. Memory is read from /proc for every process at the start and at the end.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bot.bench.cluster import Cluster
from bot.db.engine import make_engine, make_session_factory
from bot.mentions.schema import Mention
from bot.replies.schema import Reply
from bot.vocab import MentionStatus, ReplyStatus

SAMPLE_EVERY_S = 5.0
MENTIONS_PER_AUTHOR = 5  # under the premium tier's hourly quota: every mention is answered
IN_FLIGHT: dict[str, tuple[type[Mention] | type[Reply], str]] = {
    "queued": (Mention, MentionStatus.QUEUED),
    "generating": (Mention, MentionStatus.GENERATING),
    "approved": (Reply, ReplyStatus.APPROVED),
    "posting": (Reply, ReplyStatus.POSTING),
}


@dataclass
class SoakResult:
    """What a soak run measured (`as_dict` is the JSON the command prints)."""

    rate: float
    seconds: float
    sent: int = 0
    send_s: float = 0.0
    drained: bool = False
    drain_s: float | None = None
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # a few failed mentions' details
    memory_mb: dict[str, dict[str, float]] = field(default_factory=dict)
    in_flight: list[dict[str, float]] = field(default_factory=list)

    @property
    def in_flight_max(self) -> int:
        return int(
            max((sum(v for k, v in s.items() if k != "t") for s in self.in_flight), default=0)
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["in_flight_max"] = self.in_flight_max
        return data


def _counts(sessions: Any) -> dict[str, float]:
    """Rows in flight now, by state."""
    with sessions() as s:
        return {
            name: float(
                s.scalar(select(func.count()).select_from(table).where(table.status == status)) or 0
            )
            for name, (table, status) in IN_FLIGHT.items()
        }


def _outcomes(sessions: Any) -> dict[str, int]:
    with sessions() as s:
        rows = s.execute(
            select(Mention.status, Mention.decision, Mention.reason, func.count()).group_by(
                Mention.status, Mention.decision, Mention.reason
            )
        ).tuples()
        found: Counter[str] = Counter()
        for st, decision, reason, n in rows:  # why it failed, else what the listener decided
            found[f"mention {st}:{reason or decision}"] += int(n)
        replies = s.execute(select(Reply.status, func.count()).group_by(Reply.status)).tuples()
        found.update({f"reply {st}": int(n) for st, n in replies})
    return dict(found)


def _failures(sessions: Any, limit: int = 10) -> list[str]:
    with sessions() as s:
        rows = s.execute(
            select(Mention.id, Mention.reason, Mention.detail)
            .where(Mention.status == MentionStatus.FAILED)
            .limit(limit)
        ).tuples()
        return [f"mention {i} {reason}: {detail}" for i, reason, detail in rows]


def _sampler(
    sessions: Any, started: float, out: list[dict[str, float]], stop: threading.Event
) -> threading.Thread:
    def sample() -> None:
        while not stop.is_set():
            out.append({"t": round(time.monotonic() - started, 1), **_counts(sessions)})
            stop.wait(SAMPLE_EVERY_S)

    thread = threading.Thread(target=sample, name="soak-sampler", daemon=True)
    thread.start()
    return thread


def _send(url: str, rate: float, seconds: float, on_sent: Callable[[int], None]) -> int:
    """Post mentions at `rate` per second for `seconds`, paced to a clock (never bursting to
    catch up more than the time it fell behind)."""
    total = int(rate * seconds)
    authors = max(1, total // MENTIONS_PER_AUTHOR + 1)
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(total):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            n = i % authors
            client.post(
                "/sandbox/mentions",
                json={
                    "author_id": str(20_000 + n),
                    "username": f"soak{n}",
                    "subscription_type": "Premium",
                    "text": f"@mentionbot soak question {i}: is this true?",
                },
            ).raise_for_status()
            on_sent(i + 1)
    return total


def _memory(cluster: Cluster, engine_pid: int | None) -> dict[str, float]:
    found = {role: round(cluster.rss_mb(role), 1) for role in cluster.procs}
    if engine_pid is not None:
        found["model"] = round(_group_rss_mb(engine_pid), 1)
    return found


def _group_rss_mb(pgid: int) -> float:
    """Resident memory of a process group (vLLM's API server and its engine core)."""
    total_kb = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # the fields after the command: state, ppid, pgrp
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def _settled(sessions: Any, sent: int) -> bool:
    counts = _counts(sessions)
    with sessions() as s:
        stored = s.scalar(select(func.count()).select_from(Mention)) or 0
    return stored >= sent and not any(counts.values())


# The sandbox must not be the bottleneck: X's own limits are not what a soak measures.
UNLIMITED = (
    "create_tweet",
    "create_tweet_user_24h",
    "create_tweet_app_24h",
    "mentions",
    "tweet_lookup",
)


def soak(
    db_url: str,
    env: dict[str, str],
    var: Path,
    *,
    rate: float,
    seconds: float,
    drain_timeout_s: float = 600.0,
    engine_pid: int | None = None,
    on_sent: Callable[[int], None] = lambda _: None,
) -> SoakResult:
    """Run the pipeline's processes, feed them for `seconds`, wait for them to drain."""
    result = SoakResult(rate=rate, seconds=seconds)
    sessions = make_session_factory(make_engine(db_url, pool_size=2))
    prefix = f"soak{os.getpid()}:"
    env = {
        **env,
        "MENTIONBOT_DATABASE_URL": db_url,
        "MENTIONBOT_BROKER_KEY_PREFIX": prefix,
        "MENTIONBOT_READ_BUDGET_15M": "0",
        # A poll a second (X allows one every two per app, more per user token): the queue
        # should show the pipeline's own pace, not the listener's default 15 s batches.
        "MENTIONBOT_POLL_INTERVAL_S": os.environ.get("MENTIONBOT_POLL_INTERVAL_S", "1"),
        "MENTIONBOT_POST_BUDGET_15M": str(int(rate * seconds) * 2 + 100),
    }
    limits = tuple(f"{name}=1000000" for name in UNLIMITED)
    with Cluster(env, var, name="soak", sandbox_limits=limits) as cluster:
        cluster.start_all()
        start_memory = _memory(cluster, engine_pid)
        stop = threading.Event()
        started = time.monotonic()
        sampler = _sampler(sessions, started, result.in_flight, stop)
        try:
            result.sent = _send(cluster.sandbox_url, rate, seconds, on_sent)
            result.send_s = round(time.monotonic() - started, 1)
            last = time.monotonic()
            while not _settled(sessions, result.sent):
                if time.monotonic() - last > drain_timeout_s:
                    break
                time.sleep(0.5)
            else:
                result.drained = True
                result.drain_s = round(time.monotonic() - last, 1)
        finally:
            stop.set()
            sampler.join(timeout=10)
        end_memory = _memory(cluster, engine_pid)
        result.memory_mb = {
            role: {"start": start_memory.get(role, 0.0), "end": mb}
            for role, mb in end_memory.items()
        }
        result.outcomes = _outcomes(sessions)
        result.failures = _failures(sessions)
    return result
