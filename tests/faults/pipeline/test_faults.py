"""The production processes under faults: 160 mentions while the suite SIGKILLs the generate
worker mid-generation and the post worker between X accepting a post and the database
recording it, wipes the broker's keys, restarts Postgres, takes the model server away for
30 s and makes the sandbox fail (5xx bursts, latency, a 429 window longer than the
sweeper's deadline). Afterwards: every mention final, every answerable one posted exactly
once, nothing in flight, and the quota counters equal the answered mentions.

Each fault step waits (a bounded poll) for the state it targets before it acts, and fails
naming that state if it never comes: on a busy machine a timed fault hits nothing."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import select

from bot.mentions.schema import Mention
from bot.replies.schema import Reply
from bot.vocab import MentionStatus, Reason, ReplyStatus
from tests.faults.pipeline.run import (
    IN_FLIGHT_REPLY,
    Run,
    answered_targets,
    bot_posts_by_target,
    kill_in_state,
    new_run,
    quota_units_held,
    sandbox_statuses,
    settled,
    statuses,
    summary,
)
from tests.fixtures.factories.platform import numbered_mentions
from tests.fixtures.proxy import FaultProxy
from tests.fixtures.services import REDIS_URL, RedisKeys, wait_for
from workers.names import TASK_GENERATE

pytestmark = [pytest.mark.integration, pytest.mark.engine]

BATCH = 40
STUCK_AFTER_S = 10
RATE_LIMIT_WINDOW_S = 3 * STUCK_AFTER_S  # longer than the sweeper's deadline
MODEL_DOWN_S = 30
TROUBLE_S = 6
HIT_TIMEOUT_S = 120  # how long a fault may take to meet what it targets on a busy machine


@dataclass
class Outcome:
    """What the run did to the processes and what it left behind."""

    run: Run
    posted: list[str] = field(default_factory=list)
    killed_generating: list[int] = field(default_factory=list)
    posted_unrecorded: list[int] = field(default_factory=list)
    redis_keys_wiped: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _fault(run: Run, **fault: Any) -> None:
    httpx.post(f"{run.url}/sandbox/faults", json=fault, timeout=10).raise_for_status()


def _clear_faults(run: Run) -> None:
    httpx.delete(f"{run.url}/sandbox/faults", timeout=10).raise_for_status()


def _inject(run: Run, start: int) -> list[str]:
    # Forty premium accounts, one conversation each mention: the tier's quota and the
    # thread cap never stand between a mention and its answer here.
    return numbered_mentions(
        run.url,
        BATCH,
        start,
        authors=40,
        first_author=7000,
        handle="fault",
        text="@mentionbot q {i}?",
    )


def _ids(run: Run, *where: Any) -> list[int]:
    with run.db() as s:
        return list(s.scalars(select(Mention.id).where(*where)))


def _kill_generate_mid_generation(out: Outcome) -> None:
    run = out.run
    out.killed_generating = kill_in_state(
        run.cluster,
        "generate",
        lambda: _ids(run, Mention.status == MentionStatus.GENERATING),
        "a mention generating",
    )
    run.cluster.start("generate")


def _posting_with_post_on_x(run: Run) -> list[int]:
    """Replies X has (the sandbox stored them) that the database still has as posting."""
    on_x = bot_posts_by_target(run.url)
    with run.db() as s:
        rows = s.execute(
            select(Reply.id, Mention.platform_post_id)
            .join(Mention, Mention.id == Reply.mention_id)
            .where(Reply.status == ReplyStatus.POSTING)
        ).tuples()
        return [reply_id for reply_id, target in rows if on_x[target]]


def _kill_post_between_x_and_commit(out: Outcome) -> None:
    run = out.run
    # X stores the post, then holds its answer: the worker is killed in that window.
    _fault(run, endpoint="create_tweet", hold_ms=5000)
    out.posted_unrecorded = kill_in_state(
        run.cluster, "post", lambda: _posting_with_post_on_x(run), "a post on X not yet recorded"
    )
    _clear_faults(run)
    run.cluster.start("post")


def _generate_tasks_in_redis(keys: RedisKeys) -> set[int]:
    """Mention ids with a generate task waiting in this run's Redis lists (the queues and
    their priority lists)."""
    waiting: set[int] = set()
    for key in keys.client.scan_iter(match=f"{keys.prefix}*"):
        if keys.client.type(key) != b"list":
            continue
        for raw in keys.client.lrange(key, 0, -1):
            message = json.loads(raw)
            if message["headers"].get("task") == TASK_GENERATE:
                args = json.loads(base64.b64decode(message["body"]))[0]
                waiting.add(int(args[0]))
    return waiting


def _wipe_broker(out: Outcome) -> None:
    """A batch's tasks are lost for certain: with no generate worker consuming they wait in
    Redis, and the wipe takes them once every one of them is there (waiting for a queued row
    while a worker consumed was a race the worker sometimes won). The sweeper must send every
    one of them again."""
    run = out.run
    keys = RedisKeys(REDIS_URL, run.prefix)
    run.cluster.stop("generate")
    batch = _inject(run, BATCH)
    out.posted += batch

    def batch_in_redis() -> bool:
        ids = _ids(run, Mention.platform_post_id.in_(batch))
        return len(ids) == BATCH and set(ids) <= _generate_tasks_in_redis(keys)

    wait_for(batch_in_redis, timeout=HIT_TIMEOUT_S, interval=0.1, what="the batch's tasks in Redis")
    out.redis_keys_wiped = keys.clear()
    run.cluster.start("generate")


def _in_flight(run: Run) -> int:
    """Mentions generating and replies waiting to go out or going out."""
    mentions, replies = statuses(run.db)
    return mentions[MentionStatus.GENERATING] + sum(replies[s] for s in IN_FLIGHT_REPLY)


def _restart_postgres(run: Run) -> None:
    """The database goes away under processes that are at work with it."""
    wait_for(lambda: _in_flight(run), timeout=HIT_TIMEOUT_S, what="work in flight")
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
    )
    wait_for(
        lambda: subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0,
        timeout=60,
        what="Postgres back",
    )


def _last(since: float, at_least_s: float, hit: Callable[[], object], what: str) -> None:
    """Keep a fault in place until it has hit what it targets (a bounded wait for `hit`) and
    has lasted `at_least_s` since `since`. Its length is part of the fault (the model away
    longer than a retry schedule, a 429 window longer than the sweeper's deadline), never a
    guess at how soon the processes meet it."""
    wait_for(hit, timeout=HIT_TIMEOUT_S, interval=0.2, what=what)
    left = since + at_least_s - time.monotonic()
    if left > 0:
        time.sleep(left)


def _model_down(out: Outcome, proxy: FaultProxy) -> None:
    """The model server away while a batch comes in, until the generate worker has met it."""
    dropped, since = proxy.dropped, time.monotonic()
    proxy.down()
    out.posted += _inject(out.run, 2 * BATCH)
    _last(since, MODEL_DOWN_S, lambda: proxy.dropped > dropped, "a call to the model refused")
    proxy.up()


def _answered(run: Run, endpoints: tuple[str, ...], status: str) -> int:
    seen = sandbox_statuses(run.url)
    return sum(seen.get(e, {}).get(status, 0) for e in endpoints)


def _requests(run: Run) -> int:
    stats = httpx.get(f"{run.url}/sandbox/stats", timeout=10).json()
    return sum(int(n) for n in stats["requests"].values())


def _platform_trouble(run: Run) -> None:
    errors, since = _answered(run, ("create_tweet", "mentions"), "503"), time.monotonic()
    _fault(run, endpoint="*", error_ratio=0.5, status=503, seed=7)
    _last(
        since,
        TROUBLE_S,
        lambda: _answered(run, ("create_tweet", "mentions"), "503") > errors,
        "a 503 from X on reading mentions or posting",
    )
    _clear_faults(run)
    requests, since = _requests(run), time.monotonic()
    _fault(run, endpoint="*", latency_ms=1500)
    _last(since, TROUBLE_S, lambda: _requests(run) > requests, "a request to X held up")
    _clear_faults(run)


def _rate_limited(out: Outcome) -> None:
    """A 429 window on posting longer than the sweeper's deadline, while a batch comes in."""
    run, since = out.run, time.monotonic()
    window = {"limit": 0, "window_s": RATE_LIMIT_WINDOW_S}
    _fault(run, endpoint="create_tweet", rate_limit=window)
    out.posted += _inject(run, 3 * BATCH)
    _last(
        since,
        RATE_LIMIT_WINDOW_S,
        lambda: _answered(run, ("create_tweet",), "429"),
        "a post refused with 429",
    )
    _clear_faults(run)


@pytest.fixture(scope="module")
def outcome(vllm_server: Any) -> Iterator[Outcome]:
    target = urlparse(vllm_server.base_url)
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 80) as proxy:
        run = new_run(
            "faults",
            proxy.url,
            vllm_server.model,
            poll_interval_s="0.3",
            since_overlap_s="5",
            llm_max_tokens="24",
            llm_timeout_s="20",
            stuck_after_s=str(STUCK_AFTER_S),
            sweep_interval_s="2",
            max_attempts="8",
            # Room for the whole run: the budget's own waits are tested on their own.
            post_budget_15m="1000",
        )
        out = Outcome(run)
        started = time.monotonic()
        with run.cluster as cluster:
            cluster.start_all()
            out.posted += _inject(run, 0)
            _kill_generate_mid_generation(out)
            _kill_post_between_x_and_commit(out)
            _wipe_broker(out)
            _restart_postgres(run)
            _model_down(out, proxy)
            _platform_trouble(run)
            _rate_limited(out)
            out.seconds["faults"] = time.monotonic() - started
            wait_for(
                lambda: settled(run.db, len(out.posted)),
                timeout=300,
                interval=1.0,
                what="every mention final",
            )
            out.seconds["total"] = time.monotonic() - started
            out.seconds["drain"] = out.seconds["total"] - out.seconds["faults"]
            print(json.dumps({**summary(run), "seconds": out.seconds}, indent=1))
            assert all(cluster.alive().values()), cluster.alive()
            yield out


