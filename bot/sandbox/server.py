"""Run the sandbox over real HTTP: in a background thread (tests, demo) or blocking (CLI)."""

from __future__ import annotations

from collections.abc import Mapping

import uvicorn
from fastapi import FastAPI

from bot.sandbox.access import Credentials
from bot.sandbox.app import create_app
from bot.sandbox.limits import RateLimit
from bot.sandbox.store import Store
from bot.threaded_server import ThreadedServer


class SandboxServer(ThreadedServer):
    """A sandbox served by uvicorn in a daemon thread on a local port (0 picks a free one)."""

    def __init__(
        self,
        app: FastAPI | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Credentials | None = None,
    ) -> None:
        """Serve `app`, or a new sandbox accepting `credentials` (the defaults if None)."""
        app = app or create_app(credentials=credentials)
        super().__init__(app, host=host, port=port, health_path="/sandbox/health")

    @property
    def store(self) -> Store:
        """The app's in-memory store, for seeding directly."""
        store: Store = self.app.state.store
        return store

    def __enter__(self) -> SandboxServer:
        self.start()
        return self


def main(
    host: str = "127.0.0.1",
    port: int = 8400,
    *,
    bot_user_id: str = "1000000000000000001",
    bot_username: str = "mentionbot",
    bot_name: str = "Mention Bot",
    limits: Mapping[str, RateLimit] | None = None,
    spec: str = "v2.159",
    credentials: Credentials | None = None,
) -> None:
    """Serve the sandbox in the foreground until interrupted (`mentionbot sandbox`); `limits`
    are the default rate limits, restored whenever faults are cleared; `spec` the vocabulary of
    answers to requests that name neither; `credentials` what the X endpoints accept."""
    app = create_app(
        bot_user_id, bot_username, bot_name, limits=limits, spec=spec, credentials=credentials
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
