"""What every command shares: settings with logging set up, metrics, signals, JSON output."""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated, Any

import typer

from bot.logs import configure_logging
from bot.settings import Settings, get_settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def load_settings() -> Settings:
    """The process's settings, with logging configured from them."""
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings


def serve_metrics(settings: Settings) -> None:
    """Expose Prometheus metrics (decisions by reason, ...) when a port is configured."""
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port)


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
