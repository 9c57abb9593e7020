"""One small HTTP server per process: `/metrics` (Prometheus text) and `/healthz`.

`/healthz` answers 200 with a small JSON document while the process's own check says it
works (the listener polled on time, a worker consumes on a live broker connection, beat
ticks, the dashboard's database answers), 503 with the same document otherwise. It runs on
a daemon thread beside the process's real work, on MENTIONBOT_METRICS_PORT.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from bot.metrics import Health

HealthCheck = Callable[[], Health]


def _always_ok() -> Health:
    return True, {}


def _handler(health: HealthCheck) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mentionbot-metrics"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scraped every few seconds: not worth a log line each

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                try:
                    ok, detail = health()
                except Exception as exc:  # a health check reports, it does not raise
                    ok, detail = False, {"error": f"{type(exc).__name__}: {exc}"[:300]}
                document = {"status": "ok" if ok else "unhealthy", **detail}
                self._send(200 if ok else 503, json.dumps(document).encode(), "application/json")
            else:
                self._send(404, b"not found: try /metrics or /healthz\n", "text/plain")

    return Handler


class MetricsServer:
    """Serve /metrics and /healthz on host:port (0 picks a free port) from a daemon thread."""

    def __init__(self, port: int, health: HealthCheck | None = None, host: str = "0.0.0.0") -> None:
        self._httpd = ThreadingHTTPServer((host, port), _handler(health or _always_ok))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._httpd.server_address[1])

    def start(self) -> MetricsServer:
        """Begin serving (returns at once)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
