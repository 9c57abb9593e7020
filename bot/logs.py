"""structlog configuration: console for people, JSON for machines."""

from __future__ import annotations

import logging
import sys

import structlog

# Exact names and suffixes, not substrings: "completion_tokens" is a count, not a secret.
_SECRET_NAMES = {"token", "secret", "password", "api_key", "authorization", "key", "auth"}
_SECRET_SUFFIXES = ("_token", "_secret", "_password", "_api_key", "_key")


def _drop_secrets(
    _logger: object, _name: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """Blank any field whose name looks like a credential, whatever the caller passed."""
    for k in list(event):
        name = k.lower()
        if name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES):
            event[k] = "***"
    return event


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    """Route structlog and stdlib logging through one renderer."""
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    structlog.configure(
        # A call below the level stops at the first processor (a debug line per mention costs
        # nothing at INFO).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; keep it quiet and never log headers (tweepy's
    # DEBUG lines carry the Authorization header: the app's bearer token).
    for noisy in ("httpx", "httpcore", "urllib3", "requests_oauthlib", "oauthlib", "tweepy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
