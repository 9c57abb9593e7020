"""A sandbox of its own for the sandbox's tests (their faults and resets stay here), one that
speaks v2.167's names by default, and a client for each (signed with the sandbox's default
credentials) that starts every test from an empty store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from bot.sandbox.app import create_app
from bot.sandbox.server import SandboxServer
from bot.sandbox.store import Store
from tests.fixtures.factories.platform import SANDBOX_AUTH


@contextmanager
def _client(server: SandboxServer) -> Iterator[httpx.Client]:
    """A signed client of `server`, whose store it empties first."""
    with httpx.Client(base_url=server.url, timeout=10, headers=SANDBOX_AUTH) as client:
        client.post("/sandbox/reset").raise_for_status()
        yield client


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(create_app()) as running:
        yield running


@pytest.fixture
def http(server: SandboxServer) -> Iterator[httpx.Client]:
    with _client(server) as client:
        yield client


@pytest.fixture(scope="module")
def posts_server() -> Iterator[SandboxServer]:
    """A sandbox whose default is v2.167's names."""
    with SandboxServer(create_app(spec="v2.167")) as running:
        yield running


@pytest.fixture
def posts_http(posts_server: SandboxServer) -> Iterator[httpx.Client]:
    with _client(posts_server) as client:
        yield client


@pytest.fixture
def store(server: SandboxServer) -> Store:
    return server.store
