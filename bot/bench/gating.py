"""`mentionbot bench gating`: how many mentions the gate decides a second, on real Postgres.

Each worker thread loops for the given time over one transaction that does what the listener
does with a page of fresh mentions (`--page`, 1 by default: one mention per transaction):
upsert the authors, decide the page, store the mentions with their reasons (and the upsell
replies), commit. A decision's latency is its transaction's: with `--page 100` a mention
waits for its whole page. The mix is modelled on a busy account:
mostly premium users spread over many accounts, some premium_plus, free users (an upsell
once, then not_subscribed), a few hot users who run into their hourly quota, replies piling
up in popular threads (thread_cap), other bots looping in a conversation (loop) and a little
mass-tag spam. Before the clock starts the tables get `history` old, answered mentions, so
the per-conversation and per-author counts run against a production-sized table.

The run happens in a scratch database created for it on the server of the configured URL
(`mentionbot_bench_<pid>`, migrated, dropped at the end), so no real row is ever touched. On
SQLite (the demo's database) it runs in a temporary file instead, with a note that the
target figures are for Postgres. After the run the rows are checked: `over_quota` counts the
(user, window) pairs whose accepted mentions exceed the tier's limit and must be 0, and
`counter_mismatch` counts the windows whose counter disagrees with the accepted mentions.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.bench.scratch import BenchError, scratch_database, seed_history
from bot.db.base import utcnow
from bot.db.engine import make_engine
from bot.mentions.gating import GatingRules
from bot.mentions.ingest import PollResult, ingest
from bot.mentions.schema import Mention
from bot.platform.protocol import Author, Post
from bot.platform.snowflake import snowflake_at
from bot.subscribers import quotas
from bot.subscribers.schema import RateCounter
from bot.subscribers.tiers import Policy, policies, policy_for
from bot.vocab import Decision, EffectiveTier, Tier

BOT_USER_ID = "1"
TARGET_DECISIONS_PER_S = 2000
TARGET_P99_MS = 20.0
SQLITE_NOTE = (
    "note: the configured database is SQLite; the benchmark's targets "
    f"(>= {TARGET_DECISIONS_PER_S} decisions/s, p99 <= {TARGET_P99_MS:.0f} ms) are for "
    "Postgres. Set MENTIONBOT_DATABASE_URL=postgresql+psycopg://... to measure them."
)
WARMUP_PER_WORKER = 5
READY_TIMEOUT_S = 300.0
HISTORY = 100_000


@dataclass(frozen=True)
class Mix:
    """Who mentions the bot: each kind's share of the traffic, and how many accounts."""

    premium: float = 0.68  # spread thin: rarely near their quota
    premium_plus: float = 0.08
    free: float = 0.14  # none and basic: one upsell per period, then not_subscribed
    hot: float = 0.05  # a few accounts that run into their hourly quota
    thread: float = 0.03  # replies piling up in a few popular threads (thread_cap)
    spam: float = 0.015  # mass tagging
    looping: float = 0.005  # other bots answering in one conversation (loop, cool-down)
    premium_users: int = 20_000
    premium_plus_users: int = 2_000
    free_users: int = 1_500
    hot_users: int = 10
    threads: int = 20
    loopers: int = 2


class Workload:
    """One worker's stream of (author, post); every post is new."""

    def __init__(self, seed: int, post_ids: Iterator[int], mix: Mix | None = None) -> None:
        self.rng = random.Random(seed)
        self.post_ids = post_ids
        m = self.mix = mix or Mix()
        shares = [
            ("premium", m.premium),
            ("premium_plus", m.premium_plus),
            ("free", m.free),
            ("hot", m.hot),
            ("thread", m.thread),
            ("spam", m.spam),
            ("looping", m.looping),
        ]
        self.kinds = [kind for kind, _ in shares]
        self.weights = list(itertools.accumulate(share for _, share in shares))

    def next(self) -> tuple[Author, Post]:
        m, rng = self.mix, self.rng
        post_id = str(next(self.post_ids))
        conversation = post_id  # a new conversation: X gives a root post its own id
        body = "@bench what is the tallest mountain in Europe?"
        kind = rng.choices(self.kinds, cum_weights=self.weights)[0]
        if kind == "premium_plus":
            author = _author("pp", rng.randrange(m.premium_plus_users), "PremiumPlus")
        elif kind == "free":
            n = rng.randrange(m.free_users)
            author = _author("f", n, "Basic" if n % 3 == 0 else None)
        elif kind == "hot":
            # Mostly premium (10 an hour), a couple premium_plus (50 an hour).
            n = rng.randrange(m.hot_users)
            author = _author("h", n, "PremiumPlus" if n < 2 else "Premium")
        elif kind == "looping":
            n = rng.randrange(m.loopers)
            author = _author("bot", n, "Premium")
            conversation = f"loop{n}"
        else:
            author = _author("p", rng.randrange(m.premium_users), "Premium")
            if kind == "thread":
                conversation = f"thread{rng.randrange(m.threads)}"
            elif kind == "spam":
                body = " ".join(f"@someone{i}" for i in range(8)) + " look at this"
        post = Post(post_id, body, author.platform_id, conversation, None, utcnow())
        return author, post


