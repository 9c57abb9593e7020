"""The sandbox checks credentials and answers pay-per-use refusals as X does, over real HTTP:
401 and 403 unsupported-authentication as application/problem+json, 402 CreditsDepleted and
429 usage-capped from a fault until it is cleared; each body checked against X's spec."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import tweepy

from bot.platform.protocol import AuthFailed
from bot.platform.x import SANDBOX_KEY, RedirectSession, XPlatform
from bot.sandbox.access import (
    APP_ONLY_DETAIL,
    DEFAULT_KEY,
    Credentials,
    oauth_params,
)
from bot.sandbox.app import create_app
from bot.sandbox.server import SandboxServer
from bot.settings import Settings
from models.serving.server import free_port
from tests.fixtures.factories.platform import SANDBOX_AUTH, SANDBOX_BEARER
from tests.fixtures.services import REPO, wait_for
from tests.fixtures.spec import document, validate_component, validate_schema

BOT_ID = "1000000000000000001"
# Every X endpoint, as (method, path, body): user-context ones first.
USER_CONTEXT = [
    ("GET", "/2/users/me", None),
    ("POST", "/2/tweets", {"text": "hello"}),
    ("DELETE", "/2/tweets/123", None),
]
READS = [
    ("GET", f"/2/users/{BOT_ID}/mentions", None),
    ("GET", f"/2/users/{BOT_ID}/tweets", None),
    ("GET", "/2/tweets/123", None),
    ("GET", "/2/tweets", {"ids": "123"}),
]
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}


def oauth(consumer_key: str = DEFAULT_KEY, token: str = DEFAULT_KEY, signature: str = "s") -> str:
    return (
        f'OAuth oauth_consumer_key="{consumer_key}", oauth_token="{token}",'
        f' oauth_signature_method="HMAC-SHA1", oauth_signature="{signature}"'
    )


def call(http: httpx.Client, method: str, path: str, body: Any, auth: str | None) -> httpx.Response:
    headers = {"Authorization": auth} if auth is not None else {}
    if method == "GET":
        return http.get(path, params=body, headers=headers)
    return http.request(method, path, json=body, headers=headers)


@pytest.fixture
def anonymous(server: SandboxServer) -> Iterator[httpx.Client]:
    """A client that sends no credentials of its own."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.post("/sandbox/reset").raise_for_status()
        yield client


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == UNAUTHORIZED
    validate_component(response.json(), "v2.159", "Problem")
    # X says nothing about its rate limits to a caller it does not know.
    assert "x-rate-limit-remaining" not in response.headers


@pytest.mark.parametrize(("method", "path", "body"), USER_CONTEXT + READS)
@pytest.mark.parametrize(
    "auth",
    [
        None,
        "",
        oauth(consumer_key="wrong"),
        oauth(token="wrong-token"),
        oauth(signature=""),
        'OAuth oauth_consumer_key="sandbox"',
        "Bearer wrong",
        "Bearer None",
        f"Basic {DEFAULT_KEY}",
    ],
    ids=[
        "none",
        "empty",
        "consumer-key",
        "access-token",
        "no-signature",
        "no-token",
        "bearer",
        "bearer-none",
        "basic",
    ],
)
def test_no_or_bad_credentials_get_xs_401(
    anonymous: httpx.Client, method: str, path: str, body: Any, auth: str | None
) -> None:
    response = call(anonymous, method, path, body, auth)
    assert_unauthorized(response)
    assert "wrong" not in response.text  # what was sent is never echoed


def test_a_refused_post_is_not_stored(anonymous: httpx.Client) -> None:
    answer = call(anonymous, "POST", "/2/tweets", {"text": "sneaky"}, oauth(token="stolen"))
    assert_unauthorized(answer)
    assert anonymous.get("/sandbox/posts").json() == []
    stats = anonymous.get("/sandbox/stats").json()
    assert stats["statuses"]["create_tweet"] == {"401": 1}


@pytest.mark.parametrize(("method", "path", "body"), USER_CONTEXT)
def test_an_app_only_token_cannot_act_as_the_user(
    anonymous: httpx.Client, method: str, path: str, body: Any
) -> None:
    response = call(anonymous, method, path, body, SANDBOX_BEARER["Authorization"])
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem == {
        "title": "Unsupported Authentication",
        "detail": APP_ONLY_DETAIL,
        "type": "https://api.twitter.com/2/problems/unsupported-authentication",
        "status": 403,
    }
    assert "Supported authentication types are [OAuth 1.0a User Context" in problem["detail"]
    validate_component(problem, "v2.159", "UnsupportedAuthenticationProblem")
    assert anonymous.get("/sandbox/posts").json() == []


@pytest.mark.parametrize(("method", "path", "body"), READS)
def test_reads_take_the_bearer_token_or_the_user_context(
    anonymous: httpx.Client, method: str, path: str, body: Any
) -> None:
    for auth in (SANDBOX_BEARER["Authorization"], SANDBOX_AUTH["Authorization"]):
        assert call(anonymous, method, path, body, auth).status_code == 200


