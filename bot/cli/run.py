"""The long-running processes: the sandbox, the listener, workers, beat, and a sweep now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import connect_x, load_settings, refuse, serve_metrics, stop_on_signals


def sandbox(
    host: str = "127.0.0.1",
    port: int = 8400,
    limit: Annotated[
        list[str] | None,
        typer.Option(
            help="An endpoint's default rate limit, ENDPOINT=LIMIT[/WINDOW_S] (repeatable), e.g."
            " create_tweet=300/900 or mentions=450/900. Endpoints: me, mentions, tweet_lookup,"
            " user_tweets, create_tweet, delete_tweet, and posting's daily windows"
            " create_tweet_user_24h and create_tweet_app_24h (24-hour window by default)."
            " Clearing faults restores these.",
        ),
    ] = None,
    spec: Annotated[
        str,
        typer.Option(
            help="The X API spec version whose names answer requests that name neither"
            " vocabulary (creates, deletes): v2.159 (tweepy's tweet.fields) or v2.167 (xdk's"
            " post.fields). A request's own names always win.",
        ),
    ] = "v2.159",
    consumer_key: Annotated[
        str | None,
        typer.Option(help="The OAuth 1.0a consumer key X's endpoints accept [sandbox; '': any]."),
    ] = None,
    access_token: Annotated[
        str | None,
        typer.Option(help="The OAuth 1.0a access token X's endpoints accept [sandbox; '': any]."),
    ] = None,
    bearer_token: Annotated[
        str | None,
        typer.Option(help="The app-only bearer token the reads accept [sandbox; '': any]."),
    ] = None,
) -> None:
    """Run the local X API v2 sandbox alone. Its default credentials are what the bot signs
    with when MENTIONBOT_X_API_URL is set and no X credentials are."""
    from bot.sandbox.access import Credentials
    from bot.sandbox.limits import parse_limits
    from bot.sandbox.server import main
    from bot.sandbox.vocabulary import vocabulary_named

    try:
        limits = parse_limits(limit or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--limit") from None
    try:
        vocabulary_named(spec)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--spec") from None
    load_settings()
    given = {
        "consumer_key": consumer_key,
        "access_token": access_token,
        "bearer_token": bearer_token,
    }
    # Unset: the default; empty: any non-empty value.
    credentials = Credentials(**{k: v or None for k, v in given.items() if v is not None})
    main(host, port, limits=limits, spec=spec, credentials=credentials)


def listen(once: Annotated[bool, typer.Option(help="Poll once and exit.")] = False) -> None:
    """Poll the bot's mentions and queue the accepted ones (one process per bot account)."""
    from bot.db.engine import make_engine, make_session_factory
    from bot.mentions.gating import GatingRules
    from bot.mentions.listener import Listener
    from bot.metrics import LISTENER, watch_platform
    from bot.platform.credentials import refused_message
    from bot.platform.protocol import AuthFailed
    from workers.celery_app import create_app
    from workers.sender import CelerySender

    settings = load_settings()
    # Before anything slow: a SIGTERM while the listener starts up still ends it cleanly.
    stop = stop_on_signals()
    platform, me = connect_x(settings)
    watch_platform(platform)
    bot_id = settings.bot_user_id or (me or platform.me()).platform_id
    listener = Listener(
        platform,
        make_session_factory(make_engine(settings.database_url)),
        CelerySender(create_app(settings)),
        bot_id,
        page_size=settings.mentions_page_size,
        max_pages=settings.max_pages_per_poll,
        overlap_s=settings.since_overlap_s,
        overlap_every_s=settings.since_overlap_every_s,
        poll_interval_s=settings.poll_interval_s,
        rules=GatingRules.from_settings(settings),
        read_budget_15m=settings.read_budget_15m,
    )
    try:
        if once:
            result = listener.poll_once()
            counts = {"fetched": result.fetched, "new": result.new}
            typer.echo(json.dumps({**counts, "accepted": len(result.accepted)}))
            return
        # /healthz: 503 until the first poll, then 200 while the polls keep their schedule.
        serve_metrics(settings, LISTENER.check)
        listener.run(stop)
    except AuthFailed as exc:
        # The reads' credentials (a bearer token users/me does not use) or a revoked token.
        refuse(refused_message(exc))


def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated: generate, post.")] = "generate,post",
    pool: Annotated[str, typer.Option(help="threads, prefork, gevent or solo.")] = "threads",
    concurrency: Annotated[int, typer.Option(help="Tasks in flight per worker.")] = 16,
    hostname: Annotated[
        str | None,
        typer.Option(help="Celery node name (celery -n), e.g. generate-1@%h; celery@HOST if unset"),
    ] = None,
    loglevel: str = "INFO",
) -> None:
    """Run a Celery worker (use a thread pool for `generate`: it waits on vLLM, not the CPU)."""
    from workers.celery_app import create_app
    from workers.health import ConsumerHealth, worker_health
    from workers.metrics import watch_queues

    settings = load_settings()
    connect_x(settings)  # the tasks read and post as the bot: refuse to start without it
    celery = create_app(settings)
    celery.conf.worker_concurrency = concurrency  # the tasks' database pool holds as many
    celery.steps["consumer"].add(ConsumerHealth)
    watch_queues(settings)
    serve_metrics(settings, lambda: worker_health(settings.broker_url))
    node = ["-n", hostname] if hostname else []
    celery.worker_main(
        [
            "worker",
            "-Q",
            queues,
            "-P",
            pool,
            "-c",
            str(concurrency),
            *node,
            "--loglevel",
            loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    )


def beat(
    schedule: Annotated[
        Path | None,
        typer.Option(help="Beat's schedule file; MENTIONBOT_VAR_DIR/celerybeat-schedule if unset."),
    ] = None,
) -> None:
    """Run Celery beat, which schedules the sweeper."""
    from workers.beat import BEAT, SCHEDULER
    from workers.celery_app import create_app
    from workers.health import beat_health
    from workers.metrics import watch_queues

    settings = load_settings()
    schedule = schedule or settings.var_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    watch_queues(settings)
    serve_metrics(settings, lambda: beat_health(BEAT, settings.broker_url))
    app.start(["beat", "--schedule", str(schedule), "--scheduler", SCHEDULER, "--loglevel", "INFO"])


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
