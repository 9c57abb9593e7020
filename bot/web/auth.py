"""Signing in and out of the dashboard: a signed session cookie names the moderator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bot.db.base import utcnow
from bot.moderation.accounts import SignInRefused, sign_in
from bot.web.deps import deps_of, page, signed_in, unit_of_work
from bot.web.security import csrf_token

router = APIRouter()


def _next(raw: str | None) -> str:
    """Only a local path is a place to go after signing in (no open redirect)."""
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/queue"


@router.get("/login")
def login_page(request: Request) -> Response:
    """The sign-in form (already signed in: straight on)."""
    if signed_in(request) is not None:
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
    csrf_token(request)
    return page(request, "login.html", next=_next(request.query_params.get("next")), error=None)


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/queue",
) -> Response:
    """Check the name and password (throttled per account and per address)."""
    deps = deps_of(request)
    address = request.client.host if request.client else "unknown"
    refused: SignInRefused | None = None
    with unit_of_work(request) as s:
        try:
            account = sign_in(s, name.strip(), password, address, deps.settings, utcnow())
        except SignInRefused as exc:
            refused = exc  # the failure counts are committed with this transaction
    if refused is not None:
        status = 429 if refused.throttled else 401
        return page(request, "login.html", status_code=status, next=_next(next), error=str(refused))
    # A fresh session on sign-in: nothing from before (a planted cookie) carries over.
    request.session.clear()
    request.session.update({"mid": account.id, "epoch": account.epoch})
    csrf_token(request)
    return RedirectResponse(_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session."""
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
