"""X's account-level refusals (credentials, pay-per-use) as the bot reads them, the gate that
stops calling an endpoint X refuses for pay-per-use, and the start-up messages."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import requests
import structlog
import tweepy
from prometheus_client import REGISTRY

from bot.logs import configure_logging
from bot.platform import refusals
from bot.platform.credentials import OAUTH1, missing, refused_message
from bot.platform.protocol import AuthFailed, CreditsExhausted
from bot.platform.refusals import CreditsGate, account_refusal
from bot.settings import Settings
from bot.vocab import Reason


def x_error(status: int, body: Any) -> tweepy.HTTPException:
    """The exception tweepy raises for X's answer."""
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if body is not None else b"<html>"
    response.reason = "whatever"
    kinds = {401: tweepy.Unauthorized, 403: tweepy.Forbidden, 429: tweepy.TooManyRequests}
    return kinds.get(status, tweepy.HTTPException)(response)


CREDITS = {
    "title": "CreditsDepleted",
    "detail": "Your enrolled account [1] does not have any credits to fulfill this request.",
    "type": "https://api.twitter.com/2/problems/credits",
}
CAPPED = {
    "title": "UsageCapExceeded",
    "period": "Monthly",
    "scope": "Product",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.x.com/2/problems/usage-capped",
}
UNSUPPORTED = {
    "title": "Unsupported Authentication",
    "type": "https://api.twitter.com/2/problems/unsupported-authentication",
    "status": 403,
}


def classify(status: int, body: Any, user_context: bool = True) -> Any:
    return account_refusal(x_error(status, body), user_context=user_context, probe_at=99.0)


def test_account_refusals_are_told_apart_from_request_errors() -> None:
    credits = classify(402, CREDITS)
    assert isinstance(credits, CreditsExhausted)
    assert (credits.kind, credits.until, str(credits)) == (
        Reason.CREDITS_DEPLETED,
        99.0,
        "402 CreditsDepleted",
    )
    capped = classify(429, CAPPED)
    assert isinstance(capped, CreditsExhausted) and capped.kind == Reason.USAGE_CAPPED
    assert "Monthly Product" in str(capped)
    refused = classify(401, {"title": "Unauthorized"}, user_context=False)
    assert isinstance(refused, AuthFailed) and (refused.status, refused.user_context) == (
        401,
        False,
    )
    app_only = classify(403, UNSUPPORTED)
    assert isinstance(app_only, AuthFailed) and app_only.status == 403
    assert isinstance(classify(402, None), CreditsExhausted)  # whatever the body
    # About the request: a rate limit, a duplicate, a 5xx.
    assert classify(429, {"title": "Too Many Requests", "type": "about:blank"}) is None
    assert classify(403, {"detail": "You are not allowed to create a Tweet with duplicate"}) is None
    assert classify(503, {"title": "Service Unavailable"}) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gauge(endpoint: str, reason: str) -> float | None:
    return REGISTRY.get_sample_value(
        "mentionbot_platform_credits_exhausted", {"endpoint": endpoint, "reason": reason}
    )


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    with structlog.testing.capture_logs() as captured:
        # A fresh logger: the module's may be bound (cached) to the processors of before.
        monkeypatch.setattr(refusals, "log", structlog.get_logger("test"))
        yield captured


def test_the_gate_stops_calls_and_probes_once_a_period(
    logged: list[MutableMapping[str, Any]],
) -> None:
    clock = Clock()
    gate = CreditsGate(probe_s=30.0, clock=clock)
    calls: list[str] = []

    def call(answer: Exception | None) -> None:
        with gate.attempt("create"):
            calls.append("x")
            if answer is not None:
                raise answer

    with pytest.raises(CreditsExhausted):
        call(CreditsExhausted(Reason.CREDITS_DEPLETED, clock.now + 30, "402"))
    assert gauge("create", "credits_depleted") == 1.0
    assert gate.refused("create") is not None and gate.refused("mentions") is None
    for _ in range(5):  # refused without a request until the probe time
        clock.now += 5
        with pytest.raises(CreditsExhausted) as waits:
            call(None)
        assert waits.value.until == 1030.0
    assert calls == ["x"]
    with gate.attempt("mentions"):  # other endpoints are not held back
        pass
    clock.now = 1031.0
    with pytest.raises(CreditsExhausted):  # the probe: still refused, said once already
        call(CreditsExhausted(Reason.CREDITS_DEPLETED, clock.now + 30, "402"))
    assert calls == ["x", "x"]
    clock.now = 1062.0
    call(None)  # the next probe goes through: X takes calls again
    assert gate.refused("create") is None
    assert gauge("create", "credits_depleted") == 0.0
    events = [e["event"] for e in logged if e["event"].startswith("x.credits")]
    assert events == ["x.credits_exhausted", "x.credits_restored"]


