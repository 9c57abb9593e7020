"""What every dashboard view shares: its collaborators, the request's one database session,
the templates and the page frame, and the outcomes of actions.

Views are thin: parse the request, call bot.moderation's services on the request's session,
commit what must be durable before work is handed on (post or generate tasks), and answer.
One session per request: the sign-in check, the page and the frame around it (the posting
banner, the queue's size) all read through it. A second session opened while the first is
in a transaction waits on its lock on SQLite (every transaction there starts with BEGIN
IMMEDIATE), which is how the Stats page once hung the demo.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from bot.db.engine import SessionFactory, transaction
from bot.moderation import items, posting
from bot.platform.protocol import Platform
from bot.sender import TaskSender
from bot.settings import Settings
from bot.web import charts
from bot.web.security import csrf_token
from models.postprocess import ReplyPolicy
from models.xlength import MAX_WEIGHTED_LENGTH

HERE = Path(__file__).resolve().parent


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


def deps_of(request: Request) -> DashboardDeps:
    """The collaborators of the app serving this request."""
    deps: DashboardDeps = request.app.state.deps
    return deps


@contextmanager
def _request_session(request: Request) -> Iterator[Session]:
    with transaction(deps_of(request).sessions) as s:
        request.state.db = s
        try:
            yield s
        finally:
            del request.state.db


def request_session(request: Request) -> Iterator[Session]:
    """The dependency: the request's one session, committed when the view returns (rolled
    back if it raises) and closed before the response goes out."""
    with _request_session(request) as s:
        yield s


# scope="function": the session ends when the view returns, not after the response is
# sent, so a live stream (the queue's events) holds no transaction open while it runs.
Db = Annotated[Session, Depends(request_session, scope="function")]


def session_of(request: Request) -> Session:
    """The request's session, for code that only has the request (the page frame)."""
    s: Session | None = getattr(request.state, "db", None)
    if s is None:
        raise RuntimeError(f"{request.url.path}: the route does not depend on the session (Db)")
    return s


@contextmanager
def committed(s: Session) -> Iterator[Session]:
    """A step of the request that must be durable before what follows (a task handed on, an
    answer that says it is done): committed when the block ends, rolled back if it raises."""
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise


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


def _frame(request: Request) -> dict[str, Any]:
    """What every page's frame shows: the posting banner and the queue's size, read in the
    request's session (not a second one)."""
    flashes = request.session.pop("flash", [])
    if getattr(request.state, "account", None) is None:
        return {"posting": None, "waiting": 0, "flashes": flashes}
    s = session_of(request)
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
    return Jinja2Templates(env=env, context_processors=[_frame])


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A server-rendered page (autoescaped; the base template adds the nav and banners).

    The signed-in account is the one bot.web.auth found for this request.
    """
    account = getattr(request.state, "account", None)
    response: Response = request.app.state.templates.TemplateResponse(
        request, template, {"account": account, **context}, status_code=status_code
    )
    return response


def error_page(request: Request, status_code: int, message: str) -> Response:
    """An error page from an exception handler: the request's session has ended by then, so
    the frame reads through one opened for the page alone."""
    with _request_session(request):
        return page(request, "error.html", status_code=status_code, message=message)


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
