"""Quotas under real concurrency on Postgres: 32 threads or 32 processes, each with
its own connection, released together, each deciding a distinct mention and committing.

Every round uses a fresh user (and so fresh counter rows: the first takers race on the
INSERT, the rest on the guarded UPDATE); the rows are deleted at the end. The tier policies
are passed to decide() directly, so no shared policy row is ever changed.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing.context import ForkServerProcess
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.engine import make_engine
from bot.mentions.gating import GatingRules, decide
from bot.mentions.ingest import insert_mention, upsert_author
from bot.mentions.schema import Mention, PlatformUser
from bot.platform.protocol import Author, Post
from bot.replies.claims import refund_quota
from bot.replies.schema import Reply
from bot.subscribers import quotas
from bot.subscribers.schema import RateCounter
from bot.subscribers.tiers import Policy
from bot.vocab import Decision, Moderation, Tier
from tests.fixtures.db import ADMIN_DSN

WORKERS = 32
ROUNDS = 20
LIMIT = 10
BOT = "1000"
BARRIER_TIMEOUT_S = 60.0
_PREMIUM = Policy(Tier.PREMIUM, True, LIMIT, 10**6, 160, 3, Moderation.POST, None, 30)
_NONE = Policy(Tier.NONE, False, 0, 0, 96, 9, Moderation.PRE, None, 30)
HOUR_LIMITED = {Tier.PREMIUM: _PREMIUM, Tier.NONE: _NONE}
DAY_LIMITED = {
    Tier.PREMIUM: replace(_PREMIUM, replies_per_hour=10**6, replies_per_day=LIMIT),
    Tier.NONE: _NONE,
}
BENCH = [sys.executable, "-m", "bot", "bench", "gating"]
RULES = GatingRules(thread_cap=10**6, loop_max_per_minute=10**6)


@dataclass(frozen=True)
class Job:
    """One worker's part of a round: decide a new post, or refund a stored mention."""

    kind: str  # decide | refund
    user_id: int
    platform_id: str
    post_id: str
    now: datetime
    limited: str = "hour"  # which policy set: hour or day
    mention_id: int = 0


def run_job(engine: Engine, job: Job) -> str:
    """One transaction, committed; returns the decision or the refund's outcome."""
    with Session(engine, expire_on_commit=False) as s, s.begin():
        if job.kind == "refund":
            return "refunded" if refund_quota(s, job.mention_id) else "no_refund"
        author = Author(job.platform_id, f"u{job.user_id}", subscription_type="Premium")
        post = Post(job.post_id, "@mentionbot race?", author.platform_id, None, None, job.now)
        user = s.get(PlatformUser, job.user_id)
        tier_policies = HOUR_LIMITED if job.limited == "hour" else DAY_LIMITED
        verdict = decide(s, post, author, user, BOT, RULES, tier_policies, job.now)
        insert_mention(s, post, job.user_id, verdict, job.now)
        return verdict.decision


def _process_main(url: str, barrier: Any, jobs: Any, results: Any) -> None:
    """A worker process: its own engine and connection, one job per round until None."""
    # Forked from the preloaded server: keep the collector off the inherited objects, or its
    # first pass touches (and so copies) every page of the parent's heap in all 32 workers.
    gc.freeze()
    engine = make_engine(url, pool_size=1, max_overflow=0)
    with engine.connect() as conn:  # open the connection before the first round
        conn.exec_driver_sql("SELECT 1")
    results.put(("ready", os.getpid()))
    while (job := jobs.get()) is not None:
        barrier.wait(BARRIER_TIMEOUT_S)
        try:
            outcome = run_job(engine, job)
        except Exception as exc:
            outcome = f"error: {type(exc).__name__}: {exc}"
        results.put((job.post_id, outcome))
    engine.dispose()


