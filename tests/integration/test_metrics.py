"""Every process serves /metrics and /healthz on MENTIONBOT_METRICS_PORT, and the figures
move with the real work: a real `mentionbot worker`, `beat`, `listen` and `dashboard`
process each, on real Redis (a key prefix of their own), Postgres and the sandbox."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.replies.schema import Reply
from bot.settings import Settings
from bot.vocab import ReplyStatus
from models.serving.server import free_port
from tests.fixtures.factories.platform import numbered_mentions
from tests.fixtures.factories.replies import approved_reply
from tests.fixtures.metrics import health, metric, scrape, value
from tests.fixtures.services import REDIS_URL, RedisKeys, spawn, stop, wait_for
from workers.celery_app import create_app
from workers.sender import CelerySender

pytestmark = pytest.mark.integration

PREFIX = f"metrics{os.getpid()}:"


@pytest.fixture()
def keys() -> Iterator[RedisKeys]:
    """This module's own Redis keys: the session's worker never takes these tasks."""
    keys = RedisKeys(REDIS_URL, PREFIX)
    keys.clear()
    yield keys
    keys.clear()


def _env(**overrides: Any) -> dict[str, str]:
    env = {
        "MENTIONBOT_BROKER_URL": REDIS_URL,
        "MENTIONBOT_BROKER_KEY_PREFIX": PREFIX,
        "MENTIONBOT_LOG_FORMAT": "json",
        # Nothing listens here: these processes must not need the model.
        "MENTIONBOT_LLM_URL": "http://127.0.0.1:9",
    }
    env.update({f"MENTIONBOT_{k.upper()}": str(v) for k, v in overrides.items()})
    return env


def _settings(env: dict[str, str]) -> Settings:
    fields: dict[str, Any] = {k.removeprefix("MENTIONBOT_").lower(): v for k, v in env.items()}
    return Settings(_env_file=None, **fields)


def _healthy(port: int, timeout: float = 60) -> dict[str, Any]:
    def ok() -> dict[str, Any] | None:
        code, body = health(port)
        return body if code == 200 else None

    body: dict[str, Any] = wait_for(ok, timeout=timeout, what=f"/healthz 200 on {port}")
    return body


def test_worker_reports_queue_depth_posts_and_failures(
    committed_db: Any, sandbox: Any, bot_user: dict[str, str], pg_url: str, keys: RedisKeys
) -> None:
    port = free_port()
    node = f"metrics-{os.getpid()}@{socket.gethostname()}"
    env = _env(
        database_url=pg_url, x_api_url=sandbox.url, bot_user_id=bot_user["id"], metrics_port=port
    )
    # Only `post`: the generate tasks sent below stay in Redis for the gauge to count.
    proc = spawn(
        [
            "worker",
            "--queues",
            "post",
            "--concurrency",
            "2",
            "--hostname",
            f"metrics-{os.getpid()}@%h",
        ],
        env,
        "metrics-worker-test.log",
    )
    try:
        body = _healthy(port)
        assert body["consumer"] == "consuming" and body["broker"] == "ok"
        app = create_app(_settings(env))
        assert app.control.ping(destination=[node], timeout=2) == [{node: {"ok": "pong"}}]
        sender = CelerySender(app)

        sender.send_generate([1, 2, 3, 4], {1: 0, 2: 3, 3: 3, 4: 9})
        # Kombu's layout: priority p of queue q is the list `q:p` (`q` for 0), prefixed.
        stored = {k.decode() for k in keys.client.scan_iter(match=f"{PREFIX}generate*")}
        assert stored == {f"{PREFIX}generate", f"{PREFIX}generate:3", f"{PREFIX}generate:9"}
        samples = scrape(port)
        depth = {
            p: value(samples, "mentionbot_queue_depth", queue="generate", priority=str(p))
            for p in range(10)
        }
        assert depth == {0: 1, 1: 0, 2: 0, 3: 2, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0, 9: 1}
        assert value(samples, "mentionbot_broker_up") == 1

        reply_id, _ = approved_reply(sandbox.url, committed_db)
        sender.send_post([reply_id])
        wait_for(
            lambda: metric(port, "mentionbot_posts_total", outcome="posted") == 1,
            what="posts_total{outcome=posted} to count the post",
        )
        limit = metric(port, "mentionbot_platform_rate_limit_remaining", endpoint="create")
        assert limit > 0

        # X refuses the next post for good: it fails, with its reason.
        httpx.post(
            f"{sandbox.url}/sandbox/faults",
            json={"endpoint": "create_tweet", "error_ratio": 1.0, "status": 400},
            timeout=10,
        ).raise_for_status()
        failing, _ = approved_reply(sandbox.url, committed_db, author_id="778")
        sender.send_post([failing])
        labels = {"kind": "reply", "reason": "platform_refused"}
        wait_for(
            lambda: metric(port, "mentionbot_failures_total", **labels) == 1,
            what="failures_total{kind=reply, reason=platform_refused}",
        )
        samples = scrape(port)
        assert value(samples, "mentionbot_posts_total", outcome="failed") == 1
        assert value(samples, "mentionbot_posts_total", outcome="posted") == 1
        with committed_db() as s:
            assert s.get(Reply, failing).status == ReplyStatus.POST_FAILED
    finally:
        stop(proc)


def test_worker_health_follows_its_broker_connection(tmp_path: Path) -> None:
    redis_server = shutil.which("redis-server")
    assert redis_server, "redis-server is needed (docs/design.md section 6)"
    redis_port, port = free_port(), free_port()
    # A worker needs X settings to start (nothing listens at this one: it starts unchecked).
    env = _env(
        broker_url=f"redis://127.0.0.1:{redis_port}/0",
        metrics_port=port,
        x_api_url="http://127.0.0.1:9",
    )
    proc = spawn(["worker", "--queues", "post", "--concurrency", "1"], env, "metrics-broker.log")
    broker: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: health(port)[0] == 503, timeout=30, what="503 while no broker runs")
        assert health(port)[1]["consumer"].startswith("not consuming")
        assert metric(port, "mentionbot_broker_up") == 0  # /metrics still answers
        argv = [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
        broker = subprocess.Popen([*argv, "--appendonly", "no"], stdout=subprocess.DEVNULL)
        assert _healthy(port, timeout=90)["broker"] == "ok"
        broker.terminate()
        broker.wait(10)
        wait_for(lambda: health(port)[0] == 503, timeout=30, what="503 once the broker is gone")
    finally:
        stop(proc)
        if broker is not None and broker.poll() is None:
            broker.kill()
            broker.wait()


def test_beat_ticks_sends_the_sweep_and_keeps_its_schedule_in_the_var_dir(
    tmp_path: Path, keys: RedisKeys
) -> None:
    port = free_port()
    var_dir = tmp_path / "var"
    env = _env(var_dir=var_dir, sweep_interval_s=1, metrics_port=port)
    proc = spawn(["beat"], env, "metrics-beat-test.log")
    try:
        assert _healthy(port)["beat"] == "ok"
        # Nobody consumes this prefix: the sweeps beat sends wait at the default priority 5.
        wait_for(
            lambda: metric(port, "mentionbot_queue_depth", queue="post", priority="5") >= 2,
            what="beat's sweep tasks in the post queue",
        )
        samples = scrape(port)
        sent = value(samples, "mentionbot_beat_sent_total", task="mentionbot.sweep", outcome="sent")
        assert sent is not None and sent >= 2
        assert value(samples, "mentionbot_heartbeat_timestamp_seconds", process="beat")
        assert list(var_dir.glob("celerybeat-schedule*")), "the schedule is in the var dir"
    finally:
        stop(proc)


def test_dashboard_serves_metrics_and_health_on_its_metrics_port(pg_url: str) -> None:
    port = free_port()
    env = _env(database_url=pg_url, metrics_port=port, dashboard_secret="s" * 32)
    proc = spawn(["dashboard", "--port", str(free_port())], env, "metrics-dashboard-test.log")
    try:
        assert _healthy(port)["database"] == "ok"
        assert value(scrape(port), "mentionbot_review_queue_depth") == 0
    finally:
        stop(proc)


@pytest.mark.engine
def test_listener_and_generate_worker_count_the_whole_pipeline(
    committed_db: Any, sandbox: Any, keys: RedisKeys, pipeline_env: dict[str, str]
) -> None:
    worker_port, listener_port = free_port(), free_port()
    env = {**pipeline_env, "MENTIONBOT_BROKER_KEY_PREFIX": PREFIX}
    worker = spawn(
        ["worker", "--queues", "generate,post", "--concurrency", "4"],
        {**env, "MENTIONBOT_METRICS_PORT": str(worker_port)},
        "metrics-pipeline-worker.log",
    )
    listener: subprocess.Popen[bytes] | None = None
    try:
        _healthy(worker_port)
        numbered_mentions(sandbox.url, 3, first_author=8100, handle="metric")
        listener = spawn(
            ["listen"], {**env, "MENTIONBOT_METRICS_PORT": str(listener_port)}, "metrics-listen.log"
        )
        assert _healthy(listener_port)["listener"] == "ok"

        def posted() -> bool:
            with committed_db() as s:
                count = s.scalar(
                    select(func.count())
                    .select_from(Reply)
                    .where(Reply.status == ReplyStatus.POSTED)
                )
            return bool(count == 3)

        wait_for(posted, timeout=180, what="3 posted replies")
        heard = scrape(listener_port)
        assert value(heard, "mentionbot_mentions_ingested_total") == 3
        assert value(heard, "mentionbot_decisions_total", reason="accepted") == 3
        assert (value(heard, "mentionbot_mentions_fetched_total") or 0) >= 3
        assert (
            value(heard, "mentionbot_platform_rate_limit_remaining", endpoint="mentions") or 0
        ) > 0
        wait_for(
            lambda: metric(worker_port, "mentionbot_posts_total", outcome="posted") == 3,
            what="the worker's posts_total",
        )
        done = scrape(worker_port)
        assert value(done, "mentionbot_generations_total", outcome="ok") == 3
        assert value(done, "mentionbot_generation_seconds_count") == 3
        assert (value(done, "mentionbot_generation_seconds_sum") or 0) > 0
        assert (value(done, "mentionbot_prompt_tokens_total") or 0) > 0
        assert (value(done, "mentionbot_completion_tokens_total") or 0) >= 3
        assert value(done, "mentionbot_breaker_state", state="closed") == 1
        assert value(done, "mentionbot_breaker_state", state="open") == 0
    finally:
        if listener is not None:
            stop(listener)
        stop(worker)
