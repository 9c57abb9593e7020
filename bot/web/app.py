"""The dashboard app factory: sessions, CSRF, security headers, every feature's router behind
sign-in, templates and static files. The composition root (bot.cli) supplies the deps."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from starlette.middleware.sessions import SessionMiddleware

from bot.moderation import items, posting
from bot.web import auth, charts
from bot.web.deps import (
    AdminRequired,
    DashboardDeps,
    SignInRequired,
    page,
    require_account,
    signed_in,
    unit_of_work,
)
from bot.web.security import CSRFRefused, csrf_protect, csrf_token, security_headers
from bot.web.views import admin, published, review, subscribers
from models.xlength import MAX_WEIGHTED_LENGTH

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "mentionbot_session"
SESSION_MAX_AGE_S = 12 * 3600
ROUTERS = (
    review.router,
    published.router,
    subscribers.router,
    admin.router,
)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def _age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _chrome(request: Request) -> dict[str, Any]:
    """What every page's frame shows: the posting banner and the queue's size."""
    flashes = request.session.pop("flash", [])
    if signed_in(request) is None:
        return {"posting": None, "waiting": 0, "flashes": flashes}
    with unit_of_work(request) as s:
        count, _newest = items.queue_state(s)
        return {"posting": posting.state(s), "waiting": count, "flashes": flashes}


def templates() -> Jinja2Templates:
    """Jinja2 with autoescaping on everything (mention and reply text is hostile input)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(csrf_token=csrf_token, charts=charts, max_length=MAX_WEIGHTED_LENGTH)
    env.filters.update(when=_when, age=_age)
    return Jinja2Templates(env=env, context_processors=[_chrome])


def healthz(request: Request) -> Response:
    """Liveness and the database: 200 when a query answers (no sign-in needed)."""
    try:
        with unit_of_work(request) as s:
            s.execute(text("SELECT 1"))
    except Exception:  # a health check reports, it does not raise
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


def _sign_in_required(request: Request, _exc: Exception) -> Response:
    if request.method == "GET" and "text/event-stream" not in request.headers.get("accept", ""):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return JSONResponse({"error": "sign in first"}, status_code=401)


def _admin_required(request: Request, _exc: Exception) -> Response:
    return page(request, "error.html", status_code=403, message="This page is for admins.")


def _csrf_refused(request: Request, _exc: Exception) -> Response:
    message = "This form expired or came from another site. Reload the page and try again."
    return page(request, "error.html", status_code=403, message=message)


def create_app(deps: DashboardDeps) -> FastAPI:
    """The dashboard for these collaborators."""
    app = FastAPI(title="mentionbot dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.deps = deps
    app.state.templates = templates()
    secret = deps.settings.dashboard_secret
    app.add_middleware(
        SessionMiddleware,
        secret_key=(secret.get_secret_value() if secret else secrets.token_urlsafe(32)),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=deps.settings.dashboard_secure_cookies,
    )
    app.middleware("http")(security_headers)
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(AdminRequired, _admin_required)
    app.add_exception_handler(CSRFRefused, _csrf_refused)
    app.include_router(auth.router, dependencies=[Depends(csrf_protect)])
    for router in ROUTERS:
        app.include_router(router, dependencies=[Depends(require_account), Depends(csrf_protect)])
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app
