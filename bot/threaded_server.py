"""An ASGI app served by uvicorn in a daemon thread on a local port, over real HTTP.

For the processes that run a web app beside their own work (the demo's sandbox and
dashboard) and for tests; `mentionbot sandbox|dashboard` run uvicorn in the foreground.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn


class ThreadedServer:
    """Serve `app` on host:port (0 picks a free port) until stop()."""

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, health_path: str = "/"
    ) -> None:
        self.app = app
        self._host = host
        self._port = port
        self._health_path = health_path
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (known once started)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return f"http://{self._host}:{self._port}"

    def start(self, timeout_s: float = 10.0) -> ThreadedServer:
        """Serve in a daemon thread and return once the health path answers 200."""
        if self._server is not None:
            return self
        # Binding here (not in uvicorn) tells us the port before the thread starts.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            # Open event streams must not hold a shutdown up for long.
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="http-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError("the server thread exited during start-up")
            try:
                if httpx.get(self.url + self._health_path, timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"the server did not answer within {timeout_s} s")

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
