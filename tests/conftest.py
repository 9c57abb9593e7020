"""Shared fixtures: real Postgres, real Redis, the sandbox over HTTP, the real vLLM engine."""

pytest_plugins = [
    "tests.fixtures.cli",
    "tests.fixtures.db",
    "tests.fixtures.engine",
    "tests.fixtures.fake_vllm",
    "tests.fixtures.services",
]
