"""Shared fixtures: real Postgres, real Redis, the sandbox over HTTP, the real vLLM engine,
the dashboard over HTTP and Debian's Chromium driven by Playwright."""

# Plugins that others import come first (pytest rewrites asserts only in modules it loads).
pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.services",
    "tests.fixtures.engine",
    "tests.fixtures.fake_vllm",
    "tests.fixtures.cli",
    "tests.fixtures.dashboard",
    "tests.fixtures.browser",
]
