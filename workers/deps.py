"""Per-process collaborators for the tasks, built lazily from the app's settings."""

from __future__ import annotations

import threading

import structlog
from celery import Celery
from celery.signals import worker_process_init

from bot.db.engine import make_engine, make_session_factory
from bot.metrics import watch_platform
from bot.platform.protocol import PlatformError
from bot.platform.x import XPlatform
from bot.replies.deps import ReplyDeps
from bot.settings import Settings
from models.breaker import CircuitBreaker
from models.llm_client import VLLMClient
from models.prompt import load_persona

log = structlog.get_logger(__name__)
_lock = threading.Lock()
_cache: dict[int, ReplyDeps] = {}


def build_deps(settings: Settings, threads: int = 0) -> ReplyDeps:
    """Connect to the database, X and the model server as the settings say.

    The pool keeps a connection for each of the worker's `threads` (tasks in flight): a
    smaller one opens and closes a connection for every task beyond it, which the profile
    showed as a tenth of the generate worker's CPU.
    """
    pool = max(threads, 8) + 2
    engine = make_engine(settings.database_url, pool_size=pool, max_overflow=pool)
    sessions = make_session_factory(engine)
    platform = XPlatform.from_settings(settings)
    watch_platform(platform)  # its rate-limit figures, read at each scrape
    if settings.bot_user_id:
        bot_id, bot_username = settings.bot_user_id, "mentionbot"
        try:
            bot_username = platform.me().username
        except PlatformError as exc:
            # The username only decorates the prompt; a worker must start without it.
            log.warning("worker.bot_username_unknown", error=str(exc))
    else:
        me = platform.me()
        bot_id, bot_username = me.platform_id, me.username
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    llm = VLLMClient(
        settings.llm_url, settings.llm_model, api_key=api_key, timeout_s=settings.llm_timeout_s
    )
    return ReplyDeps(
        sessions=sessions,
        platform=platform,
        llm=llm,
        settings=settings,
        bot_user_id=bot_id,
        bot_username=bot_username,
        persona=load_persona(settings.persona_path),
        breaker=CircuitBreaker(
            failure_threshold=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s
        ),
    )


def deps_for(app: Celery) -> ReplyDeps:
    """The collaborators for this app in this process (one set per app)."""
    with _lock:
        deps = _cache.get(id(app))
        if deps is None:
            settings: Settings = app.conf.mentionbot_settings
            threads = int(app.conf.worker_concurrency or 0)
            deps = _cache[id(app)] = build_deps(settings, threads)
        return deps


@worker_process_init.connect
def _reset_after_fork(**_: object) -> None:
    # A forked prefork child must not reuse the parent's pooled connections.
    with _lock:
        for deps in _cache.values():
            bind = deps.sessions.kw.get("bind")
            if bind is not None:
                bind.dispose(close=False)
        _cache.clear()
