"""CSRF protection for every state-changing request, and the security headers of every page.

The CSRF token is a random value kept in the signed session cookie (issued to anonymous
visitors too, so the sign-in form is covered); every form carries it as `csrf_token` and
the page script sends it as `X-CSRF-Token`. A request whose token is missing or different is
refused before any view runs.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import Response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# No inline script or style anywhere (so no 'unsafe-inline'), nothing from other origins,
# never framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class CSRFRefused(Exception):
    """A state-changing request without this session's CSRF token."""


def csrf_token(request: Request) -> str:
    """This session's token (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_protect(request: Request) -> None:
    """The dependency on every router: unsafe methods must carry the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent: object = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get("csrf_token")
    if not isinstance(expected, str) or not isinstance(sent, str):
        raise CSRFRefused
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CSRFRefused


async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Add the security headers; pages that show moderation data are never cached. The
    Server-Timing header tells how long the app took (read by `mentionbot bench dashboard`)."""
    started = time.perf_counter()
    response = await call_next(request)
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
    response.headers.update(HEADERS)
    if not request.url.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response