def test_every_mention_is_final_and_nothing_is_in_flight(outcome: Outcome) -> None:
    assert settled(outcome.run.db, len(outcome.posted))
    with outcome.run.db() as s:
        failed = s.execute(
            select(Mention.id, Mention.reason, Mention.detail).where(
                Mention.status == MentionStatus.FAILED
            )
        ).all()
    assert failed == []


def test_every_answerable_mention_is_posted_exactly_once(outcome: Outcome) -> None:
    on_x = bot_posts_by_target(outcome.run.url)
    assert sorted(on_x) == sorted(outcome.posted)  # each one answered ...
    assert set(on_x.values()) == {1}  # ... once, none twice
    assert set(answered_targets(outcome.run.db).values()) == {ReplyStatus.POSTED}


def test_the_quota_counters_equal_the_answered_mentions(outcome: Outcome) -> None:
    counted, holding = quota_units_held(outcome.run.db)
    assert counted == holding == len(outcome.posted)


def test_the_faults_hit_where_they_were_meant_to(outcome: Outcome) -> None:
    assert outcome.killed_generating, "the generate worker was killed mid-generation"
    assert outcome.posted_unrecorded, "the post worker was killed between X and the commit"
    assert outcome.redis_keys_wiped > 0
    seen = sandbox_statuses(outcome.run.url)
    assert seen["create_tweet"].get("429", 0) > 0, seen  # the long rate-limit window
    assert seen["create_tweet"].get("503", 0) + seen["mentions"].get("503", 0) > 0, seen
    with outcome.run.db() as s:
        # The post X had accepted was found, not posted again.
        how = set(s.scalars(select(Reply.reason).where(Reply.id.in_(outcome.posted_unrecorded))))
    assert how == {Reason.RECONCILED}
