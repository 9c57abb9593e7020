"""A local X API v2 sandbox speaking the shapes tweepy 4.17 uses, with a control API."""

from bot.sandbox.app import create_app
from bot.sandbox.server import SandboxServer, main
from bot.sandbox.store import Fault, Post, RateLimit, Store, User, snowflake, snowflake_ms

__all__ = [
    "Fault",
    "Post",
    "RateLimit",
    "SandboxServer",
    "Store",
    "User",
    "create_app",
    "main",
    "snowflake",
    "snowflake_ms",
]
