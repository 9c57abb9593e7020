"""The pool's disconnect handling on real Postgres: an idle connection the server dropped is
replaced before anyone uses it; a busy one is not pinged at all."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.db import engine as db_engine
from tests.fixtures.db import ADMIN_DSN


def _kill(pid: int) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_an_idle_connection_the_server_dropped_is_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db_engine.make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as c:
            first = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _kill(first)
        monkeypatch.setattr(db_engine, "IDLE_PING_S", 0.0)  # every checkout counts as idle
        with engine.connect() as c:
            assert c.execute(text("SELECT pg_backend_pid()")).scalar_one() != first
    finally:
        engine.dispose()


def test_a_connection_just_checked_in_is_not_pinged(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping under load: the dropped connection is only found by the statement itself (and
    the pool then replaces it)."""
    engine = db_engine.make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as c:
            first = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _kill(first)
        monkeypatch.setattr(db_engine, "IDLE_PING_S", 3600.0)
        with engine.connect() as c, pytest.raises(OperationalError):
            c.execute(text("SELECT 1"))
        with engine.connect() as c:
            assert c.execute(text("SELECT pg_backend_pid()")).scalar_one() != first
    finally:
        engine.dispose()
