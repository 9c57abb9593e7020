"""The sandbox's default rate limits: set when it starts (`create_app(limits=...)`, `mentionbot
sandbox --limit`), listed at GET /sandbox/limits, and what clearing faults restores."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.sandbox.app import create_app
from bot.sandbox.limits import RateLimit
from bot.sandbox.server import SandboxServer
from tests.fixtures.factories.platform import SANDBOX_AUTH

BOT_ID = "1000000000000000001"
MENTIONS = f"/2/users/{BOT_ID}/mentions"
MENTIONBOT = Path(sys.executable).with_name("mentionbot")


def limit_and_window(response: httpx.Response) -> tuple[int, float]:
    """The x-rate-limit-limit X sent, and how far off its reset is."""
    assert response.status_code in (200, 201), response.text
    headers = response.headers
    return int(headers["x-rate-limit-limit"]), int(headers["x-rate-limit-reset"]) - time.time()


def test_clearing_faults_restores_the_limits_the_sandbox_was_started_with() -> None:
    limits: dict[str, int | RateLimit] = {"create_tweet": RateLimit(300, 60), "mentions": 1000}
    with (
        SandboxServer(create_app(limits=limits)) as server,
        httpx.Client(base_url=server.url, timeout=10, headers=SANDBOX_AUTH) as http,
    ):
        listed = http.get("/sandbox/limits").json()
        assert listed["create_tweet"] == {"limit": 300, "window_s": 60}
        assert listed["mentions"] == {"limit": 1000, "window_s": 900}
        assert listed["me"] == {"limit": 75, "window_s": 900}
        limit, reset_in = limit_and_window(http.post("/2/tweets", json={"text": "one"}))
        assert limit == 300 and 55 <= reset_in <= 61
        small = {"endpoint": "*", "rate_limit": {"limit": 2, "window_s": 5}}
        assert http.post("/sandbox/faults", json=small).status_code == 200
        assert limit_and_window(http.post("/2/tweets", json={"text": "two"}))[0] == 2
        assert limit_and_window(http.get(MENTIONS))[0] == 2
        assert http.delete("/sandbox/faults").json() == {}
        limit, reset_in = limit_and_window(http.post("/2/tweets", json={"text": "three"}))
        assert limit == 300 and 55 <= reset_in <= 61
        assert limit_and_window(http.get(MENTIONS))[0] == 1000
        assert limit_and_window(http.get("/2/users/me"))[0] == 75
        http.post("/sandbox/reset").raise_for_status()
        assert http.get("/sandbox/limits").json() == listed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def sandbox_process() -> Iterator[str]:
    """`mentionbot sandbox --limit ...` as its own process; its base URL."""
    port = _free_port()
    args = [str(MENTIONBOT), "sandbox", "--port", str(port)]
    args += ["--limit", "create_tweet=300/900", "--limit", "mentions=450/60"]
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"{url}/sandbox/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_command_takes_the_limits_and_restores_them(sandbox_process: str) -> None:
    with httpx.Client(base_url=sandbox_process, timeout=10, headers=SANDBOX_AUTH) as http:
        assert http.get("/sandbox/limits").json()["mentions"] == {"limit": 450, "window_s": 60}
        limit, reset_in = limit_and_window(http.get(MENTIONS))
        assert limit == 450 and 55 <= reset_in <= 61
        fault = {"endpoint": "create_tweet", "rate_limit": {"limit": 1, "window_s": 2}}
        http.post("/sandbox/faults", json=fault).raise_for_status()
        assert limit_and_window(http.post("/2/tweets", json={"text": "a"}))[0] == 1
        assert http.post("/2/tweets", json={"text": "b"}).status_code == 429
        http.delete("/sandbox/faults").raise_for_status()
        limit, reset_in = limit_and_window(http.post("/2/tweets", json={"text": "c"}))
        assert limit == 300 and 895 <= reset_in <= 901


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("create_tweet=lots", "is not ENDPOINT=LIMIT[/WINDOW_S]"),
        ("tweets=300/900", "unknown endpoint 'tweets'"),
        ("mentions=450/0", "the window must be at least 1 second"),
    ],
)
def test_the_command_refuses_a_bad_limit_clearly(spec: str, says: str) -> None:
    args = ["sandbox", "--port", "1", "--limit", "me=5", "--limit", spec]
    result = CliRunner().invoke(cli_app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "Invalid value for --limit" in result.output
    assert says in result.output
