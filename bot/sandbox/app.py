"""The sandbox's FastAPI app: X API v2 endpoints as tweepy 4.17 and xdk call them, plus a
control API.

The X endpoints live in bot.sandbox.x_api, the /sandbox/ control API in
bot.sandbox.control. Any other /2/ path (or a known one with another method) gets X's
404 problem, not FastAPI's {"detail": "Not Found"}.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from bot.sandbox.access import Credentials
from bot.sandbox.control import control_router
from bot.sandbox.limits import RateLimit
from bot.sandbox.params import vocabulary_of
from bot.sandbox.records import User
from bot.sandbox.render import XJSONResponse, problem
from bot.sandbox.store import Store
from bot.sandbox.text import NOT_UNICODE
from bot.sandbox.vocabulary import CLASSIC, vocabulary_named
from bot.sandbox.x_api import x_router


async def invalid_control_request(_request: Request, exc: Exception) -> Response:
    """FastAPI's 422 for the control API, without echoing the input: a value no UTF-8 can
    carry (a lone surrogate) must get a clear 422, not a 500 while rendering the error."""
    assert isinstance(exc, RequestValidationError)
    # pydantic refuses a str field with a lone surrogate before any validator runs, and its
    # message does not say why.
    errors = [
        {k: v for k, v in e.items() if k != "input"}
        | ({"msg": NOT_UNICODE} if e.get("type") == "string_unicode" else {})
        for e in exc.errors()
    ]
    return XJSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def no_such_endpoint(request: Request, exc: Exception) -> Response:
    """X's 404 problem for a /2/ path (or method) the sandbox does not answer, in the request's
    vocabulary; FastAPI's own answer elsewhere (the control API's 404s say what is unknown)."""
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith("/2/") or exc.status_code not in (404, 405):
        return await http_exception_handler(request, exc)
    # X lists no 405 among its statuses: an endpoint it does not serve is simply not found.
    detail = f"The endpoint {request.method} {request.url.path} does not exist."
    return XJSONResponse(problem(404, detail, vocabulary=vocabulary_of(request)), status_code=404)


def create_app(
    bot_user_id: str = "1000000000000000001",
    bot_username: str = "mentionbot",
    bot_name: str = "Mention Bot",
    *,
    limits: Mapping[str, int | RateLimit] | None = None,
    spec: str = CLASSIC.spec,
    credentials: Credentials | None = None,
) -> FastAPI:
    """Build a sandbox app with its own in-memory store (at app.state.store).

    `limits` replaces X's default rate limit of some endpoints (a count keeps the 15-minute
    window); the store restores these defaults whenever faults are cleared. `spec` ("v2.159" or
    "v2.167") is the vocabulary of answers to requests whose query names neither (a create or a
    delete, a lookup without fields); ValueError for another. `credentials`
    are the keys and tokens the X endpoints accept (the defaults XPlatform signs a sandbox's
    requests with when it has none).
    """
    vocabulary = vocabulary_named(spec)
    store = Store(User(bot_user_id, bot_username, bot_name), limits)
    app = FastAPI(
        title="mentionbot X API v2 sandbox",
        description="A local stand-in for the X API v2 endpoints mentionbot uses,"
        " with a control API under /sandbox/.",
    )
    app.state.store = store
    app.state.vocabulary = vocabulary
    app.state.credentials = credentials or Credentials()
    app.include_router(x_router)
    app.include_router(control_router)
    app.add_exception_handler(RequestValidationError, invalid_control_request)
    app.add_exception_handler(HTTPException, no_such_endpoint)
    return app
