"""What every command shares: settings with logging set up, metrics, signals, JSON output."""

from __future__ import annotations

import json
import signal
import threading
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from bot.logs import configure_logging
from bot.settings import Settings, get_settings

if TYPE_CHECKING:
    from bot.cli.observe import HealthCheck, MetricsServer
    from bot.platform.protocol import Author
    from bot.platform.x import XPlatform

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def load_settings() -> Settings:
    """The process's settings, with logging configured from them."""
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings


def serve_metrics(settings: Settings, health: HealthCheck | None = None) -> MetricsServer | None:
    """Serve /metrics and /healthz on MENTIONBOT_METRICS_PORT; nothing when it is unset.

    Unset by default, so local runs and tests never fight over one port; the compose file
    gives every service its own.
    """
    if not settings.metrics_port:
        return None
    from bot.cli.observe import MetricsServer

    return MetricsServer(settings.metrics_port, health).start()


# sysexits.h EX_CONFIG: the process cannot run with its configuration.
EXIT_CONFIG = 78


def refuse(message: str) -> NoReturn:
    """End the process with one line on stderr (a setting to fix, never a secret)."""
    typer.echo(f"mentionbot: {message}", err=True)
    raise typer.Exit(EXIT_CONFIG)


def connect_x(settings: Settings) -> tuple[XPlatform, Author | None]:
    """The process's X client with its credentials checked by one call (the bot account, or
    None when X could not say); a missing or refused setting ends the process (`refuse`)."""
    from bot.platform.credentials import CredentialsError, verify
    from bot.platform.x import XPlatform

    platform = XPlatform.from_settings(settings)
    try:
        return platform, verify(platform, settings)
    except CredentialsError as exc:
        refuse(str(exc))


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM and SIGINT set (the run loops watch it)."""
    stop = threading.Event()

    def handler(_sig: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def echo_json(document: Any, *, indent: int | None = None) -> None:
    """One JSON document on stdout."""
    typer.echo(json.dumps(document, indent=indent))