def test_only_one_call_probes_while_the_others_wait_a_period() -> None:
    clock = Clock()
    gate = CreditsGate(probe_s=30.0, clock=clock)
    with pytest.raises(CreditsExhausted), gate.attempt("mentions"):
        raise CreditsExhausted(Reason.USAGE_CAPPED, clock.now + 30, "429")
    clock.now = 1040.0
    probing, release = threading.Event(), threading.Event()

    def probe() -> None:
        with gate.attempt("mentions"):
            probing.set()
            release.wait(5)

    prober = threading.Thread(target=probe)
    prober.start()
    assert probing.wait(5)
    with pytest.raises(CreditsExhausted) as waiting, gate.attempt("mentions"):
        pytest.fail("a second call went out during the probe")
    assert waiting.value.until == 1070.0 and waiting.value.kind == Reason.USAGE_CAPPED
    release.set()
    prober.join(5)
    assert gate.refused("mentions") is None


def test_another_failure_during_a_probe_keeps_the_refusal() -> None:
    clock = Clock()
    gate = CreditsGate(probe_s=10.0, clock=clock)
    with pytest.raises(CreditsExhausted), gate.attempt("create"):
        raise CreditsExhausted(Reason.CREDITS_DEPLETED, clock.now + 10)
    clock.now += 11
    with pytest.raises(TimeoutError), gate.attempt("create"):
        raise TimeoutError
    assert gate.refused("create") is not None
    with gate.attempt("create"):  # the probe is over: the next call probes again
        pass
    assert gate.refused("create") is None


def _settings(**fields: Any) -> Settings:
    return Settings(_env_file=None, **fields)


def test_missing_credentials_are_named() -> None:
    every = {f: "v" for f in OAUTH1}
    assert missing(_settings(**every)) == []
    assert missing(_settings(**{**every, "x_access_token": None})) == ["x_access_token"]
    assert missing(_settings()) == list(OAUTH1)  # the real X needs them all
    # A sandbox with nothing set is signed with the keys it accepts by default ...
    assert missing(_settings(x_api_url="http://127.0.0.1:8400")) == []
    # ... but what is set must be complete.
    assert missing(_settings(x_api_url="http://sandbox", x_consumer_key="ck")) == list(OAUTH1[1:])
    assert missing(_settings(x_api_url="http://sandbox", x_bearer_token="b")) == list(OAUTH1)


def test_refused_credentials_name_the_settings_to_fix() -> None:
    def named(message: str) -> set[str]:
        return set(re.findall(r"MENTIONBOT_\w+", message))

    oauth1 = {f"MENTIONBOT_{f.upper()}" for f in OAUTH1}
    user = refused_message(AuthFailed(401, user_context=True, message="401"))
    assert named(user) == oauth1 and "401 Unauthorized" in user
    bearer = refused_message(AuthFailed(401, user_context=False, message="401"))
    assert named(bearer) == {"MENTIONBOT_X_BEARER_TOKEN"}
    app_only = refused_message(AuthFailed(403, user_context=False, message="403"))
    assert named(app_only) == oauth1 | {"MENTIONBOT_X_BEARER_TOKEN"}
    assert "unsupported-authentication" in app_only
    for message in (user, bearer, app_only):
        assert "\n" not in message


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put back the logging setup configure_logging replaces."""
    root, tweepy_log = logging.getLogger(), logging.getLogger("tweepy")
    handlers, level, tweepy_level = root.handlers[:], root.level, tweepy_log.level
    config = structlog.get_config()
    yield
    root.handlers[:], root.level = handlers, level
    tweepy_log.setLevel(tweepy_level)
    structlog.configure(**config)


def test_debug_logs_never_carry_the_bearer_token(restored_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("json", "DEBUG")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    # What tweepy.Client.request logs before every call made with the app's token.
    logging.getLogger("tweepy.client").debug("Headers: {'Authorization': 'Bearer s3cret'}")
    logging.getLogger("bot.test").debug("still logging at debug")
    assert "s3cret" not in stream.getvalue()
    assert "still logging at debug" in stream.getvalue()
