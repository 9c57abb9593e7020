"""The sandbox's FastAPI app: X API v2 endpoints as tweepy 4.17 calls them, plus a control API.

The X endpoints live in bot.platform.sandbox.x_api, the /sandbox/ control API in
bot.platform.sandbox.control.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from bot.platform.sandbox.control import control_router
from bot.platform.sandbox.store import ENDPOINTS, Store, User
from bot.platform.sandbox.x_api import x_router


def create_app(
    bot_user_id: str = "1000000000000000001",
    bot_username: str = "mentionbot",
    bot_name: str = "Mention Bot",
    *,
    limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """Build a sandbox app with its own in-memory store (at app.state.store)."""
    unknown = set(limits or {}) - set(ENDPOINTS)
    if unknown:
        raise ValueError(f"unknown endpoints in limits: {sorted(unknown)}")
    app = FastAPI(
        title="mentionbot X API v2 sandbox",
        description="A local stand-in for the X API v2 endpoints mentionbot uses,"
        " with a control API under /sandbox/.",
    )
    app.state.store = Store(User(bot_user_id, bot_username, bot_name), limits)
    app.include_router(x_router)
    app.include_router(control_router)
    return app