def test_the_accepted_credentials_are_configurable() -> None:
    accepted = Credentials(consumer_key="ck", access_token="at", bearer_token="bt")
    with SandboxServer(credentials=accepted) as server, httpx.Client(base_url=server.url) as http:
        assert call(http, "GET", "/2/users/me", None, oauth("ck", "at")).status_code == 200
        assert_unauthorized(call(http, "GET", "/2/users/me", None, oauth()))
        assert call(http, "GET", "/2/tweets/1", None, "Bearer bt").status_code == 200
        assert_unauthorized(call(http, "GET", "/2/tweets/1", None, "Bearer sandbox"))
    anything = Credentials(None, None, None)
    with (
        SandboxServer(create_app(credentials=anything)) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        assert call(http, "GET", "/2/users/me", None, oauth("any", "thing")).status_code == 200
        assert call(http, "GET", "/2/tweets/1", None, "Bearer whatever").status_code == 200
        # Any value, but not none.
        assert_unauthorized(call(http, "GET", "/2/users/me", None, oauth("", "thing")))


def test_oauth_parameters_are_percent_decoded() -> None:
    params = oauth_params('oauth_consumer_key="a%2Bb", oauth_token="1-x%3D"')
    assert params == {"oauth_consumer_key": "a+b", "oauth_token": "1-x="}


def test_the_bot_signs_an_unconfigured_sandbox_with_its_defaults() -> None:
    assert SANDBOX_KEY == DEFAULT_KEY == Credentials().consumer_key == Credentials().access_token


def test_tweepy_and_the_platform_see_xs_refusals(server: SandboxServer) -> None:
    wrong = tweepy.Client(
        consumer_key=DEFAULT_KEY,
        consumer_secret="cs",
        access_token="not-the-token",
        access_token_secret="ats",
    )
    wrong.session = RedirectSession(server.url)
    with pytest.raises(tweepy.Unauthorized):
        wrong.get_me(user_auth=True)
    settings = Settings(
        _env_file=None,
        x_api_url=server.url,
        x_consumer_key=DEFAULT_KEY,
        x_consumer_secret="cs",
        x_access_token="not-the-token",
        x_access_token_secret="ats",
    )
    with pytest.raises(AuthFailed) as refused:
        XPlatform.from_settings(settings).me()
    assert (refused.value.status, refused.value.user_context) == (401, True)
    assert "not-the-token" not in str(refused.value)
    # tweepy signs for real: the sandbox takes its OAuth 1.0a header.
    right = settings.model_copy(update={"x_access_token": settings.x_consumer_key})
    assert XPlatform.from_settings(right).me().platform_id == BOT_ID


# pay-per-use


def test_credits_depleted_answers_xs_402_until_cleared(http: httpx.Client) -> None:
    fault = {"endpoint": "create_tweet", "credits_depleted": True}
    installed = http.post("/sandbox/faults", json=fault)
    assert installed.status_code == 200, installed.text
    assert installed.json()["create_tweet"]["credits_depleted"] is True
    for _ in range(2):
        refused = http.post("/2/tweets", json={"text": "pay me"})
        assert refused.status_code == 402
        assert refused.headers["content-type"].startswith("application/json")
        body = refused.json()
        assert body == {
            "title": "CreditsDepleted",
            "detail": "Your enrolled account [1000000000000000000] does not have any credits"
            " to fulfill this request.",
            "type": "https://api.twitter.com/2/problems/credits",
        }
        # X's type for it is not among the spec's problem types: the shape is checked, not
        # the discriminator (which knows only the types it lists).
        generic = document("v2.159")["components"]["schemas"]["Problem"]
        validate_schema(body, "v2.159", {k: v for k, v in generic.items() if k != "discriminator"})
    assert http.get("/sandbox/posts").json() == []
    assert http.get(f"/2/users/{BOT_ID}/mentions").status_code == 200  # only that endpoint
    http.delete("/sandbox/faults").raise_for_status()
    assert http.post("/2/tweets", json={"text": "pay me"}).status_code == 201


@pytest.mark.parametrize(("period", "scope"), [("Monthly", "Product"), ("Daily", "Account")])
def test_a_usage_cap_answers_xs_429_usage_capped(
    http: httpx.Client, period: str, scope: str
) -> None:
    fault = {"endpoint": "*", "usage_capped": {"period": period, "scope": scope}}
    installed = http.post("/sandbox/faults", json=fault).json()
    assert installed["*"]["usage_capped"] == {"period": period, "scope": scope}
    for method, path, body in USER_CONTEXT[:2] + READS:
        capped = call(http, method, path, body, SANDBOX_AUTH["Authorization"])
        assert capped.status_code == 429, (path, capped.text)
        problem = capped.json()
        assert problem["type"] == "https://api.twitter.com/2/problems/usage-capped"
        assert (problem["title"], problem["period"], problem["scope"]) == (
            "UsageCapExceeded",
            period,
            scope,
        )
        assert problem["detail"] == f"Usage cap exceeded: {period} {scope.lower()} cap"
        validate_component(problem, "v2.159", "UsageCapExceededProblem")
    http.delete("/sandbox/faults").raise_for_status()
    assert http.get(f"/2/users/{BOT_ID}/mentions").status_code == 200


def test_pay_per_use_faults_refuse_unknown_values(http: httpx.Client) -> None:
    bad = {"endpoint": "mentions", "usage_capped": {"period": "Weekly"}}
    assert http.post("/sandbox/faults", json=bad).status_code == 422
    typo = {"endpoint": "mentions", "credit_depleted": True}
    assert http.post("/sandbox/faults", json=typo).status_code == 422


def test_the_sandbox_command_takes_the_credentials_to_accept() -> None:
    port = free_port()
    args = ["sandbox", "--port", str(port), "--consumer-key", "ck-cli", "--access-token", "at-cli"]
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", *args, "--bearer-token", ""],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(url), timeout=30, what="`mentionbot sandbox` to start")
        with httpx.Client(base_url=url, timeout=10) as http:
            assert (
                call(http, "GET", "/2/users/me", None, oauth("ck-cli", "at-cli")).status_code == 200
            )
            assert_unauthorized(call(http, "GET", "/2/users/me", None, oauth()))
            # An empty --bearer-token accepts any app-only token (for reads).
            assert call(http, "GET", "/2/tweets/1", None, "Bearer anything").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/sandbox/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