def _author(kind: str, n: int, subscription_type: str | None) -> Author:
    return Author(
        platform_id=f"bench-{kind}-{n}",
        username=f"{kind}{n}",
        name=f"Bench {kind} {n}",
        subscription_type=subscription_type,
    )


def decide_page(
    session: Session, batch: list[tuple[Author, Post]], rules: GatingRules
) -> PollResult:
    """A page of mentions, as the listener's ingest handles it, in the caller's transaction."""
    authors = {author.platform_id: author for author, _ in batch}
    result = ingest(session, [post for _, post in batch], authors, BOT_USER_ID, rules)
    if result.new != len(batch):
        raise BenchError(f"{len(batch) - result.new} of a page of {len(batch)} stored twice")
    return result


@dataclass
class _WorkerStats:
    latencies: list[float] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class BenchResult:
    """What one run measured and what the rows say afterwards."""

    database: str
    workers: int
    seconds: float
    decisions: int
    decisions_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    over_quota: int
    counter_mismatch: int
    errors: int
    reasons: dict[str, int]
    history: int = 0
    page: int = 1  # mentions per transaction; the latencies are a transaction's

    def as_dict(self) -> dict[str, Any]:
        """The JSON the CLI prints."""
        return {
            "decisions_per_s": round(self.decisions_per_s, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "over_quota": self.over_quota,
            "workers": self.workers,
            "page": self.page,
            "seconds": round(self.seconds, 2),
            "decisions": self.decisions,
            "reasons": dict(sorted(self.reasons.items())),
            "max_ms": round(self.max_ms, 2),
            "counter_mismatch": self.counter_mismatch,
            "errors": self.errors,
            "history": self.history,
            "database": self.database,
            "target": {"decisions_per_s": TARGET_DECISIONS_PER_S, "p99_ms": TARGET_P99_MS},
        }


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def check_quotas(engine: Engine, tier_policies: dict[Tier, Policy]) -> tuple[int, int]:
    """(over_quota, counter_mismatch), from the stored mentions and counters."""
    windows = (("hour", quotas.HOUR), ("day", quotas.DAY))
    accepted: Counter[tuple[int, str, datetime]] = Counter()
    tier_of: dict[int, EffectiveTier] = {}
    with Session(engine) as s:
        rows = s.execute(
            select(Mention.author_id, Mention.tier, Mention.quota_at).where(
                Mention.decision == Decision.ACCEPTED
            )
        ).tuples()
        for author_id, tier, quota_at in rows:
            if quota_at is None:  # holds no unit: the seeded history
                continue
            tier_of[author_id] = tier or Tier.NONE
            for name, window_s in windows:
                start = quotas.window_start(quota_at, window_s)
                accepted[(author_id, name, start)] += 1
        counters = {
            (key, start): used
            for key, start, used in s.execute(
                select(RateCounter.key, RateCounter.window_start, RateCounter.used).where(
                    RateCounter.key.like("user:%")
                )
            ).tuples()
        }
    over = 0
    for (author_id, name, _start), n in accepted.items():
        policy = policy_for(tier_policies, tier_of[author_id])
        if n > (policy.replies_per_hour if name == "hour" else policy.replies_per_day):
            over += 1
    expected = {
        (quotas.user_key(author_id, name), start): n
        for (author_id, name, start), n in accepted.items()
    }
    mismatch = sum(
        1
        for key in expected.keys() | counters.keys()
        if expected.get(key, 0) != counters.get(key, 0)
    )
    return over, mismatch


Progress = Callable[[float, int], None]


def run(
    database_url: str,
    workers: int = 16,
    seconds: float = 10.0,
    *,
    history: int = HISTORY,
    on_progress: Progress | None = None,
    on_status: Callable[[str], None] | None = None,
    seed: int = 0,
    mix: Mix | None = None,
    page: int = 1,
) -> BenchResult:
    """Run the benchmark in a scratch database beside `database_url`."""
    if workers < 1 or seconds <= 0 or history < 0 or not 1 <= page <= 100:
        raise BenchError(
            "workers must be at least 1, seconds above 0, history 0 or more, page 1 to 100"
        )
    status = on_status or (lambda _message: None)
    status("creating and migrating a scratch database")
    with scratch_database(database_url) as (url, name):
        engine = make_engine(url, pool_size=workers + 2, max_overflow=0)
        try:
            if history:
                status(f"seeding {history:,} old mentions")
                seed_history(engine, history)
            status(f"{workers} workers warming up")
            result = _run(engine, name, workers, seconds, on_progress, seed, mix, page)
            return replace(result, history=history)
        finally:
            engine.dispose()


@dataclass
class _Workers:
    """The benchmark's worker threads: each warms up, waits at the barrier, then loops."""

    engine: Engine
    count: int
    seed: int
    mix: Mix | None
    page: int = 1
    rules: GatingRules = field(default_factory=GatingRules)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.post_ids = itertools.count(int(snowflake_at(utcnow())))
        self.stats = [_WorkerStats() for _ in range(self.count)]
        self.ready = threading.Barrier(self.count + 1)
        self.threads = [
            threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(self.count)
        ]

    def _work(self, i: int) -> None:
        workload = Workload(self.seed * 1000 + i, self.post_ids, self.mix)
        mine = self.stats[i]

        def once() -> Counter[Decision]:
            batch = [workload.next() for _ in range(self.page)]
            with Session(self.engine, expire_on_commit=False) as s, s.begin():
                return decide_page(s, batch, self.rules).decisions

        try:
            for _ in range(WARMUP_PER_WORKER):  # connections opened, statements compiled
                once()
        except Exception as exc:
            mine.errors[type(exc).__name__] += 1
        self.ready.wait(READY_TIMEOUT_S)
        clock = time.perf_counter
        while not self.stop.is_set():
            started = clock()
            try:
                reasons = once()
            except Exception as exc:
                mine.errors[type(exc).__name__] += 1
                continue
            mine.latencies.append(clock() - started)
            mine.reasons.update(reasons)

    def done(self) -> int:
        """Decisions so far."""
        return sum(len(st.latencies) for st in self.stats) * self.page

    def run_for(self, seconds: float, on_progress: Progress | None) -> float:
        """Start the threads, let them loop for `seconds` after warm-up; the time they ran."""
        for t in self.threads:
            t.start()
        self.ready.wait(READY_TIMEOUT_S)
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            time.sleep(min(0.25, max(0.0, seconds - elapsed)))
            if on_progress is not None:
                on_progress(min(seconds, time.perf_counter() - started), self.done())
        self.stop.set()
        for t in self.threads:
            t.join()
        return time.perf_counter() - started


def _run(
    engine: Engine,
    name: str,
    workers: int,
    seconds: float,
    on_progress: Progress | None,
    seed: int,
    mix: Mix | None,
    page: int,
) -> BenchResult:
    with Session(engine) as s:
        tier_policies = policies(s)
    pool = _Workers(engine, workers, seed, mix, page)
    elapsed = pool.run_for(seconds, on_progress)
    latencies = sorted(lat for st in pool.stats for lat in st.latencies)
    reasons: Counter[str] = Counter()
    for st in pool.stats:
        reasons.update(st.reasons)
    over, mismatch = check_quotas(engine, tier_policies)
    return BenchResult(
        database=name,
        workers=workers,
        seconds=elapsed,
        decisions=len(latencies) * page,
        decisions_per_s=len(latencies) * page / elapsed,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        max_ms=(latencies[-1] * 1000) if latencies else 0.0,
        over_quota=over,
        counter_mismatch=mismatch,
        errors=sum(sum(st.errors.values()) for st in pool.stats),
        reasons=dict(reasons),
        page=page,
    )
