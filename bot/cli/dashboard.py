"""`mentionbot dashboard`: the moderator dashboard, wired to the database, Celery and X."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from bot.cli.common import load_settings, serve_metrics
from bot.metrics import Health
from bot.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from bot.db.engine import SessionFactory
    from bot.sender import TaskSender


def build_dashboard(
    settings: Settings, sessions: SessionFactory | None = None, sender: TaskSender | None = None
) -> FastAPI:
    """The dashboard app on the configured database, Celery broker and platform."""
    from bot.db.engine import make_engine, make_session_factory
    from bot.platform.x import XPlatform
    from bot.web.app import create_app
    from bot.web.deps import DashboardDeps
    from workers.celery_app import create_app as create_celery
    from workers.sender import CelerySender

    deps = DashboardDeps(
        sessions=sessions or make_session_factory(make_engine(settings.database_url)),
        settings=settings,
        sender=sender or CelerySender(create_celery(settings)),
        platform=XPlatform.from_settings(settings),
    )
    return create_app(deps)


def watch_queue(sessions: SessionFactory) -> None:
    """Export the review queue's depth to Prometheus, read at each scrape."""
    from prometheus_client import Gauge

    from bot.moderation.items import queue_state

    def depth() -> float:
        with sessions() as s:
            return float(queue_state(s)[0])

    Gauge("mentionbot_review_queue_depth", "Replies waiting for a moderator.").set_function(depth)


def database_health(sessions: SessionFactory) -> Health:
    """The dashboard's check on the metrics port, as its own /healthz: the database answers."""
    from sqlalchemy import text

    try:
        with sessions() as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:  # a health check reports, it does not raise
        return False, {"database": f"unavailable: {type(exc).__name__}"}
    return True, {"database": "ok"}


def dashboard(host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the moderator dashboard (sign in with an account from `mentionbot moderators`)."""
    import uvicorn

    from bot.db.engine import make_engine, make_session_factory

    settings = load_settings()
    if settings.dashboard_secret is None:
        typer.echo(
            "dashboard: MENTIONBOT_DASHBOARD_SECRET is not set; sessions end when it restarts",
            err=True,
        )
    sessions = make_session_factory(make_engine(settings.database_url))
    watch_queue(sessions)
    serve_metrics(settings, lambda: database_health(sessions))
    uvicorn.run(build_dashboard(settings, sessions), host=host, port=port, log_level="info")
