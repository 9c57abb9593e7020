"""Who may call the sandbox's X endpoints, and what X says when the account cannot pay.

Authentication as X answers it: no credentials, an unknown scheme or a key or token the
sandbox does not accept get 401 with X's problem body; an app-only bearer token on an
endpoint that acts as a user (users/me, posting, deleting) gets 403 unsupported-authentication.
tweepy signs OAuth 1.0a with HMAC-SHA1; the sandbox does not verify the signature (it is not
what it tests), only that there is one, from the accepted consumer key and access token.

Pay-per-use as X answers it (injected with a fault, until cleared): 402 CreditsDepleted and
429 usage-capped with its `period` and `scope`.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from urllib.parse import unquote

from fastapi.responses import JSONResponse, Response

from bot.sandbox.records import Billing
from bot.sandbox.render import JSON, XJSONResponse, problem
from bot.sandbox.vocabulary import CLASSIC, Vocabulary

# What XPlatform signs with when it is pointed at a sandbox and given no credentials.
DEFAULT_KEY = "sandbox"
# The developer account that pays for the calls (X names it in a 402).
ACCOUNT_ID = "1000000000000000000"
# Endpoints that act as the authenticated user: an app-only token cannot call them.
USER_CONTEXT_ONLY = frozenset({"me", "create_tweet", "delete_tweet"})

UNSUPPORTED_AUTHENTICATION = "unsupported-authentication"  # after the vocabulary's prefix
APP_ONLY_DETAIL = (
    "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported"
    " authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."
)
CREDITS_TYPE = "https://api.twitter.com/2/problems/credits"
USAGE_CAPPED_TYPE = "https://api.twitter.com/2/problems/usage-capped"

_OAUTH_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')


@dataclass(frozen=True)
class Credentials:
    """The consumer key, access token and bearer token the sandbox accepts (None: any
    non-empty value). The defaults are what XPlatform sends a sandbox when unconfigured."""

    consumer_key: str | None = DEFAULT_KEY
    access_token: str | None = DEFAULT_KEY
    bearer_token: str | None = DEFAULT_KEY


class ProblemJSONResponse(JSONResponse):
    """X's error answers about authentication come as application/problem+json."""

    media_type = "application/problem+json"


def _matches(given: str | None, accepted: str | None) -> bool:
    if not given:
        return False
    return accepted is None or hmac.compare_digest(given.encode(), accepted.encode())


def oauth_params(header: str) -> dict[str, str]:
    """The oauth_* parameters of an `Authorization: OAuth ...` header (percent-decoded)."""
    return {k: unquote(v) for k, v in _OAUTH_PARAM.findall(header)}


def _unauthorized(vocabulary: Vocabulary) -> Response:
    # Classic: X's own body ({"title": "Unauthorized", "type": "about:blank", ...}).
    body = problem(401, "Unauthorized", vocabulary=vocabulary)
    return ProblemJSONResponse(body, status_code=401)


def refusal(
    credentials: Credentials,
    endpoint: str,
    authorization: str | None,
    vocabulary: Vocabulary = CLASSIC,
) -> Response | None:
    """X's answer to a request these credentials do not allow, or None when they do."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() == "oauth":
        params = oauth_params(value)
        signed = bool(params.get("oauth_signature"))
        if (
            signed
            and _matches(params.get("oauth_consumer_key"), credentials.consumer_key)
            and _matches(params.get("oauth_token"), credentials.access_token)
        ):
            return None
        return _unauthorized(vocabulary)
    if scheme.lower() == "bearer" and _matches(value.strip(), credentials.bearer_token):
        if endpoint not in USER_CONTEXT_ONLY:
            return None
        if vocabulary.typed_problems:
            # v2.167 lists no unsupported-authentication type: its typed 403 instead.
            return ProblemJSONResponse(problem(403, APP_ONLY_DETAIL, vocabulary=vocabulary), 403)
        body = {
            "title": "Unsupported Authentication",
            "detail": APP_ONLY_DETAIL,
            "type": CLASSIC.problem_types + UNSUPPORTED_AUTHENTICATION,
            "status": 403,
        }
        return ProblemJSONResponse(body, status_code=403)
    return _unauthorized(vocabulary)


def billing_body(billing: Billing) -> tuple[int, JSON]:
    """(status, body) of X's pay-per-use refusal, as X sends them."""
    if billing.kind == "credits_depleted":
        detail = f"Your enrolled account [{ACCOUNT_ID}] does not have any credits to fulfill"
        return 402, {
            "title": "CreditsDepleted",
            "detail": f"{detail} this request.",
            "type": CREDITS_TYPE,
        }
    return 429, {
        "account_id": int(ACCOUNT_ID),
        "title": "UsageCapExceeded",
        "period": billing.period,
        "scope": billing.scope,
        "detail": f"Usage cap exceeded: {billing.period} {billing.scope.lower()} cap",
        "type": USAGE_CAPPED_TYPE,
    }


def billing_response(billing: Billing) -> Response:
    """X's 402 or 429 usage-capped answer (application/json, as X sends it)."""
    status, body = billing_body(billing)
    return XJSONResponse(body, status_code=status)
