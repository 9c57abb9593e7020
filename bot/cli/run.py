"""The long-running processes: the sandbox, the listener, workers, beat, and a sweep now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import load_settings, serve_metrics, stop_on_signals


def sandbox(host: str = "127.0.0.1", port: int = 8400) -> None:
    """Run the local X API v2 sandbox alone."""
    from bot.platform.sandbox.server import main

    load_settings()
    main(host, port)


def listen(once: Annotated[bool, typer.Option(help="Poll once and exit.")] = False) -> None:
    """Poll the bot's mentions and queue the accepted ones (one process per bot account)."""
    from bot.db.engine import make_engine, make_session_factory
    from bot.mentions.gating import GatingRules
    from bot.mentions.listener import Listener
    from bot.platform.x import XPlatform
    from workers.celery_app import create_app
    from workers.sender import CelerySender

    settings = load_settings()
    # Before anything slow: a SIGTERM while the listener starts up still ends it cleanly.
    stop = stop_on_signals()
    platform = XPlatform.from_settings(settings)
    bot_id = settings.bot_user_id or platform.me().platform_id
    listener = Listener(
        platform,
        make_session_factory(make_engine(settings.database_url)),
        CelerySender(create_app(settings)),
        bot_id,
        page_size=settings.mentions_page_size,
        max_pages=settings.max_pages_per_poll,
        overlap_s=settings.since_overlap_s,
        poll_interval_s=settings.poll_interval_s,
        rules=GatingRules.from_settings(settings),
        read_budget_15m=settings.read_budget_15m,
    )
    if once:
        result = listener.poll_once()
        typer.echo(
            json.dumps(
                {"fetched": result.fetched, "new": result.new, "accepted": len(result.accepted)}
            )
        )
        return
    serve_metrics(settings)
    listener.run(stop)


def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated: generate, post.")] = "generate,post",
    pool: Annotated[str, typer.Option(help="threads, prefork, gevent or solo.")] = "threads",
    concurrency: Annotated[int, typer.Option(help="Tasks in flight per worker.")] = 16,
    loglevel: str = "INFO",
) -> None:
    """Run a Celery worker (use a thread pool for `generate`: it waits on vLLM, not the CPU)."""
    from workers.celery_app import create_app

    settings = load_settings()
    serve_metrics(settings)
    celery = create_app(settings)
    celery.worker_main(
        [
            "worker",
            "-Q",
            queues,
            "-P",
            pool,
            "-c",
            str(concurrency),
            "--loglevel",
            loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    )


def beat(schedule: Path = Path("var/celerybeat-schedule")) -> None:
    """Run Celery beat, which schedules the sweeper."""
    from workers.celery_app import create_app

    schedule.parent.mkdir(parents=True, exist_ok=True)
    create_app(load_settings()).start(["beat", "--schedule", str(schedule), "--loglevel", "INFO"])


def sweep() -> None:
    """Run the sweeper once, now, and print what it re-sent."""
    from bot.db.engine import make_engine, make_session_factory
    from bot.replies.sweep import sweep as run_sweep
    from workers.celery_app import create_app
    from workers.sender import CelerySender

    settings = load_settings()
    swept = run_sweep(
        make_session_factory(make_engine(settings.database_url)), settings, settings.bot_user_id
    )
    CelerySender(create_app(settings)).resend(swept)
    typer.echo(json.dumps(swept.__dict__))
