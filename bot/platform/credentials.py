"""The bot's X credentials at start-up: which settings are missing, and what X says of the
rest (one GET /2/users/me), as one line naming the setting to fix, never its value."""

from __future__ import annotations

import structlog

from bot.platform.protocol import (
    AuthFailed,
    Author,
    CreditsExhausted,
    PermanentPlatformError,
    Platform,
    TransientPlatformError,
)
from bot.settings import Settings

log = structlog.get_logger(__name__)

# The bot reads and posts as its account: OAuth 1.0a user context needs all four.
OAUTH1 = ("x_consumer_key", "x_consumer_secret", "x_access_token", "x_access_token_secret")
BEARER = "x_bearer_token"


class CredentialsError(Exception):
    """The bot cannot work with its X settings; the message names them (never a value)."""


def env_name(field: str) -> str:
    """The environment variable of a setting."""
    return f"MENTIONBOT_{field.upper()}"


def _listed(fields: tuple[str, ...] | list[str]) -> str:
    names = [env_name(f) for f in fields]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def missing(settings: Settings) -> list[str]:
    """The OAuth 1.0a settings that are not set; none for a sandbox given no credentials at
    all (the bot signs with the keys the sandbox accepts by default)."""
    unset = [f for f in OAUTH1 if getattr(settings, f) is None]
    if settings.x_api_url and len(unset) == len(OAUTH1) and getattr(settings, BEARER) is None:
        return []
    return unset


def refused_message(exc: AuthFailed) -> str:
    """What to fix when X refused the credentials of a call."""
    if exc.status == 403:
        return (
            f"X does not take the app-only bearer token ({env_name(BEARER)}) for a call that"
            f" acts as the bot (403 unsupported-authentication): set {_listed(OAUTH1)}"
        )
    if exc.user_context:
        return (
            "X rejected the bot's OAuth 1.0a credentials (401 Unauthorized):"
            f" check {_listed(OAUTH1)}"
        )
    return (
        f"X rejected {env_name(BEARER)} (401 Unauthorized): set the app's bearer token, or"
        " unset it to read with the OAuth 1.0a credentials"
    )


def verify(platform: Platform, settings: Settings) -> Author | None:
    """Check the X settings with one call: the bot account, or None when X could not say
    (unreachable, a 5xx, pay-per-use: the credentials are not the problem, and the process
    starts). CredentialsError when a setting is missing or X refuses them."""
    unset = missing(settings)
    if unset:
        verb = "is" if len(unset) == 1 else "are"
        raise CredentialsError(
            f"{_listed(unset)} {verb} not set: the bot reads and posts as its account"
            " (OAuth 1.0a user context)"
        )
    try:
        return platform.me()
    except AuthFailed as exc:
        raise CredentialsError(refused_message(exc)) from None
    except PermanentPlatformError as exc:
        raise CredentialsError(f"X refused GET /2/users/me: {exc}") from None
    except (TransientPlatformError, CreditsExhausted) as exc:
        log.warning("x.credentials_unchecked", error=str(exc))
        return None
