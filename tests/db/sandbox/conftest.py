"""A sandbox of its own for the sandbox's tests (their faults and resets stay here), and a
client for it (signed with the sandbox's default credentials) that starts every test from an
empty store."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.sandbox.app import create_app
from bot.sandbox.server import SandboxServer
from bot.sandbox.store import Store
from tests.fixtures.factories.platform import SANDBOX_AUTH


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(create_app()) as running:
        yield running


@pytest.fixture
def http(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10, headers=SANDBOX_AUTH) as client:
        client.post("/sandbox/reset").raise_for_status()
        yield client


@pytest.fixture
def store(server: SandboxServer) -> Store:
    return server.store
