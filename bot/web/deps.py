"""What every dashboard view shares: its collaborators, who is signed in, pages and outcomes.

Views are thin: parse the request, open one transaction, call a service, commit, then hand
work on (post or generate tasks) and answer. They find the templates and the collaborators
on `request.app.state` (set by bot.web.app).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.engine import SessionFactory, transaction
from bot.moderation.accounts import Account, session_account
from bot.moderation.review import Reviewer
from bot.platform.protocol import Platform
from bot.sender import TaskSender
from bot.settings import Settings
from models.postprocess import ReplyPolicy


@dataclass
class DashboardDeps:
    """The dashboard's collaborators, built once by the composition root."""

    sessions: SessionFactory
    settings: Settings
    sender: TaskSender
    platform: Platform

    @property
    def reply_rules(self) -> ReplyPolicy:
        """The output rules a moderator's edit goes through (the generate worker's)."""
        return ReplyPolicy(
            max_mentions=self.settings.reply_max_mentions,
            url_allowlist=tuple(self.settings.reply_url_allowlist),
            max_posts=self.settings.thread_max_posts,
        )


class SignInRequired(Exception):
    """No signed-in moderator: pages redirect to the sign-in page, the rest get 401."""


class AdminRequired(Exception):
    """A moderator asked for an admin page (403)."""


def deps_of(request: Request) -> DashboardDeps:
    """The collaborators of the app serving this request."""
    deps: DashboardDeps = request.app.state.deps
    return deps


@contextmanager
def unit_of_work(request: Request) -> Iterator[Session]:
    """One transaction for the request: committed when the block ends, rolled back on error."""
    with transaction(deps_of(request).sessions) as s:
        yield s


def signed_in(request: Request) -> Account | None:
    """The moderator this request's session names, if the session still stands."""
    cached: Account | None = getattr(request.state, "account", None)
    if cached is not None:
        return cached
    mid, epoch = request.session.get("mid"), request.session.get("epoch")
    if not isinstance(mid, int) or not isinstance(epoch, int):
        return None
    with unit_of_work(request) as s:
        account = session_account(s, mid, epoch)
    request.state.account = account
    return account


def require_account(request: Request) -> Account:
    """The dependency on every route but sign-in, static files and /healthz."""
    account = signed_in(request)
    if account is None:
        raise SignInRequired
    return account


def require_admin(request: Request) -> Account:
    """The dependency on admin pages (tier policies, accounts, the posting switch)."""
    account = require_account(request)
    if not account.is_admin:
        raise AdminRequired
    return account


def reviewer(request: Request) -> Reviewer:
    """The signed-in moderator as the review services see them, now."""
    account = require_account(request)
    return Reviewer(account.name, deps_of(request).settings.review_claim_s, utcnow())


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A server-rendered page (autoescaped; the base template adds the nav and banners)."""
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(
        request, template, {"account": signed_in(request), **context}, status_code=status_code
    )
    return response


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message shown once on the next page."""
    request.session.setdefault("flash", []).append([kind, message])


def outcome(request: Request, message: str, *, to: str, ok: bool = True) -> Response:
    """After an action: JSON for the page's script, else a flash and a redirect (PRG)."""
    if request.headers.get("x-requested-with") == "fetch":
        return JSONResponse({"ok": ok, "message": message}, status_code=200 if ok else 409)
    flash(request, message, "ok" if ok else "error")
    return RedirectResponse(to, status_code=303)


def back(request: Request, default: str) -> str:
    """Where to return after an action: the form's `back` field if it is a local path."""
    target = request.query_params.get("back") or default
    return target if target.startswith("/") and not target.startswith("//") else default
