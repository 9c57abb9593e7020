"""X's refusals that are about the account, not the request, and the gate that stops calling
an endpoint while X refuses it for pay-per-use.

Credentials: 401 (none, wrong or revoked) and 403 unsupported-authentication (an app-only
bearer token where the call acts as the user). Pay-per-use: 402 CreditsDepleted (no credits
left) and 429 usage-capped (a Daily or Monthly cap of the Account or Product, told apart
from a rate limit only by the problem type). A retry fixes none of them; a paid-up account
or a new billing period does, so the gate lets one call through every `probe_s` to see.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
import tweepy

from bot import metrics
from bot.platform.protocol import AuthFailed, CreditsExhausted
from bot.vocab import Reason

log = structlog.get_logger(__name__)

# X's problem types end so (api.twitter.com or api.x.com).
UNSUPPORTED_AUTHENTICATION = "/2/problems/unsupported-authentication"
USAGE_CAPPED = "/2/problems/usage-capped"


def _problem(exc: tweepy.HTTPException) -> dict[str, Any]:
    """The problem body X sent with an error (empty when it was not a JSON object)."""
    try:
        body = exc.response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def account_refusal(
    exc: tweepy.HTTPException, *, user_context: bool, probe_at: float
) -> AuthFailed | CreditsExhausted | None:
    """The account-level refusal an X error is (the messages are X's words, never a
    credential), or None when the error is about the request."""
    status = exc.response.status_code
    body = _problem(exc)
    kind = str(body.get("type", ""))
    if status == 401:
        return AuthFailed(401, user_context=user_context, message="401 Unauthorized")
    if status == 403 and kind.endswith(UNSUPPORTED_AUTHENTICATION):
        message = "403 unsupported-authentication: an app-only token cannot make this call"
        return AuthFailed(403, user_context=user_context, message=message)
    if status == 402:
        message = f"402 {body.get('title') or 'Payment Required'}"
        return CreditsExhausted(Reason.CREDITS_DEPLETED, probe_at, message)
    if status == 429 and (kind.endswith(USAGE_CAPPED) or body.get("title") == "UsageCapExceeded"):
        message = f"429 usage capped: {body.get('period', '?')} {body.get('scope', '?')} cap"
        return CreditsExhausted(Reason.USAGE_CAPPED, probe_at, message)
    return None


@dataclass
class _Refused:
    error: CreditsExhausted
    probing: bool = False


class CreditsGate:
    """Per endpoint, whether X refuses its calls for pay-per-use; while it does, calls fail
    at once (no request), and one call every `probe_s` goes through to see whether X takes
    them again. Thread-safe; each transition is logged once and shown in
    mentionbot_platform_credits_exhausted."""

    def __init__(self, probe_s: float, clock: Callable[[], float] = time.time) -> None:
        self.probe_s = probe_s
        self.clock = clock
        self._lock = threading.Lock()
        self._refused: dict[str, _Refused] = {}

    def refused(self, endpoint: str) -> CreditsExhausted | None:
        """The refusal in force for the endpoint, if X's last answer to it was one."""
        with self._lock:
            state = self._refused.get(endpoint)
            return state.error if state else None

    @contextmanager
    def attempt(self, endpoint: str) -> Iterator[None]:
        """Around one call to `endpoint`: CreditsExhausted without calling while it is
        refused and its probe time has not come (or another call is probing)."""
        self._admit(endpoint)
        try:
            yield
        except CreditsExhausted as exc:
            self._refuse(endpoint, exc)
            raise
        except BaseException:
            self._settle(endpoint)
            raise
        else:
            self._lift(endpoint)

    def _admit(self, endpoint: str) -> None:
        now = self.clock()
        with self._lock:
            state = self._refused.get(endpoint)
            if state is None:
                return
            if state.probing or now < state.error.until:
                # Whoever waits on a probe in flight tries again a full period later.
                until = now + self.probe_s if state.probing else state.error.until
                raise CreditsExhausted(state.error.kind, until, str(state.error))
            state.probing = True

    def _refuse(self, endpoint: str, exc: CreditsExhausted) -> None:
        with self._lock:
            old = self._refused.get(endpoint)
            self._refused[endpoint] = _Refused(exc)
        if old is not None and old.error.kind == exc.kind:
            return  # a probe that found it still refused: said already
        if old is not None:
            metrics.PLATFORM_CREDITS.labels(endpoint=endpoint, reason=old.error.kind).set(0)
        metrics.PLATFORM_CREDITS.labels(endpoint=endpoint, reason=exc.kind).set(1)
        log.warning(
            "x.credits_exhausted",
            endpoint=endpoint,
            reason=exc.kind,
            detail=str(exc),
            probe_every_s=self.probe_s,
        )

    def _settle(self, endpoint: str) -> None:
        # Another failure (a 5xx, a timeout) says nothing about the account: keep the refusal.
        with self._lock:
            state = self._refused.get(endpoint)
            if state is not None:
                state.probing = False

    def _lift(self, endpoint: str) -> None:
        with self._lock:
            state = self._refused.pop(endpoint, None)
        if state is not None:
            metrics.PLATFORM_CREDITS.labels(endpoint=endpoint, reason=state.error.kind).set(0)
            log.info("x.credits_restored", endpoint=endpoint, reason=state.error.kind)