class ProcessPool:
    """32 processes reused for every round, released together by one barrier.

    `forkserver`: a fresh interpreter (like `spawn`: it never saw the test process's
    connections or threads) imports this module once, then forks each worker from that
    clean state, so 32 workers start in a second instead of importing everything 32 times.
    """

    def __init__(self, url: str, size: int) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        self.size = size
        self.barrier = ctx.Barrier(size)
        self.jobs = ctx.Queue()
        self.results = ctx.Queue()
        self.procs: list[ForkServerProcess] = [
            ctx.Process(target=_process_main, args=(url, self.barrier, self.jobs, self.results))
            for _ in range(size)
        ]
        for p in self.procs:
            p.start()
        ready = [self.results.get(timeout=120) for _ in range(size)]
        assert len({pid for _, pid in ready}) == size

    def run(self, jobs: list[Job]) -> dict[str, str]:
        # Each process takes one job and waits at the barrier until all 32 have one.
        assert len(jobs) == self.size
        for job in jobs:
            self.jobs.put(job)
        got = dict(self.results.get(timeout=BARRIER_TIMEOUT_S * 2) for _ in jobs)
        return got

    def close(self) -> None:
        for _ in self.procs:
            self.jobs.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()


def run_threads(engine: Engine, jobs: list[Job]) -> dict[str, str]:
    """One thread per job, each on its own session and connection, released together."""
    barrier = threading.Barrier(len(jobs))
    got: dict[str, str] = {}

    def work(job: Job) -> None:
        barrier.wait(BARRIER_TIMEOUT_S)
        try:
            got[job.post_id] = run_job(engine, job)
        except Exception as exc:
            got[job.post_id] = f"error: {type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BARRIER_TIMEOUT_S * 2)
    return got


Runner = Callable[[list[Job]], dict[str, str]]


@pytest.fixture(scope="module")
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url, pool_size=WORKERS + 2, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def pool(pg_url: str) -> Iterator[ProcessPool]:
    pool = ProcessPool(pg_url, WORKERS)
    yield pool
    pool.close()


@pytest.fixture(params=["threads", "processes"])
def runner(request: pytest.FixtureRequest, engine: Engine) -> Runner:
    if request.param == "threads":
        return lambda jobs: run_threads(engine, jobs)
    # The processes bring their own 32 connections: close the threads' idle ones meanwhile.
    engine.dispose()
    pool: ProcessPool = request.getfixturevalue("pool")
    return pool.run


