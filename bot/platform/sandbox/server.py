"""Run the sandbox over real HTTP: in a background thread (tests, demo) or blocking (CLI)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import httpx
import uvicorn
from fastapi import FastAPI

from bot.platform.sandbox.app import create_app
from bot.platform.sandbox.store import Store


class SandboxServer:
    """A sandbox served by uvicorn in a daemon thread on a local port (0 picks a free one)."""

    def __init__(
        self, app: FastAPI | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = app or create_app()
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (known once started)."""
        if self._server is None:
            raise RuntimeError("the sandbox server is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def store(self) -> Store:
        """The app's in-memory store, for seeding directly."""
        store: Store = self.app.state.store
        return store

    def start(self, timeout_s: float = 10.0) -> SandboxServer:
        """Serve in a daemon thread and return once the server answers HTTP."""
        if self._server is not None:
            return self
        # Binding here (not in uvicorn) tells us the port before the thread starts.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="x-sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError("the sandbox server thread exited during start-up")
            try:
                if httpx.get(f"{self.url}/sandbox/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"the sandbox did not answer within {timeout_s} s")

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(
    host: str = "127.0.0.1",
    port: int = 8400,
    *,
    bot_user_id: str = "1000000000000000001",
    bot_username: str = "mentionbot",
    bot_name: str = "Mention Bot",
) -> None:
    """Serve the sandbox in the foreground until interrupted (`mentionbot sandbox`)."""
    app = create_app(bot_user_id, bot_username, bot_name)
    uvicorn.run(app, host=host, port=port, log_level="info")
