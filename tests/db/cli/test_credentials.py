"""The bot refuses to start without X credentials that work: `python -m bot listen` and
`worker` as their own processes, against a sandbox over HTTP that accepts only its own keys.
Each ends with one line naming the setting to fix, and never prints a secret's value."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from bot.cli.common import EXIT_CONFIG
from bot.sandbox.access import Credentials
from bot.sandbox.server import SandboxServer
from tests.fixtures.process import run_mentionbot
from tests.fixtures.services import KEY_PREFIX, REDIS_URL

BOT_ID = "1000000000000000001"
ACCEPTED = Credentials(consumer_key="ck-4cc3pt3d", access_token="at-4cc3pt3d", bearer_token="bt-ok")
# Values that must never show up in what the process prints.
SECRETS = ("cs-s3cr3t-value", "ats-s3cr3t-value", "at-wr0ng-value", "bt-wr0ng-value")
OAUTH1_NAMES = (
    "MENTIONBOT_X_CONSUMER_KEY, MENTIONBOT_X_CONSUMER_SECRET, MENTIONBOT_X_ACCESS_TOKEN"
    " and MENTIONBOT_X_ACCESS_TOKEN_SECRET"
)


@pytest.fixture(scope="module")
def strict() -> Iterator[SandboxServer]:
    with SandboxServer(credentials=ACCEPTED) as server:
        yield server


@pytest.fixture
def sandbox_url(strict: SandboxServer) -> str:
    strict.store.reset()
    return strict.url


def run_bot(args: list[str], **settings: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` with only these MENTIONBOT_* settings (this checkout's code)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTIONBOT_")}
    env.update({f"MENTIONBOT_{k.upper()}": v for k, v in settings.items()})
    env.update(MENTIONBOT_BROKER_URL=REDIS_URL, MENTIONBOT_BROKER_KEY_PREFIX=KEY_PREFIX)
    return run_mentionbot(args, env, timeout=120)


def oauth1(access_token: str) -> dict[str, str]:
    return {
        "x_consumer_key": str(ACCEPTED.consumer_key),
        "x_consumer_secret": SECRETS[0],
        "x_access_token": access_token,
        "x_access_token_secret": SECRETS[1],
    }


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    """The one line the process ended with; checks it printed no secret and no traceback."""
    assert done.returncode == EXIT_CONFIG, done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("mentionbot: ")]
    assert len(said) == 1, done.stderr
    assert said[0] == done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
    for secret in (*SECRETS, str(ACCEPTED.access_token)):
        assert secret not in done.stdout + done.stderr
    return said[0].removeprefix("mentionbot: ")


def test_the_listener_refuses_a_rejected_access_token(sandbox_url: str, strict: Any) -> None:
    done = run_bot(["listen"], x_api_url=sandbox_url, bot_user_id=BOT_ID, **oauth1(SECRETS[2]))
    assert refusal(done) == (
        f"X rejected the bot's OAuth 1.0a credentials (401 Unauthorized): check {OAUTH1_NAMES}"
    )
    # One call at start-up, and nothing after it.
    assert strict.store.stats()["statuses"] == {"me": {"401": 1}}


def test_a_worker_refuses_to_start_with_a_setting_missing() -> None:
    settings = oauth1("unused")
    del settings["x_access_token"]
    done = run_bot(["worker", "--queues", "post"], **settings)
    assert refusal(done) == (
        "MENTIONBOT_X_ACCESS_TOKEN is not set: the bot reads and posts as its account"
        " (OAuth 1.0a user context)"
    )


def test_the_listener_stops_when_x_rejects_its_bearer_token(
    sandbox_url: str, strict: Any, pg_url: str, committed_db: Any
) -> None:
    # users/me takes the OAuth 1.0a keys; the reads use the bearer token, which X refuses.
    settings = oauth1(str(ACCEPTED.access_token))
    done = run_bot(
        ["listen"],
        x_api_url=sandbox_url,
        x_bearer_token=SECRETS[3],
        bot_user_id=BOT_ID,
        database_url=pg_url,
        **settings,
    )
    assert refusal(done).startswith("X rejected MENTIONBOT_X_BEARER_TOKEN (401 Unauthorized)")
    statuses = strict.store.stats()["statuses"]
    assert statuses == {"me": {"200": 1}, "mentions": {"401": 1}}


def test_the_listener_starts_with_the_accepted_credentials(
    sandbox_url: str, strict: Any, pg_url: str, committed_db: Any
) -> None:
    settings = {**oauth1(str(ACCEPTED.access_token)), "x_bearer_token": "bt-ok"}
    done = run_bot(["listen", "--once"], x_api_url=sandbox_url, database_url=pg_url, **settings)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == '{"fetched": 0, "new": 0, "accepted": 0}'
    assert strict.store.stats()["statuses"] == {"me": {"200": 1}, "mentions": {"200": 1}}