class Users:
    """Fresh users for every round; everything they left behind is deleted at the end."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.ids: list[int] = []
        self.run = uuid.uuid4().int % 10**8
        self.posts = iter(range(1, 10**9))

    def new(self) -> tuple[int, str]:
        platform_id = f"conc{self.run}-{len(self.ids)}"
        with Session(self.engine) as s, s.begin():
            user_id = upsert_author(s, Author(platform_id, "racer", subscription_type="Premium"))
        self.ids.append(user_id)
        return user_id, platform_id

    def post_id(self) -> str:
        return str(9 * 10**17 + self.run * 10**9 + next(self.posts))

    def cleanup(self) -> None:
        keys = [quotas.user_key(u, w) for u in self.ids for w in ("hour", "day")]
        with Session(self.engine) as s, s.begin():
            mentions = select(Mention.id).where(Mention.author_id.in_(self.ids))
            s.execute(delete(Reply).where(Reply.mention_id.in_(mentions)))
            s.execute(delete(Mention).where(Mention.author_id.in_(self.ids)))
            s.execute(delete(RateCounter).where(RateCounter.key.in_(keys)))
            s.execute(delete(PlatformUser).where(PlatformUser.id.in_(self.ids)))


@pytest.fixture()
def users(engine: Engine) -> Iterator[Users]:
    made = Users(engine)
    yield made
    made.cleanup()


def _counter(engine: Engine, user_id: int, window: str, now: datetime) -> int:
    window_s = quotas.HOUR if window == "hour" else quotas.DAY
    with Session(engine) as s:
        used = s.scalar(
            select(RateCounter.used).where(
                RateCounter.key == quotas.user_key(user_id, window),
                RateCounter.window_start == quotas.window_start(now, window_s),
            )
        )
    return int(used or 0)


def _holding(engine: Engine, user_id: int) -> int:
    """Mentions of a user still holding a quota unit."""
    with Session(engine) as s:
        n = s.scalar(
            select(func.count())
            .select_from(Mention)
            .where(Mention.author_id == user_id, Mention.quota_at.is_not(None))
        )
    return int(n or 0)


@pytest.mark.parametrize("limited", ["hour", "day"])
def test_exactly_the_quota_is_accepted_under_32_concurrent_workers(
    runner: Runner, users: Users, engine: Engine, limited: str
) -> None:
    refused = "quota_hour" if limited == "hour" else "quota_day"
    for _ in range(ROUNDS):
        user_id, platform_id = users.new()
        now = utcnow()
        jobs = [
            Job("decide", user_id, platform_id, users.post_id(), now, limited)
            for _ in range(WORKERS)
        ]
        outcomes = Counter(runner(jobs).values())
        assert outcomes == {"accepted": LIMIT, refused: WORKERS - LIMIT}, outcomes
        assert _holding(engine, user_id) == LIMIT
        assert _counter(engine, user_id, limited, now) == LIMIT
        # A refusal for the day gives its hour unit back: both counters end at the quota.
        assert _counter(engine, user_id, "hour", now) == LIMIT
        assert _counter(engine, user_id, "day", now) == LIMIT


def test_refunds_racing_with_takes_never_exceed_the_quota(
    runner: Runner, users: Users, engine: Engine
) -> None:
    refunders = 8  # two per mention: a double refund races with itself
    for _ in range(ROUNDS):
        user_id, platform_id = users.new()
        now = utcnow()
        held = [Job("decide", user_id, platform_id, users.post_id(), now) for _ in range(LIMIT)]
        assert set(run_threads(engine, held).values()) == {"accepted"}
        with Session(engine) as s:
            ids = list(
                s.scalars(
                    select(Mention.id).where(Mention.author_id == user_id).order_by(Mention.id)
                )
            )
        jobs = [
            Job("refund", user_id, platform_id, users.post_id(), now, mention_id=ids[i // 2])
            for i in range(refunders)
        ] + [
            Job("decide", user_id, platform_id, users.post_id(), now)
            for _ in range(WORKERS - refunders)
        ]
        outcomes = Counter(runner(jobs).values())
        assert outcomes["refunded"] == refunders // 2, outcomes
        assert outcomes["no_refund"] == refunders // 2, outcomes
        assert outcomes["accepted"] <= refunders // 2, outcomes
        assert outcomes["accepted"] + outcomes["quota_hour"] == WORKERS - refunders, outcomes
        outstanding = LIMIT - refunders // 2 + outcomes["accepted"]
        assert _holding(engine, user_id) == outstanding <= LIMIT
        assert _counter(engine, user_id, "hour", now) == outstanding
        assert _counter(engine, user_id, "day", now) == outstanding


# ---------------------------------------------------------------------------------------------
# the benchmark, briefly, against the test server (it runs in its own scratch database)


def test_bench_gating_prints_its_figures_and_never_exceeds_a_quota(pg_url: str) -> None:
    env = {**os.environ, "MENTIONBOT_DATABASE_URL": pg_url, "MENTIONBOT_LOG_LEVEL": "WARNING"}
    proc = subprocess.run(
        [*BENCH, "--workers", "4", "--seconds", "2", "--history", "5000", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("decisions_per_s", "p50_ms", "p99_ms"):
        assert isinstance(figures[key], float | int) and figures[key] > 0, key
    assert figures["over_quota"] == 0 and figures["counter_mismatch"] == 0
    assert figures["errors"] == 0
    assert (figures["workers"], round(figures["seconds"])) == (4, 2)
    assert figures["decisions"] == sum(figures["reasons"].values()) > 0
    assert figures["p50_ms"] <= figures["p99_ms"]
    assert "accepted" in figures["reasons"] and set(figures["reasons"]) <= set(Decision)
    assert "decisions/s" in proc.stderr  # the progress and summary go to stderr
    # The scratch database is gone.
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (figures["database"],)
        ).fetchone()
    assert left == (0,)
