"""The dashboard app factory: sessions, CSRF, security headers, every feature's router behind
sign-in, templates and static files. The composition root (bot.cli) supplies the deps."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from bot.web import auth
from bot.web.deps import HERE, DashboardDeps, Db, error_page, templates
from bot.web.security import CSRFRefused, csrf_protect, security_headers
from bot.web.views import admin, published, review, subscribers

ROUTERS = (
    review.router,
    published.router,
    subscribers.router,
    admin.router,
)


def healthz(s: Db) -> Response:
    """Liveness and the database: 200 when a query answers (no sign-in needed)."""
    try:
        s.execute(text("SELECT 1"))
    except Exception:  # a health check reports, it does not raise
        s.rollback()
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


def _csrf_refused(request: Request, _exc: Exception) -> Response:
    message = "This form expired or came from another site. Reload the page and try again."
    return error_page(request, 403, message)


def create_app(deps: DashboardDeps) -> FastAPI:
    """The dashboard for these collaborators."""
    app = FastAPI(title="mentionbot dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.deps = deps
    app.state.templates = templates()
    auth.install(app, deps.settings)
    app.middleware("http")(security_headers)
    app.add_exception_handler(CSRFRefused, _csrf_refused)
    app.include_router(
        auth.router, dependencies=[Depends(auth.current_account), Depends(csrf_protect)]
    )
    for router in ROUTERS:
        app.include_router(
            router, dependencies=[Depends(auth.require_account), Depends(csrf_protect)]
        )
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app
