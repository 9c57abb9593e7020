"""Signing in and out of the dashboard, and who is signed in, in one place.

The session cookie (signed by Starlette's SessionMiddleware, which also keeps the CSRF token
and the flash messages) carries one random session token; the server keeps its hash
(bot.moderation.accounts). Every request looks the token up, so signing out, a password
reset and a removal end a session at once, whatever copy of the cookie is kept.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from bot.db.base import utcnow
from bot.moderation import accounts
from bot.moderation.accounts import Account, SignInRefused
from bot.moderation.review import Reviewer
from bot.settings import Settings
from bot.web.deps import Db, deps_of, error_page, page
from bot.web.security import csrf_token

SESSION_COOKIE = "mentionbot_session"
SESSION_MAX_AGE_S = 12 * 3600
_SESSION_ID = "sid"  # the key of the session token in the signed cookie


class SignInRequired(Exception):
    """No signed-in moderator: pages redirect to the sign-in page, the rest get 401."""


class AdminRequired(Exception):
    """A moderator asked for an admin page (403)."""


def current_account(request: Request, s: Db) -> Account | None:
    """The dependency: the moderator whose session the cookie names, if it still stands.
    Kept on request.state for the page frame (bot.web.deps.page)."""
    token = request.session.get(_SESSION_ID)
    account = accounts.session_account(s, token, utcnow()) if isinstance(token, str) else None
    request.state.account = account
    return account


def require_account(account: Annotated[Account | None, Depends(current_account)]) -> Account:
    """The dependency on every route but sign-in, static files and /healthz."""
    if account is None:
        raise SignInRequired
    return account


def require_admin(account: Annotated[Account, Depends(require_account)]) -> Account:
    """The dependency on admin pages (tier policies, accounts, the posting switch)."""
    if not account.is_admin:
        raise AdminRequired
    return account


Me = Annotated[Account, Depends(require_account)]
Admin = Annotated[Account, Depends(require_admin)]


def reviewer(request: Request, account: Me) -> Reviewer:
    """The signed-in moderator as the review services see them, now."""
    return Reviewer(account.name, deps_of(request).settings.review_claim_s, utcnow())


Who = Annotated[Reviewer, Depends(reviewer)]
router = APIRouter()


def _next(raw: str | None) -> str:
    """Only a local path is a place to go after signing in (no open redirect)."""
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/queue"


@router.get("/login")
def login_page(
    request: Request, account: Annotated[Account | None, Depends(current_account)]
) -> Response:
    """The sign-in form (already signed in: straight on)."""
    if account is not None:
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
    csrf_token(request)
    return page(request, "login.html", next=_next(request.query_params.get("next")), error=None)


@router.post("/login")
def login(
    request: Request,
    s: Db,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/queue",
) -> Response:
    """Check the name and password (throttled per account and per address)."""
    deps = deps_of(request)
    address = request.client.host if request.client else "unknown"
    now = utcnow()
    try:
        account = accounts.sign_in(s, name.strip(), password, address, deps.settings, now)
    except SignInRefused as refused:
        # The failure counts are committed with the request's session.
        status = 429 if refused.throttled else 401
        return page(request, "login.html", status_code=status, next=_next(next), error=str(refused))
    # A fresh session on sign-in: nothing from before (a planted cookie) carries over.
    previous = request.session.get(_SESSION_ID)
    if isinstance(previous, str):
        accounts.end_session(s, previous)
    request.session.clear()
    request.session[_SESSION_ID] = accounts.open_session(s, account, now, SESSION_MAX_AGE_S)
    csrf_token(request)
    return RedirectResponse(_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, s: Db) -> Response:
    """End the session, on the server too."""
    token = request.session.get(_SESSION_ID)
    if isinstance(token, str):
        accounts.end_session(s, token)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _sign_in_required(request: Request, _exc: Exception) -> Response:
    if request.method == "GET" and "text/event-stream" not in request.headers.get("accept", ""):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return JSONResponse({"error": "sign in first"}, status_code=401)


def _admin_required(request: Request, _exc: Exception) -> Response:
    return error_page(request, 403, "This page is for admins.")


def install(app: FastAPI, settings: Settings) -> None:
    """The session cookie and the answers to a missing sign-in or a missing admin role."""
    secret = settings.dashboard_secret
    app.add_middleware(
        SessionMiddleware,
        secret_key=(secret.get_secret_value() if secret else secrets.token_urlsafe(32)),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=settings.dashboard_secure_cookies,
    )
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(AdminRequired, _admin_required)
